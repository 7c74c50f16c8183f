#!/bin/sh
# tools/gpu-check.sh: build the engine, CLI, engine tests and benchmark on a
# machine that has only a pip-installed PyTorch (the GPU test machine, see
# ../shared/GPU.md), run the engine tests on CUDA, then measure the engine and
# the same models in Python PyTorch in the same run and print a table.
#
# Usage: tools/gpu-check.sh [--device cuda|cpu] [--quick] [--no-bench] [--no-tests]
#   DEBS=DIR       the Debian packages (default .gpu/debs; fetched on the
#                  Debian machine with the apt-get download line in GPU.md)
#   PYTHON=python3 the Python whose torch provides libtorch and is the peer
#   BUILD=DIR      build folder (default _build-gpu)
#   JOBS=N         parallel compile jobs (default: the cores present)
#   CUDA_GRAPHS=1  build with DERM_CUDA_GRAPHS: batch-1 inference replayed from
#                  a captured CUDA graph (experimental; eager on any error); the
#                  benchmark then also prints the eager figures
#                  (DERM_NO_CUDA_GRAPHS=1) as *_eager
#   JPEG=FILE      the JPEG both benchmarks decode end to end (default: the
#                  first image of $DATA or /tmp/ham10000, else each generates one)
# --device cpu --quick runs the whole script on a CPU-only machine (tiny
# benchmark sizes) to check the script itself.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
DEVICE=cuda
QUICK=0
BENCH=1
TESTS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --no-bench) BENCH=0; shift ;;
    --no-tests) TESTS=0; shift ;;
    *) echo "usage: $0 [--device cuda|cpu] [--quick] [--no-bench] [--no-tests]" >&2; exit 2 ;;
  esac
done
PYTHON=${PYTHON:-python3}
DEBS=${DEBS:-$here/.gpu/debs}
BUILD=${BUILD:-_build-gpu}
JOBS=${JOBS:-$(nproc)}
say() { printf '\n== %s\n' "$*"; }

say "machine"
uname -srm
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$PYTHON" -c 'import torch; print("python torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
TORCH_DIR=$("$PYTHON" -c 'import os, torch; print(os.path.dirname(torch.__file__))')

# ---- A private root with the Debian headers and libraries ------------------
if ! pkg-config --exists glib-2.0 json-glib-1.0 sqlite3 libturbojpeg libpng 2>/dev/null; then
  say "unpacking Debian packages from $DEBS"
  ls "$DEBS"/*.deb >/dev/null 2>&1 || { echo "no .deb files in $DEBS (see ../shared/GPU.md)" >&2; exit 1; }
  R=${ROOT:-/tmp/dermalens-root}
  rm -rf "$R"; mkdir -p "$R"
  for f in "$DEBS"/*.deb; do
    if command -v dpkg >/dev/null; then dpkg -x "$f" "$R"
    else (t=$(mktemp -d); cd "$t" && ar x "$f" && tar xf data.tar.* -C "$R"; rm -rf "$t"); fi
  done
  export PKG_CONFIG_SYSROOT_DIR="$R"
  export PKG_CONFIG_LIBDIR="$R/usr/lib/x86_64-linux-gnu/pkgconfig:$R/usr/share/pkgconfig"
  export LD_LIBRARY_PATH="$R/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # The linker looks for libraries the unpacked ones need (libpcre2, libffi ...) there too.
  export LIBRARY_PATH="$R/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}"
fi

# ---- CUDA runtime headers for derm-engine-cuda.cpp -------------------------
cpp_args=""
link_args=""
if [ "$DEVICE" != cpu ]; then
  for d in "${CUDA_HOME:-/nonexistent}" /usr/local/cuda /usr/local/cuda-13.0 /usr/lib/cuda; do
    if [ -f "$d/include/cuda_runtime_api.h" ]; then export CUDA_PATH="$d"; break; fi
  done
  if [ -z "${CUDA_PATH:-}" ]; then
    # pip's nvidia-cuda-runtime package ships the headers and libcudart.
    inc=$("$PYTHON" - <<'PY' 2>/dev/null || true
import glob, os, site
for s in site.getsitepackages():
    for h in glob.glob(os.path.join(s, "nvidia", "**", "cuda_runtime_api.h"), recursive=True):
        print(os.path.dirname(h)); raise SystemExit
PY
)
    if [ -n "$inc" ]; then
      cpp_args="-I$inc"
      lib=$(ls -d "$inc/../lib" 2>/dev/null || true)
      cudart=$(ls "$lib"/libcudart.so* 2>/dev/null | head -1 || true)
      [ -n "$cudart" ] && link_args="$cudart -Wl,-rpath,$lib"
    fi
  fi
  echo "CUDA headers: ${CUDA_PATH:-${cpp_args:-not found}}"
fi

[ "${CUDA_GRAPHS:-0}" = 1 ] && cpp_args="${cpp_args:+$cpp_args }-DDERM_CUDA_GRAPHS=1"
say "configure ($BUILD, libtorch from $TORCH_DIR)"
set -- -Dgui=disabled -Dtests=true -Dbuildtype=release
# pip's torch carries its own headers; Debian's python3-torch does not (the
# system libtorch-dev is used then).
[ -d "$TORCH_DIR/include/torch" ] && set -- "$@" -Dlibtorch="$TORCH_DIR"
[ -n "$cpp_args" ] && set -- "$@" "-Dcpp_args=$cpp_args"
[ -n "$link_args" ] && set -- "$@" "-Dcpp_link_args=$link_args" "-Dc_link_args=$link_args"
if [ -d "$BUILD" ]; then meson setup --reconfigure "$BUILD" "$@" >"$BUILD.setup.log" 2>&1 || { cat "$BUILD.setup.log"; exit 1; }
else meson setup "$BUILD" "$@" >"$BUILD.setup.log" 2>&1 || { cat "$BUILD.setup.log"; exit 1; }; fi
grep -E "libtorch|CUDA" "$BUILD.setup.log" | tail -4

say "build"
targets="src/cli/dermalens-cli bench/cpu/derm-bench-engine"
for t in tests/engine/test-engine-*.c; do
  b=$(basename "$t" .c); targets="$targets tests/engine/$b"
done
ninja -C "$BUILD" -j "$JOBS" $targets
"$BUILD/src/cli/dermalens-cli" info

status=0
if [ "$TESTS" = 1 ]; then
  say "engine tests on $DEVICE"
  DERM_TEST_DEVICE=$DEVICE DERM_TEST_PYTHON=$(command -v "$PYTHON") \
    meson test -C "$BUILD" --no-rebuild --suite engine --print-errorlogs || status=1
  grep -hE "^# (resnet|unet|resume)" "$BUILD"/meson-logs/testlog.txt 2>/dev/null | sort -u || true
fi

if [ "$BENCH" = 1 ]; then
  say "benchmark: Dermalens engine vs Python PyTorch ($DEVICE)"
  if [ "$QUICK" = 1 ]; then
    bargs="--runs 5 --warmup 1 --steps 2 --train-size 64 --train-batches 2,4 --unet-size 64 --unet-batch 2 --unet-base 8"
  else
    bargs="--runs 100 --warmup 5 --steps 30"
  fi
  JPEG=${JPEG:-$(ls "${DATA:-/tmp/ham10000}"/images/*.jpg 2>/dev/null | head -1 || true)}
  [ -n "$JPEG" ] && bargs="$bargs --jpeg $JPEG"
  out=$(mktemp -d)
  "$BUILD/bench/cpu/derm-bench-engine" --device "$DEVICE" $bargs | tee "$out/derm.txt" || status=1
  if [ "${CUDA_GRAPHS:-0}" = 1 ]; then
    DERM_NO_CUDA_GRAPHS=1 "$BUILD/bench/cpu/derm-bench-engine" --device "$DEVICE" $bargs \
      --what infer,seg,clsseg,e2e | sed 's/^RESULT \([a-z0-9_]*\)_ms /RESULT \1_eager_ms /' | tee -a "$out/derm.txt" || status=1
  fi
  "$PYTHON" bench/peer/bench-torch.py --device "$DEVICE" $bargs | tee "$out/peer.txt" || status=1
  "$PYTHON" - "$out/derm.txt" "$out/peer.txt" <<'PY'
import sys
def read(p):
    d = {}
    for line in open(p):
        if line.startswith("RESULT "):
            _, k, v, unit = line.split()[:4]
            d[k] = (float(v), unit)
    return d
a, b = read(sys.argv[1]), read(sys.argv[2])
names = [("infer_fp32_ms", "ResNet-50 inference, batch 1, fp32"),
         ("infer_bf16_ms", "ResNet-50 inference, batch 1, bf16"),
         ("seg_fp32_ms", "U-Net segment, batch 1, decoded image"),
         ("cls_seg_ms", "classify + segment, batch 1, decoded image"),
         ("e2e_jpeg_ms", "JPEG bytes -> probabilities + mask, batch 1"),
         ("infer_fp32_eager_ms", "ResNet-50 inference, batch 1, fp32, no CUDA graph"),
         ("seg_fp32_eager_ms", "U-Net segment, batch 1, no CUDA graph"),
         ("cls_seg_eager_ms", "classify + segment, batch 1, no CUDA graph"),
         ("e2e_jpeg_eager_ms", "JPEG -> probabilities + mask, batch 1, no CUDA graph"),
         ("train_r50_b64_ips", "ResNet-50 training, batch 64, bf16 CL"),
         ("train_r50_b64_devaug_ips", "ResNet-50 training, batch 64, device cache + augmentation"),
         ("train_r50_b256_ips", "ResNet-50 training, batch 256, bf16 CL"),
         ("train_unet_b32_ips", "U-Net training, 256 px, batch 32, bf16 CL")]
print("\n| measurement | Dermalens | PyTorch (Python) | Dermalens speed / PyTorch |")
print("| --- | --- | --- | --- |")
for k, label in names:
    if k not in a and k not in b:
        continue
    va, ua = a.get(k, (float("nan"), ""))
    vb, ub = b.get(k, (float("nan"), ""))
    ratio = (vb / va) if ua == "ms" else (va / vb)
    print("| %s | %.2f %s | %.2f %s | %.2f |" % (label, va, ua, vb, ub or ua, ratio))
PY
  rm -rf "$out"
fi
exit $status

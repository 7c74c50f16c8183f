#!/bin/sh
# bench/cpu/run.sh: batch-1 latency on the CPU, the Dermalens engine
# (derm-bench-engine) vs Python PyTorch (bench/peer/bench-torch.py run by
# /usr/bin/python3: Debian's torch, the same libtorch the engine links), both
# with every core, in one run:
#   infer   ResNet-50 classify, one 224 px image
#   seg     U-Net segment alone (the app's default U-Net: base 32, 256 px)
#   clsseg  classify + segment of a decoded image
#   e2e     JPEG bytes -> probabilities + mask
# seg, clsseg and e2e take one JPEG both sides read: $JPEG, else a 600 x 450
# HAM10000 image when ../shared/ham10000 (or $DERM_HAM10000) has one, else a
# generated 600 x 450 dermoscopy-like JPEG.
# First both sides run one analysis with the engine's weights and compare
# (CHECK lines; the run stops if the models disagree). Then rounds alternate
# between the two (the order swaps each round) so that load from other
# processes hits both alike; each round is a median of RUNS runs; the table
# gives the median of the round medians and the ratio PyTorch / Dermalens
# (above 1: Dermalens is faster).
# Usage: bench/cpu/run.sh [BUILD_DIR] (default _build, the quick start's; RUNS=20 ROUNDS=3
# WHAT=infer,seg,clsseg,e2e JPEG=file)
set -eu
cd "$(dirname "$0")/../.."
B=${1:-_build}
RUNS=${RUNS:-20}
ROUNDS=${ROUNDS:-3}
WHAT=${WHAT:-infer,seg,clsseg,e2e}
PY=${PYTHON:-/usr/bin/python3}
ninja -C "$B" bench/cpu/derm-bench-engine >/dev/null
ENGINE="$B/bench/cpu/derm-bench-engine"
PEER=bench/peer/bench-torch.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out="$tmp/results"
: >"$out"

ham=${DERM_HAM10000:-../shared/ham10000}
if [ -z "${JPEG:-}" ]; then
  if [ -f "$ham/fullres/images/ISIC_0024306.jpg" ]; then
    JPEG="$ham/fullres/images/ISIC_0024306.jpg"
  else
    JPEG="$tmp/generated.jpg"
    "$PY" "$PEER" --write-jpeg "$JPEG" >/dev/null
  fi
fi

echo "# $(date '+%Y-%m-%d %H:%M:%S %Z'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)," \
  "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) cores"
echo "# load before: $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "# JPEG: $JPEG ($(wc -c <"$JPEG") bytes); RUNS=$RUNS ROUNDS=$ROUNDS WHAT=$WHAT"

# Both sides compute the same thing: the engine's weights through the peer.
"$ENGINE" --device cpu --check "$tmp/check" --jpeg "$JPEG" | grep -v '^# libtorch'
"$PY" "$PEER" --device cpu --check "$tmp/check" | grep -v '^# torch'

engine () {
  "$ENGINE" --device cpu --what "$WHAT" --jpeg "$JPEG" --runs "$RUNS" --warmup 3 >"$tmp/log"
  sed -n 's/^RESULT \([a-z0-9_]*\) \([0-9.]*\).*/derm \1 \2/p' "$tmp/log" >>"$out"
}
peer () {
  "$PY" "$PEER" --device cpu --what "$WHAT" --jpeg "$JPEG" --runs "$RUNS" --warmup 3 >"$tmp/log"
  sed -n 's/^RESULT \([a-z0-9_]*\) \([0-9.]*\).*/peer \1 \2/p' "$tmp/log" >>"$out"
}
i=0
while [ $i -lt "$ROUNDS" ]; do
  if [ $((i % 2)) -eq 0 ]; then engine; peer; else peer; engine; fi
  i=$((i+1))
  echo "# round $i done, load $(cut -d ' ' -f 1-3 /proc/loadavg)"
done
echo "# load after: $(cut -d ' ' -f 1-3 /proc/loadavg)"

"$PY" - "$out" "$RUNS" "$ROUNDS" <<'PY'
import statistics, sys
rows = [("infer_fp32_ms", "ResNet-50 classify, batch 1, 224 px"),
        ("seg_fp32_ms", "U-Net (base 32, 256 px) segment, batch 1"),
        ("cls_seg_ms", "classify + segment, decoded image"),
        ("e2e_jpeg_ms", "JPEG bytes -> probabilities + mask")]
d = {}
for line in open(sys.argv[1]):
    side, name, v = line.split()
    d.setdefault(name, {"derm": [], "peer": []})[side].append(float(v))
print()
print("| CPU fp32, median of %s rounds x %s runs | Dermalens | PyTorch (Python) | PyTorch time / Dermalens time |"
      % (sys.argv[3], sys.argv[2]))
print("| --- | --- | --- | --- |")
for name, label in rows:
    if name not in d:
        continue
    a, b = statistics.median(d[name]["derm"]), statistics.median(d[name]["peer"])
    print("| %s (`%s`) | %.1f ms | %.1f ms | %.2f |" % (label, name, a, b, b / a))
print()
for name, label in rows:
    if name in d:
        print("rounds %s (ms): Dermalens %s; PyTorch %s" % (
            name, ", ".join("%.1f" % v for v in d[name]["derm"]),
            ", ".join("%.1f" % v for v in d[name]["peer"])))
PY

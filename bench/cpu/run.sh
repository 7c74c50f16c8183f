#!/bin/sh
# bench/cpu/run.sh: the Dermalens engine on the CPU (derm-bench-engine, under
# its own CPU precision policy) against two Python PyTorch peers
# (bench/peer/bench-torch.py run by /usr/bin/python3: Debian's torch, the same
# libtorch the engine links), all with every core, in one run:
#   PyTorch defaults  fp32, NCHW
#   PyTorch expert    channels_last models and inputs, and bf16 autocast
#                     (torch.autocast("cpu", dtype=torch.bfloat16)) when the
#                     engine's policy computes in bf16 (EXPERT_PRECISION=bf16
#                     or fp32 forces either)
# Latency, batch 1 (ms; ratio = PyTorch time / Dermalens time):
#   infer     ResNet-50 classify, one 224 px image
#   seg       U-Net segment alone (the app's default U-Net: base 32, 256 px)
#   clsseg    classify + segment of a decoded image
#   e2e       JPEG bytes -> probabilities + mask
#   analysis  the app's whole analysis from the JPEG's bytes: decode,
#             classify, segment, Grad-CAM of the top class, lesion measurements
#   classify_rNN_PX_kK  ResNet-NN classify at PX px, one network (K = 1) or
#             an ensemble of K (the mean of their probabilities), e.g.
#             WHAT=classify_r18_96_k1,classify_r18_96_k5
# Training, batch $TRAIN_BATCH, AdamW, cross-entropy, synthetic images (img/s;
# ratio = Dermalens / PyTorch): train_r18_96, train_r18_128, train_r18_224,
# train_r50_128 (any train_rNN_PX, NN = 18, 34, 50, in WHAT)
# Contention (engine only, derm-bench-contention): analysis latency while a
# ResNet-18 job trains in the same process, without and with the
# foreground gate (derm_engine_foreground_begin/end), and the training's cost.
#
# seg, clsseg, e2e and analysis take one JPEG all sides read: $JPEG, else a
# 600 x 450 HAM10000 image when ../shared/ham10000 (or $DERM_HAM10000) has
# one, else a generated 600 x 450 dermoscopy-like JPEG.
# First the engine and the defaults peer run one analysis with the engine's
# weights in fp32 and compare (CHECK lines; the run stops if the models
# disagree); the latency rows then use those weights (the U-Net trained a
# little, so that the mask outlines a lesion to measure). Then rounds rotate
# the sides (the order reverses each round) so that load from other
# processes hits all alike; each round is a median of RUNS runs (training:
# TRAIN_STEPS steps after TRAIN_WARMUP); the table gives the median of the
# round medians.
# Usage: bench/cpu/run.sh [BUILD_DIR] (default _build, the quick start's)
#   RUNS=20 ROUNDS=3 WHAT=infer,seg,clsseg,e2e,analysis,train_r18_96,...
#   TRAIN_STEPS=4 TRAIN_WARMUP=1 TRAIN_BATCH=32 JPEG=file
#   CONTENTION=1 (0: skip) CONTENTION_ARGS="--n 10 --interval 1.5"
#   EXPERT_PRECISION=policy|bf16|fp32  ENGINE_FP32=1 (an extra engine column
#   with DERMALENS_CPU_PRECISION=fp32, when the policy is not fp32 already)
#   QUICK=1: a check of the script in about a minute (3 runs, 1 round, one
#   small training row at batch 8, a short contention run); its numbers mean
#   nothing.
set -eu
cd "$(dirname "$0")/../.."
B=${1:-_build}
if [ "${QUICK:-0}" = 1 ]; then
  RUNS=${RUNS:-3}
  ROUNDS=${ROUNDS:-1}
  WARMUP=${WARMUP:-1}
  WHAT=${WHAT:-infer,seg,clsseg,e2e,analysis,train_r18_64}
  TRAIN_STEPS=${TRAIN_STEPS:-2}
  TRAIN_WARMUP=${TRAIN_WARMUP:-1}
  TRAIN_BATCH=${TRAIN_BATCH:-8}
  CONTENTION_ARGS=${CONTENTION_ARGS:---n 3 --interval 1 --train-size 64 --batch 8 --warmup-steps 1 --train-window 3}
else
  RUNS=${RUNS:-20}
  ROUNDS=${ROUNDS:-3}
  WARMUP=${WARMUP:-3}
  WHAT=${WHAT:-infer,seg,clsseg,e2e,analysis,train_r18_96,train_r18_128,train_r18_224,train_r50_128}
  TRAIN_STEPS=${TRAIN_STEPS:-4}
  TRAIN_WARMUP=${TRAIN_WARMUP:-1}
  TRAIN_BATCH=${TRAIN_BATCH:-32}
  CONTENTION_ARGS=${CONTENTION_ARGS:---n 10 --interval 1.5}
fi
CONTENTION=${CONTENTION:-1}
EXPERT_PRECISION=${EXPERT_PRECISION:-policy}
ENGINE_FP32=${ENGINE_FP32:-0}
PY=${PYTHON:-/usr/bin/python3}
targets=bench/cpu/derm-bench-engine
if [ "$CONTENTION" = 1 ]; then targets="$targets bench/cpu/derm-bench-contention"; fi
# shellcheck disable=SC2086
ninja -C "$B" $targets >/dev/null
ENGINE="$B/bench/cpu/derm-bench-engine"
CONTENDER="$B/bench/cpu/derm-bench-contention"
PEER=bench/peer/bench-torch.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out="$tmp/results"
: >"$out"

infer_what=$(echo "$WHAT" | tr ',' '\n' | grep -v '^train' | paste -sd, -) || true
train_what=$(echo "$WHAT" | tr ',' '\n' | grep '^train' | paste -sd, -) || true

ham=${DERM_HAM10000:-../shared/ham10000}
if [ -z "${JPEG:-}" ]; then
  if [ -f "$ham/fullres/images/ISIC_0024306.jpg" ]; then
    JPEG="$ham/fullres/images/ISIC_0024306.jpg"
  else
    JPEG="$tmp/generated.jpg"
    "$PY" "$PEER" --write-jpeg "$JPEG" >/dev/null
  fi
fi

flags=$(sed -n 's/^flags[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
have=""
for f in avx2 avx512f avx512_bf16 amx_bf16 amx_tile; do
  case " $flags " in
    *" $f "*) have="$have $f" ;;
    *) have="$have no-$f" ;;
  esac
done
policy=$("$ENGINE" --policy | grep '^POLICY')
precision=$(echo "$policy" | sed -n 's/^POLICY precision=\([a-z0-9]*\).*/\1/p')
case "$EXPERT_PRECISION" in
  policy) expert_bf16=$([ "$precision" = bf16 ] && echo 1 || echo 0) ;;
  bf16) expert_bf16=1 ;;
  fp32) expert_bf16=0 ;;
  *) echo "EXPERT_PRECISION must be policy, bf16 or fp32" >&2; exit 2 ;;
esac
EXPERT_FLAGS="--channels-last"
expert_label="channels_last fp32"
if [ "$expert_bf16" = 1 ]; then
  EXPERT_FLAGS="--channels-last --autocast-bf16"
  expert_label="channels_last bf16 autocast"
fi
sides="derm pt ptx"
if [ "$ENGINE_FP32" = 1 ] && [ "$precision" != fp32 ]; then
  sides="derm derm32 pt ptx"
fi

echo "# $(date '+%Y-%m-%d %H:%M:%S %Z'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)," \
  "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) cores"
echo "# CPU flags:$have"
echo "# $policy"
echo "# PyTorch expert: $expert_label (EXPERT_PRECISION=$EXPERT_PRECISION)"
echo "# load before: $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "# JPEG: $JPEG ($(wc -c <"$JPEG") bytes); RUNS=$RUNS ROUNDS=$ROUNDS WHAT=$WHAT"
echo "# training: TRAIN_STEPS=$TRAIN_STEPS TRAIN_WARMUP=$TRAIN_WARMUP TRAIN_BATCH=$TRAIN_BATCH; sides: $sides"

# All sides compute the same thing: the engine's weights through the peer,
# in fp32 (the models, not the precision, are compared here).
DERMALENS_CPU_PRECISION=fp32 "$ENGINE" --device cpu --check "$tmp/check" --jpeg "$JPEG" | grep -v '^# libtorch'
"$PY" "$PEER" --device cpu --check "$tmp/check" | grep -v '^# torch'

# side SIDE ARGS...: one call of SIDE's program, its output appended to
# $tmp/SIDE.log.
side () {
  name=$1
  shift
  # shellcheck disable=SC2086
  case $name in
    derm) "$ENGINE" --device cpu "$@" ;;
    derm32) DERMALENS_CPU_PRECISION=fp32 "$ENGINE" --device cpu "$@" ;;
    pt) "$PY" "$PEER" --device cpu "$@" ;;
    ptx) "$PY" "$PEER" --device cpu $EXPERT_FLAGS "$@" ;;
  esac >>"$tmp/$name.log"
}
# run SIDE: one round of SIDE, its RESULT lines appended to $out as
# "SIDE name value". The latency rows and the training rows are separate
# calls: their warm-ups differ (runs vs steps).
run () {
  : >"$tmp/$1.log"
  if [ -n "$infer_what" ]; then
    side "$1" --what "$infer_what" --jpeg "$JPEG" --weights "$tmp/check" --runs "$RUNS" --warmup "$WARMUP"
  fi
  if [ -n "$train_what" ]; then
    side "$1" --what "$train_what" --steps "$TRAIN_STEPS" --warmup "$TRAIN_WARMUP" --train-batch "$TRAIN_BATCH"
  fi
  sed -n "s/^RESULT \([a-z0-9_]*\) \([0-9.]*\).*/$1 \1 \2/p" "$tmp/$1.log" >>"$out"
}
reversed=$(echo "$sides" | tr ' ' '\n' | tac | paste -sd ' ' -)
i=0
while [ $i -lt "$ROUNDS" ]; do
  if [ $((i % 2)) -eq 0 ]; then order=$sides; else order=$reversed; fi
  for s in $order; do run "$s"; done
  i=$((i+1))
  echo "# round $i done, load $(cut -d ' ' -f 1-3 /proc/loadavg)"
done
echo "# load after: $(cut -d ' ' -f 1-3 /proc/loadavg)"

"$PY" - "$out" "$RUNS" "$ROUNDS" "$TRAIN_STEPS" "$TRAIN_BATCH" "$precision" "$expert_label" "$sides" <<'PY'
import re, statistics, sys
path, runs, rounds, steps, batch, precision, expert, sides = sys.argv[1:]
sides = sides.split()
rows = [("infer_fp32_ms", "ResNet-50 classify, batch 1, 224 px"),
        ("seg_fp32_ms", "U-Net (base 32, 256 px) segment, batch 1"),
        ("cls_seg_ms", "classify + segment, decoded image"),
        ("e2e_jpeg_ms", "JPEG bytes -> probabilities + mask"),
        ("analysis_ms", "whole analysis: JPEG -> probabilities, mask, Grad-CAM, measurements")]
d = {}
for line in open(path):
    side, name, v = line.split()
    d.setdefault(name, {}).setdefault(side, []).append(float(v))
for name in sorted(d):
    r = re.fullmatch(r"classify_r(\d+)_(\d+)_k(\d+)_ms", name)
    if r:
        rows.append((name, "ResNet-%s classify, batch 1, %s px, %s" % (
            r.group(1), r.group(2), "one network" if r.group(3) == "1" else
            "ensemble of %s" % r.group(3))))
for name in sorted(d):
    r = re.fullmatch(r"train_r(\d+)_(\d+)_ips", name)
    if r:
        rows.append((name, "ResNet-%s training, %s px, batch %s" % (r.group(1), r.group(2), batch)))
label = {"derm": "Dermalens (%s)" % precision, "derm32": "Dermalens (fp32 forced)",
         "pt": "PyTorch defaults (fp32 NCHW)", "ptx": "PyTorch expert (%s)" % expert}
head = ["CPU, median of %s rounds (latency: %s runs; training: %s steps)" % (rounds, runs, steps)]
for s in sides:
    head.append(label[s])
    if s in ("pt", "ptx"):
        head.append("ratio")
print()
print("| " + " | ".join(head) + " |")
print("|" + " --- |" * len(head))
for name, text in rows:
    if name not in d or "derm" not in d[name]:
        continue
    ips = name.endswith("_ips")
    unit = "img/s" if ips else "ms"
    med = {s: statistics.median(v) for s, v in d[name].items()}
    cells = ["%s (`%s`)" % (text, name)]
    for s in sides:
        cells.append("%.1f %s" % (med[s], unit) if s in med else "")
        if s in ("pt", "ptx"):
            cells.append("%.2f" % ((med["derm"] / med[s]) if ips else (med[s] / med["derm"])) if s in med else "")
    print("| " + " | ".join(cells) + " |")
print()
print("Ratios: latency PyTorch time / Dermalens time, training Dermalens img/s / PyTorch img/s;")
print("above 1: Dermalens is faster.")
print()
for name, _ in rows:
    if name in d:
        print("rounds %s: %s" % (name, "; ".join(
            "%s %s" % (s, ", ".join("%.1f" % v for v in d[name][s])) for s in sides if s in d[name])))
PY

echo
echo "Whole analysis, parts (medians of the last round, ms):"
for s in $sides; do
  sed -n "s/^RESULT analysis_ms .*parts \([^;]*\); \(.*\))$/  $s: \1; \2/p" "$tmp/$s.log"
done

if [ "$CONTENTION" = 1 ]; then
  echo
  echo "# contention: $CONTENDER $CONTENTION_ARGS"
  # shellcheck disable=SC2086
  "$CONTENDER" --jpeg "$JPEG" --weights "$tmp/check" $CONTENTION_ARGS | tee "$tmp/contention.log"
  "$PY" - "$tmp/contention.log" <<'PY'
import sys
v = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) >= 3 and p[0] == "RESULT":
        v[p[1]] = float(p[2])
def g(k):
    return v.get("contention_" + k, float("nan"))
print()
print("| analysis while ResNet-18 trains (same process) | median | max | training img/s | of alone |")
print("| --- | --- | --- | --- | --- |")
print("| analysis alone (no training) | %.0f ms | %.0f ms | | |" % (g("alone_median_ms"), g("alone_max_ms")))
print("| training alone | | | %.1f | 100%% |" % g("train_alone_ips"))
for mode, text in (("nogate", "no gate"), ("gate", "foreground gate")):
    ips = g("train_%s_ips" % mode)
    print("| analysis during training, %s | %.0f ms | %.0f ms | %.1f | %.0f%% |" % (
        text, g("%s_median_ms" % mode), g("%s_max_ms" % mode), ips, 100 * ips / g("train_alone_ips")))
print()
print("Training waited %.0f ms for analyses in the gated phase (goal: analysis under 1 s on 2 cores)."
      % g("gate_waited_ms"))
PY
fi

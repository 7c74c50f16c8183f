#!/bin/sh
# bench/cpu/precision-agreement.sh: do bf16 and fp32 give the same results on
# real held-out images? Runs `dermalens-cli evaluate` on the test split of a
# HAM10000 folder twice, DERMALENS_CPU_PRECISION=fp32 and =bf16, writing each
# image's probabilities (classifier) and each predicted mask (segmenter), then
# compares them: top class agreement, largest probability difference,
# pixels on the same side of 128, and the metrics of both runs.
# Usage: bench/cpu/precision-agreement.sh CLASSIFIER SEGMENTER [DATA] [BUILD_DIR]
#   (DATA default ../shared/ham10000; BUILD_DIR default _build)
#   SPLIT=test (or all: every image of DATA, e.g. a folder holding part of
#   a test split), SEG_DATA=DATA (the segmenter's folder)
# On a CPU without bfloat16 units bf16 is emulated: correct, but slow (about
# 100x here), so there a subset of the test split is what fits.
set -eu
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { sed -n '2,11p' "$0"; exit 2; }
CLS=$1
SEG=$2
DATA=${3:-../shared/ham10000}
B=${4:-_build}
SPLIT=${SPLIT:-test}
SEG_DATA=${SEG_DATA:-$DATA}
CLI="$B/src/cli/dermalens-cli"
PY=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "# $(date '+%Y-%m-%d %H:%M:%S %Z'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)," \
  "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) cores"
DERMALENS_CPU_PRECISION=bf16 "$CLI" info | sed -n 's/^CPU path: */# bf16 run: /p'
for p in fp32 bf16; do
  start=$(date +%s)
  DERMALENS_CPU_PRECISION=$p "$CLI" evaluate --weights "$CLS" --data "$DATA" --split "$SPLIT" \
    --device cpu --json --predictions "$tmp/$p.csv" >"$tmp/$p-cls.json"
  DERMALENS_CPU_PRECISION=$p "$CLI" evaluate --weights "$SEG" --data "$SEG_DATA" --split "$SPLIT" \
    --device cpu --json --masks-out "$tmp/$p-masks" >"$tmp/$p-seg.json"
  echo "# $p: $(( $(date +%s) - start )) s"
done

"$PY" - "$tmp" <<'PY'
import csv, json, os, sys
import numpy as np
from PIL import Image

d = sys.argv[1]
def rows(p):
    with open(os.path.join(d, p + ".csv")) as f:
        return {r["image_id"]: r for r in csv.DictReader(f)}
a, b = rows("fp32"), rows("bf16")
classes = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
pa = np.array([[float(a[i][c]) for c in classes] for i in sorted(a)])
pb = np.array([[float(b[i][c]) for c in classes] for i in sorted(a)])
agree = (pa.argmax(1) == pb.argmax(1)).mean()
diff = np.abs(pa - pb)
print(f"classifier: {len(a)} test images; top class agrees on {agree * 100:.2f}%; "
      f"probability difference max {diff.max():.4f}, mean {diff.mean():.5f}")
for p in ("fp32", "bf16"):
    m = json.load(open(os.path.join(d, p + "-cls.json")))
    print(f"  {p}: balanced accuracy {m['balanced_accuracy']:.4f}, macro AUC {m['macro_auc']:.4f}, "
          f"ECE {m['ece']:.4f}")
same = total = 0
names = sorted(os.listdir(os.path.join(d, "fp32-masks")))
for n in names:
    x = np.asarray(Image.open(os.path.join(d, "fp32-masks", n))) >= 128
    y = np.asarray(Image.open(os.path.join(d, "bf16-masks", n))) >= 128
    same += int((x == y).sum())
    total += x.size
print(f"segmenter: {len(names)} test images; {100.0 * same / total:.3f}% of pixels on the same side of 128")
for p in ("fp32", "bf16"):
    m = json.load(open(os.path.join(d, p + "-seg.json")))
    print(f"  {p}: mean Dice {m['dice']:.4f}, mean Jaccard {m['jaccard']:.4f}")
PY

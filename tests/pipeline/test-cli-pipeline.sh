#!/bin/sh
# End to end on a few hundred real HAM10000 images (CPU, tiny sizes):
# train -> evaluate --json -> analyze, Ctrl-C -> checkpoint -> --resume.
# This checks the pipeline, not accuracy. Without the data it reports a TAP skip (meson reads exit 77 as an error under the TAP protocol).
CLI="$1"
DATA="${DERM_HAM10000:-}"
if [ -z "$DATA" ] || [ ! -f "$DATA/HAM10000_metadata.csv" ]; then
  echo "1..0 # SKIP no HAM10000 data at $DATA"; exit 0
fi
PY=python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
n=0; fail=0
ok()   { n=$((n+1)); echo "ok $n - $1"; }
nok()  { n=$((n+1)); fail=1; echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else nok "$1"; fi; }

# ---- usage errors
"$CLI" train --data "$DATA" >/dev/null 2>&1; rc=$?
check "train without --out exits 2" '[ $rc -eq 2 ]'
err=$("$CLI" train --data "$TMP/nowhere" --out "$TMP/x.safetensors" 2>&1); rc=$?
check "train on a missing folder exits 1 and says why" '[ $rc -eq 1 ] && echo "$err" | grep -q "not a folder"'
"$CLI" train --data "$DATA" --out "$TMP/x.safetensors" --arch unet >/dev/null 2>&1; rc=$?
check "classification with a U-Net is refused" '[ $rc -eq 1 ]'
"$CLI" train --data "$DATA" --out "$TMP/x.safetensors" --gpu-augment maybe >/dev/null 2>&1; rc=$?
check "an unknown --gpu-augment mode exits 2" '[ $rc -eq 2 ]'
"$CLI" train --data "$DATA" --out "$TMP/x.safetensors" --checkpoint-every -1 >/dev/null 2>&1; rc=$?
check "a negative --checkpoint-every exits 2" '[ $rc -eq 2 ]'

# ---- train a tiny classifier for one epoch
M="$TMP/cls.safetensors"
"$CLI" train --data "$DATA" --out "$M" --arch resnet18 --image-size 32 --epochs 1 --batch 16 \
  --limit 160 --seed 3 --json-log "$TMP/log.jsonl" 2>"$TMP/train.err"; rc=$?
check "train exits 0" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || cat "$TMP/train.err" | sed 's/^/# /'
check "train writes the model" '[ -s "$M" ]'
check "no checkpoint is left after a finished run" '[ ! -e "$M.ckpt" ]'
check "stderr has plain progress lines (not a terminal)" 'grep -q "^epoch 1/1 step" "$TMP/train.err"'
check "json log: one JSON object per line with dataset, step, epoch, test and done events" \
  '$PY - "$TMP/log.jsonl" <<PYEOF
import json, sys, math
ev = [json.loads(l) for l in open(sys.argv[1])]
kinds = {e["event"] for e in ev}
assert {"dataset", "step", "epoch", "calibrated", "test", "done"} <= kinds, kinds
d = [e for e in ev if e["event"] == "dataset"][0]
assert d["n_train"] > 100 and d["n_val"] > 10 and d["n_test"] > 10, d
st = [e for e in ev if e["event"] == "step"]
assert all(math.isfinite(e["loss"]) for e in st)
assert st[-1]["step"] == st[-1]["steps"]
PYEOF'

# ---- evaluate: the test split is rebuilt from the model's metadata
"$CLI" evaluate --weights "$M" --data "$DATA" --json >"$TMP/eval.json" 2>"$TMP/eval.err"; rc=$?
check "evaluate --json exits 0" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || sed 's/^/# /' "$TMP/eval.err"
check "evaluate JSON: keys, finite numbers, consistent counts" \
  '$PY - "$TMP/eval.json" "$TMP/log.jsonl" <<PYEOF
import json, sys, math
r = json.load(open(sys.argv[1]))
for k in ("n", "accuracy", "balanced_accuracy", "macro_f1", "ece", "per_class", "confusion"):
    assert k in r, k
codes = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
assert list(r["per_class"]) == codes
for k in ("accuracy", "balanced_accuracy", "macro_f1", "ece"):
    assert math.isfinite(r[k]) and 0 <= r[k] <= 1, (k, r[k])
conf = r["confusion"]
assert len(conf) == 7 and all(len(row) == 7 for row in conf)
assert sum(map(sum, conf)) == r["n"]
for i, c in enumerate(codes):
    pc = r["per_class"][c]
    assert pc["support"] == sum(conf[i])
    for k in ("precision", "f1"):
        assert math.isfinite(pc[k]) and 0 <= pc[k] <= 1
acc = sum(conf[i][i] for i in range(7)) / r["n"]
assert abs(acc - r["accuracy"]) < 1e-9
log = [json.loads(l) for l in open(sys.argv[2])]
n_test = [e for e in log if e["event"] == "dataset"][0]["n_test"]
assert r["n"] == n_test, (r["n"], n_test)
test = [e for e in log if e["event"] == "test"][0]["metrics"]
assert abs(test["accuracy"] - r["accuracy"]) < 1e-9
PYEOF'
"$CLI" evaluate --weights "$M" --data "$DATA" --predictions "$TMP/pred.csv" >/dev/null 2>&1; rc=$?
check "evaluate --predictions writes one row per test image, probabilities summing to 1" \
  '[ $rc -eq 0 ] && $PY - "$TMP/pred.csv" "$TMP/eval.json" "$DATA/HAM10000_metadata.csv" <<PYEOF
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
r = json.load(open(sys.argv[2]))
meta = {m["image_id"]: m for m in csv.DictReader(open(sys.argv[3]))}
assert len(rows) == r["n"], (len(rows), r["n"])
codes = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
assert list(rows[0]) == ["image_id", "lesion_id", "dx"] + codes
for row in rows:
    assert meta[row["image_id"]]["lesion_id"] == row["lesion_id"] and meta[row["image_id"]]["dx"] == row["dx"]
    assert abs(sum(float(row[c]) for c in codes) - 1) < 1e-4
PYEOF'
"$CLI" evaluate --weights "$M" --data "$DATA" --masks-out "$TMP/x" >/dev/null 2>&1; rc=$?
check "evaluate --masks-out on a classifier is misuse (exit 2)" '[ $rc -eq 2 ]'
out=$("$CLI" evaluate --weights "$M" --data "$DATA" --split val); rc=$?
check "evaluate prints readable tables" '[ $rc -eq 0 ] && echo "$out" | grep -q "^balanced accuracy" && echo "$out" | grep -q "^MEL " && echo "$out" | grep -q "confusion"'

# ---- the decision rule (issue 14): class offsets and an operating point,
# fitted on validation, stored in the model, applied by evaluate and analyze
"$CLI" weights-info --json "$M" >"$TMP/info.json" 2>/dev/null; rc=$?
check "the model has a decision rule: 7 finite offsets of mean 0, a risk threshold in (0,1)" \
  '[ $rc -eq 0 ] && $PY - "$TMP/info.json" <<PYEOF
import json, sys, math
d = json.loads(json.load(open(sys.argv[1]))["metadata"]["decision"])
off = d["class_offsets"]
assert list(off) == ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"], off
assert all(math.isfinite(v) and abs(v) <= 8 for v in off.values()) and abs(sum(off.values())) < 1e-6
assert 0 < d["risk_threshold"] < 1, d
assert d["target_sensitivity"] == 0.9
assert d["val_sensitivity"] >= 0.9 and 0 <= d["val_specificity"] <= 1, d
assert 0 <= d["test_sensitivity"] <= 1 and 0 <= d["test_specificity"] <= 1, d
assert d["val_balanced_accuracy"] >= d["val_argmax_balanced_accuracy"], d
PYEOF'
out=$("$CLI" weights-info "$M"); rc=$?
check "weights-info prints the decision rule readably" \
  '[ $rc -eq 0 ] && echo "$out" | grep -q "^Decision rule:" && echo "$out" | grep -Eq "class offsets +MEL [+-][0-9]" && echo "$out" | grep -q "operating point: malignant when MEL + BCC + AKIEC >= 0\.[0-9]"'
check "the training log reports what the decision rule gave on validation" \
  'grep "\"event\":\"message\"" "$TMP/log.jsonl" | grep -q "decision rule: balanced accuracy [0-9.]* -> [0-9.]* on validation; operating point risk >= 0\.[0-9]* for sensitivity 0\.90"'
check "evaluate JSON: the rule decides, the operating point is measured, the arg-max is kept" \
  '$PY - "$TMP/eval.json" "$TMP/info.json" "$TMP/log.jsonl" <<PYEOF
import json, sys, math
r = json.load(open(sys.argv[1]))
d = json.loads(json.load(open(sys.argv[2]))["metadata"]["decision"])
assert r["decision_rule"] == "class_offsets", r.get("decision_rule")
op = r["operating_point"]
assert op["risk_threshold"] == d["risk_threshold"] and op["target_sensitivity"] == 0.9, op
assert abs(op["sensitivity"] - d["test_sensitivity"]) < 1e-9, (op, d)
assert abs(op["specificity"] - d["test_specificity"]) < 1e-9, (op, d)
for k in ("argmax_accuracy", "argmax_balanced_accuracy", "argmax_recall_MEL"):
    assert k in r, k
test = [e for e in (json.loads(l) for l in open(sys.argv[3])) if e["event"] == "test"][0]["metrics"]
assert test["decision_rule"] == "class_offsets" and test["operating_point"] == op, test
assert abs(test["argmax_balanced_accuracy"] - r["argmax_balanced_accuracy"]) < 1e-9
PYEOF'
"$CLI" evaluate --weights "$M" --data "$DATA" --json --argmax >"$TMP/argmax.json" 2>"$TMP/argmax.err"; rc=$?
check "evaluate --argmax differs only in the decision" \
  '[ $rc -eq 0 ] && $PY - "$TMP/eval.json" "$TMP/argmax.json" <<PYEOF
import json, sys
r = json.load(open(sys.argv[1]))
a = json.load(open(sys.argv[2]))
assert a["decision_rule"] == "argmax" and not any(k.startswith("argmax_") for k in a), a
for k in ("n", "macro_auc", "ece", "nll", "operating_point", "temperature"):
    assert a[k] == r[k], (k, a[k], r[k])
for c, pc in a["per_class"].items():
    assert pc["support"] == r["per_class"][c]["support"] and pc["auc"] == r["per_class"][c]["auc"]
    assert pc["recall"] == r["argmax_recall_" + c], c
assert [sum(row) for row in a["confusion"]] == [sum(row) for row in r["confusion"]]
assert a["accuracy"] == r["argmax_accuracy"] and a["balanced_accuracy"] == r["argmax_balanced_accuracy"]
PYEOF'
out=$("$CLI" evaluate --weights "$M" --data "$DATA"); rc=$?
check "evaluate says which rule decided and prints the operating point" \
  '[ $rc -eq 0 ] && echo "$out" | grep -q "^decision rule  *the model.s class offsets" && echo "$out" | grep -q "^operating point  *malignant risk >= 0\.[0-9]" && echo "$out" | grep -q "^  sensitivity " && echo "$out" | grep -q "^  specificity "'

# ---- intervals by lesion, the model card, the recipe options (issue 14)
check "evaluate JSON: 95% lesion-bootstrap intervals, the same as the training's test event" \
  '$PY - "$TMP/eval.json" "$TMP/pred.csv" "$TMP/log.jsonl" <<PYEOF
import csv, json, sys
r = json.load(open(sys.argv[1]))
ci = r["ci95"]
lesions = {row["lesion_id"] for row in csv.DictReader(open(sys.argv[2]))}
assert ci["method"] == "lesion_bootstrap" and ci["resamples"] == 1000, ci
assert ci["lesions"] == len(lesions), (ci["lesions"], len(lesions))
for k in ("accuracy", "balanced_accuracy", "ece"):
    lo, hi = ci[k]
    assert 0 <= lo <= hi <= 1, (k, lo, hi)
lo, hi = ci["sensitivity"]
assert 0 <= lo <= hi <= 1
test = [e for e in (json.loads(l) for l in open(sys.argv[3])) if e["event"] == "test"][0]["metrics"]
assert test["ci95"] == ci, (test["ci95"], ci)
PYEOF'
out=$("$CLI" evaluate --weights "$M" --data "$DATA"); rc=$?
check "evaluate prints the intervals" \
  '[ $rc -eq 0 ] && echo "$out" | grep -Eq "^95% intervals \(1000 bootstrap resamples of the [0-9]+ lesions\)" && echo "$out" | grep -Eq "^  balanced accuracy +0\.[0-9]+ \.\. [01]\.[0-9]+"'
out=$("$CLI" weights-info --card "$M"); rc=$?
check "weights-info --card prints the model card: data, recipe, test metrics with intervals, operating point, use and limits" \
  '[ $rc -eq 0 ] && for h in "## Model details" "## Intended use" "## Out of scope" "## Training data" "## Training recipe" "## Evaluation on the test split" "## Decision rule and operating point" "## Limitations"; do echo "$out" | grep -qF "$h" || exit 1; done && echo "$out" | grep -q "HAM10000 (sha256" && echo "$out" | grep -Eq "^\| balanced accuracy \(decision rule\) \| [0-9.]+ \([0-9.]+–[0-9.]+\) \|" && echo "$out" | grep -q "^| MEL |" && echo "$out" | grep -q "Malignant flag when MEL + BCC + AKIEC"'
out=$("$CLI" refit-decision --weights "$M" --data "$DATA" --target-sensitivity 0.95 --out "$TMP/refit.safetensors"); rc=$?
check "refit-decision fits the rule again for another sensitivity and stores it with the test metrics" \
  '[ $rc -eq 0 ] && echo "$out" | grep -q "for sensitivity 0.95" && "$CLI" weights-info --json "$TMP/refit.safetensors" >"$TMP/refit.json" && $PY - "$TMP/refit.json" "$TMP/info.json" <<PYEOF
import json, sys
md = json.load(open(sys.argv[1]))["metadata"]
d = json.loads(md["decision"])
assert d["target_sensitivity"] == 0.95 and d["val_sensitivity"] >= 0.95, d
assert d["offset_shrink"] in (0, 0.25, 0.5, 0.75, 1), d
assert d["val_balanced_accuracy"] >= d["val_argmax_balanced_accuracy"], d
m = json.loads(md["metrics"])
assert m["operating_point"]["risk_threshold"] == d["risk_threshold"] and "ci95" in m, m
old = json.load(open(sys.argv[2]))["metadata"]
assert md["split"] == old["split"] and md["temperature"] == old["temperature"]
PYEOF'
"$CLI" refit-decision --weights "$M" --data "$DATA" --target-sensitivity 1.5 >/dev/null 2>&1; rc=$?
check "refit-decision with a sensitivity above 1 exits 2" '[ $rc -eq 2 ]'

M2="$TMP/recipe.safetensors"
"$CLI" train --data "$DATA" --out "$M2" --arch resnet18 --image-size 32 --epochs 2 --batch 16 \
  --limit 160 --seed 3 --mixup 0.2 --cutmix 1.0 --ema 0.9 --balance logit-adjust \
  --json-log "$TMP/recipe.jsonl" 2>"$TMP/recipe.err"; rc=$?
check "train with mixup, cutmix, the weight average and the logit-adjusted loss" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || sed 's/^/# /' "$TMP/recipe.err"
check "the recipe is recorded in the model and the average was validated each epoch" \
  '"$CLI" weights-info --json "$M2" >"$TMP/recipe-info.json" && $PY - "$TMP/recipe-info.json" "$TMP/recipe.err" <<PYEOF
import json, sys
t = json.loads(json.load(open(sys.argv[1]))["metadata"]["training"])
assert t["mixup"] == 0.2 and t["cutmix"] == 1.0 and t["ema"] == 0.9 and t["balance"] == "logit-adjust", t
assert t["weights"] in ("ema", "raw"), t
err = open(sys.argv[2]).read()
assert err.count("with the weight average") == 2, err
PYEOF'
"$CLI" train --data "$DATA" --out "$TMP/x.safetensors" --ema 1 --limit 160 >/dev/null 2>&1; rc=$?
check "a weight-average decay of 1 is refused" '[ $rc -eq 1 ]'
err=$("$CLI" train --task segment --data "$DATA" --out "$TMP/x.safetensors" --cutmix 1 --limit 160 2>&1); rc=$?
check "cutmix for a segmenter is refused: a mask is never mixed" '[ $rc -eq 1 ] && echo "$err" | grep -q "never mixed"'

# ---- Ctrl-C leaves a resumable checkpoint; --resume finishes the run
R="$TMP/resume.safetensors"
"$CLI" train --data "$DATA" --out "$R" --arch resnet18 --image-size 32 --epochs 2 --batch 16 \
  --limit 100 --seed 5 --json-log "$TMP/r.jsonl" 2>"$TMP/r.err" &
pid=$!
i=0
while [ $i -lt 600 ] && ! grep -q '"event":"epoch"' "$TMP/r.jsonl" 2>/dev/null; do
  sleep 0.2; i=$((i+1))
done
kill -INT $pid
wait $pid; rc=$?
if [ $rc -eq 0 ]; then
  ok "# SKIP the run ended before Ctrl-C arrived"
else
  check "Ctrl-C stops with status 130" '[ $rc -eq 130 ]'
  check "Ctrl-C leaves OUT.ckpt and says how to resume" '[ -s "$R.ckpt" ] && grep -q -- "--resume" "$TMP/r.err"'
  cp "$R.ckpt" "$TMP/saved.ckpt"
  "$CLI" train --data "$DATA" --out "$R" --arch resnet18 --image-size 32 --epochs 2 --batch 16 \
    --limit 100 --seed 5 --resume "$R.ckpt" 2>"$TMP/r2.err"; rc=$?
  check "--resume finishes the run" '[ $rc -eq 0 ] && [ -s "$R" ] && grep -q "resumed from" "$TMP/r2.err"'
  "$CLI" train --data "$DATA" --out "$TMP/other.safetensors" --arch resnet18 --image-size 32 \
    --epochs 2 --batch 16 --limit 100 --seed 6 --resume "$TMP/saved.ckpt" 2>"$TMP/r3.err"; rc=$?
  check "resuming with another split is refused" '[ $rc -eq 1 ] && grep -q "another split" "$TMP/r3.err"'
fi

# ---- a tiny segmenter (batches from the device cache, here the CPU), then
# analyze with both models
S="$TMP/seg.safetensors"
"$CLI" train --task segment --data "$DATA" --out "$S" --image-size 32 --epochs 1 --batch 8 \
  --limit 50 --seed 2 --gpu-augment on --checkpoint-every 0 2>"$TMP/seg.err"; rc=$?
check "segmentation training exits 0" '[ $rc -eq 0 ]'
check "--gpu-augment on: batches augmented on the model's device" 'grep -q "augmented there" "$TMP/seg.err"'
[ $rc -eq 0 ] || sed 's/^/# /' "$TMP/seg.err"
"$CLI" evaluate --weights "$S" --data "$DATA" --json --masks-out "$TMP/masks" >"$TMP/seg.json" 2>/dev/null; rc=$?
check "segmentation evaluate JSON has dice, jaccard, thresholded_jaccard, failures" \
  '[ $rc -eq 0 ] && $PY -c "
import json, math, sys
r = json.load(open(sys.argv[1]))
for k in (\"dice\", \"jaccard\", \"thresholded_jaccard\"):
    assert math.isfinite(r[k]) and 0 <= r[k] <= 1, k
assert 0 <= r[\"failures\"] <= r[\"n\"] and r[\"thresholded_jaccard\"] <= r[\"jaccard\"] + 1e-12
" "$TMP/seg.json"'
check "evaluate --masks-out writes one mask PNG per test image" \
  '[ "$(ls "$TMP/masks" | grep -c "^ISIC_.*\.png$")" -eq "$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))[\"n\"])" "$TMP/seg.json")" ]'

IMG1=$(ls "$DATA"/images/*.jpg | head -1)
IMG2=$(ls "$DATA"/images/*.jpg | sed -n 2p)
"$CLI" analyze "$IMG1" --classifier "$M" --segmenter "$S" --mask-out "$TMP/mask.png" --json \
  >"$TMP/an.json" 2>"$TMP/an.err"; rc=$?
check "analyze --json exits 0" '[ $rc -eq 0 ]'
check "analyze: probabilities sum to 1, a predicted class, the mask written" \
  '$PY -c "
import json, sys
r = json.load(open(sys.argv[1]))[0]
assert abs(sum(r[\"probabilities\"].values()) - 1) < 1e-3
assert r[\"predicted\"] in r[\"probabilities\"]
assert \"measurements\" in r
m = r[\"measurements\"]
assert m is None or set(m[\"colors\"]) == {\"white\", \"red\", \"light_brown\", \"dark_brown\", \"blue_gray\", \"black\"}, m
" "$TMP/an.json" && [ -s "$TMP/mask.png" ]'
check "analyze: the class from the model's offsets, the flag from its risk threshold" \
  '$PY - "$TMP/an.json" "$TMP/info.json" <<PYEOF
import json, sys, math
r = json.load(open(sys.argv[1]))[0]
d = json.loads(json.load(open(sys.argv[2]))["metadata"]["decision"])
p = r["probabilities"]
score = {c: math.log(max(p[c], 1e-12)) + d["class_offsets"][c] for c in p}
assert r["predicted"] == max(score, key=score.get), (r["predicted"], score)
assert r["decision_rule"] == "class_offsets" and r["risk_threshold"] == d["risk_threshold"]
assert r["malignant_flag"] is (r["malignant_risk"] >= d["risk_threshold"]), r
PYEOF'
# Files and JSON never change with the user's language (LANGUAGE is honoured
# with the tests' C.UTF-8 locale; the catalogue comes from the build tree).
"$CLI" analyze "$IMG1" --classifier "$M" --segmenter "$S" --json >"$TMP/an-c.json" 2>/dev/null
LANGUAGE=de "$CLI" analyze "$IMG1" --classifier "$M" --segmenter "$S" --json >"$TMP/an-de.json" 2>/dev/null
LANGUAGE=de "$CLI" analyze "$IMG1" --classifier "$M" --segmenter "$S" >"$TMP/an-de.txt" 2>/dev/null
check "analyze --json is the same in German and in C, though the text is German" \
  'cmp -s "$TMP/an-c.json" "$TMP/an-de.json" && grep -q "vorhergesagt" "$TMP/an-de.txt"'
"$CLI" init-weights --arch resnet18 --image-size 32 --out "$TMP/fresh.safetensors" >/dev/null 2>&1
"$CLI" analyze "$IMG1" --classifier "$TMP/fresh.safetensors" --json >"$TMP/fresh.json" 2>/dev/null; rc=$?
check "a model without a decision rule: the arg-max, no flag (as before)" \
  '[ $rc -eq 0 ] && $PY - "$TMP/fresh.json" <<PYEOF
import json, sys
r = json.load(open(sys.argv[1]))[0]
p = r["probabilities"]
assert r["predicted"] == max(p, key=p.get)
assert not {"malignant_flag", "risk_threshold", "decision_rule"} & set(r), r
PYEOF'
# (a folder of its own: evaluate --masks-out filled $TMP/masks)
out=$("$CLI" analyze "$IMG1" "$IMG2" --classifier "$M" --segmenter "$S" --mask-out "$TMP/amasks"); rc=$?
check "analyze of two images writes a mask each into the folder" \
  '[ $rc -eq 0 ] && [ $(ls "$TMP/amasks" | wc -l) -eq 2 ] && echo "$out" | grep -q "predicted:"'
"$CLI" analyze "$TMP/none.jpg" --classifier "$M" >/dev/null 2>&1; rc=$?
check "analyze of a missing file exits 1" '[ $rc -eq 1 ]'

# ---- an ensemble (--folds): one file that classify, evaluate and analyze use
E="$TMP/ens.safetensors"
"$CLI" train --data "$DATA" --out "$E" --arch resnet18 --image-size 32 --epochs 1 --batch 16 \
  --limit 160 --seed 3 --folds 2 --json-log "$TMP/ens.jsonl" 2>"$TMP/ens.err"; rc=$?
check "train --folds 2 exits 0, names each member's epochs and leaves no member file" \
  '[ $rc -eq 0 ] && grep -q "^member 2/2, epoch 1/1 done" "$TMP/ens.err" && [ ! -e "$E.member0" ] && [ ! -e "$E.member1" ]'
[ $rc -eq 0 ] || sed 's/^/# /' "$TMP/ens.err"
out=$("$CLI" weights-info "$E"); rc=$?
check "weights-info names the ensemble's members" '[ $rc -eq 0 ] && echo "$out" | grep -q "^Ensemble: *2 members"'
out=$("$CLI" weights-info --card "$E"); rc=$?
check "the model card has the members and each alone on test" \
  '[ $rc -eq 0 ] && echo "$out" | grep -q "## Ensemble members" && echo "$out" | grep -q "the members. mean"'
"$CLI" evaluate --weights "$E" --data "$DATA" --json >"$TMP/ens-eval.json" 2>/dev/null; rc=$?
check "evaluate runs the ensemble with its decision rule" \
  '[ $rc -eq 0 ] && $PY - "$TMP/ens-eval.json" <<PYEOF
import json, sys
r = json.load(open(sys.argv[1]))
assert 0 <= r["balanced_accuracy"] <= 1 and "ci95" in r and "operating_point" in r, r
PYEOF'
"$CLI" analyze "$IMG1" --classifier "$E" --segmenter "$S" --json >"$TMP/ens-an.json" 2>/dev/null; rc=$?
check "analyze with the ensemble: probabilities sum to 1" \
  '[ $rc -eq 0 ] && $PY -c "
import json, sys
r = json.load(open(sys.argv[1]))[0]
assert abs(sum(r[\"probabilities\"].values()) - 1) < 1e-3
" "$TMP/ens-an.json"'
err=$("$CLI" train --data "$DATA" --out "$TMP/x.safetensors" --limit 160 --init "$E" --epochs 1 --image-size 32 --arch resnet18 2>&1); rc=$?
check "an ensemble starts a single network from its first member, and says so" '[ $rc -eq 0 ] && echo "$err" | grep -q "ensemble of 2 networks: this network starts from its member 1"'

# ---- patient context (--context): trained from the CSV's age, sex and site
C="$TMP/ctx.safetensors"
"$CLI" train --data "$DATA" --out "$C" --arch resnet18 --image-size 32 --epochs 1 --batch 16 \
  --limit 160 --seed 3 --context all 2>"$TMP/ctx.err"; rc=$?
check "train --context all exits 0 and says how much context is known" \
  '[ $rc -eq 0 ] && grep -q "^Patient context (age,sex,site): age known for" "$TMP/ctx.err"'
[ $rc -eq 0 ] || sed 's/^/# /' "$TMP/ctx.err"
out=$("$CLI" weights-info "$C"); rc=$?
check "the model file says it takes context, and which fields" \
  '[ $rc -eq 0 ] && echo "$out" | grep -q "^  context  *age,sex,site$"'
"$CLI" train --data "$DATA" --out "$TMP/x.safetensors" --context age,dx_type >/dev/null 2>&1; rc=$?
check "dx_type is no context field: exit 2" '[ $rc -eq 2 ]'
"$CLI" train --data "$DATA" --out "$TMP/x.safetensors" --task segment --context all >/dev/null 2>&1; rc=$?
check "a segmenter takes no context: exit 2" '[ $rc -eq 2 ]'
"$CLI" analyze "$IMG1" --classifier "$C" --age 70 --sex male --site back --json >"$TMP/ctx-an.json" 2>/dev/null; rc=$?
check "analyze --age --sex --site: the context used and the probabilities without it" \
  '[ $rc -eq 0 ] && $PY -c "
import json, sys
r = json.load(open(sys.argv[1]))[0]
c = r[\"context\"]
assert c[\"fields\"] == \"age,sex,site\", c
assert (c[\"age\"], c[\"sex\"], c[\"site\"]) == (70, \"male\", \"back\"), c
assert abs(sum(c[\"probabilities_without\"].values()) - 1) < 1e-3, c
assert abs(sum(r[\"probabilities\"].values()) - 1) < 1e-3
" "$TMP/ctx-an.json"'
"$CLI" analyze "$IMG1" --classifier "$C" --json >"$TMP/ctx-none.json" 2>/dev/null; rc=$?
check "analyze without context: no field used, no second pass" \
  '[ $rc -eq 0 ] && $PY -c "
import json, sys
c = json.load(open(sys.argv[1]))[0][\"context\"]
assert c[\"fields\"] == \"\" and c[\"age\"] is None and c[\"site\"] == \"unknown\", c
assert \"probabilities_without\" not in c, c
" "$TMP/ctx-none.json"'
err=$("$CLI" classify -w "$C" --site elbow "$IMG1" 2>&1); rc=$?
check "a body site outside HAM10000's words exits 2 and lists them" '[ $rc -eq 2 ] && echo "$err" | grep -q "lower extremity"'
err=$("$CLI" classify -w "$M" --age 50 "$IMG1" 2>&1); rc=$?
check "an image-only model says the context is ignored" '[ $rc -eq 0 ] && echo "$err" | grep -q "takes the image alone"'
"$CLI" evaluate --weights "$C" --data "$DATA" --json >"$TMP/ctx-eval.json" 2>/dev/null \
  && "$CLI" evaluate --weights "$C" --data "$DATA" --context none --json >"$TMP/ctx-eval0.json" 2>/dev/null; rc=$?
check "evaluate reads the context from the CSV, and --context none leaves it out" \
  '[ $rc -eq 0 ] && $PY - "$TMP/ctx-eval.json" "$TMP/ctx-eval0.json" <<PYEOF
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["context"] == "age,sex,site" and b["context"] == "", (a["context"], b["context"])
assert 0 <= a["balanced_accuracy"] <= 1 and 0 <= b["balanced_accuracy"] <= 1
PYEOF'
"$CLI" evaluate --weights "$M" --data "$DATA" --context none >/dev/null 2>&1; rc=$?
check "evaluate --context on an image-only model exits 2" '[ $rc -eq 2 ]'

# ---- self-supervised pretraining, then a classifier from its start
P="$TMP/start.safetensors"
"$CLI" pretrain --data "$DATA" --out "$P" --arch resnet18 --image-size 32 --epochs 1 --batch 16 \
  --limit 160 --seed 3 --json-log "$TMP/pre.jsonl" 2>"$TMP/pre.err"; rc=$?
check "pretrain exits 0 on the training split only and leaves no checkpoint" \
  '[ $rc -eq 0 ] && grep -q "^Pretraining on [0-9]* images: .*no validation or test image" "$TMP/pre.err" && [ ! -e "$P.ckpt" ]'
[ $rc -eq 0 ] || sed 's/^/# /' "$TMP/pre.err"
out=$("$CLI" weights-info "$P"); rc=$?
check "the start file says how it was pretrained" \
  '[ $rc -eq 0 ] && echo "$out" | grep -q "pretrained .*\"method\":\"simsiam\".*\"ham10000_training_images\""'
check "the JSON log has its epochs with the projections' spread" \
  'grep -q "\"event\":\"epoch\".*projection_spread" "$TMP/pre.jsonl"'
err=$("$CLI" train --data "$DATA" --out "$TMP/x.safetensors" --arch resnet18 --image-size 32 --epochs 1 \
  --batch 16 --limit 160 --seed 3 --init "$P" 2>&1); rc=$?
check "train --init from it on the same split says the start saw its training images only" \
  '[ $rc -eq 0 ] && echo "$err" | grep -q "was pretrained on this split.s training images only"'
err=$("$CLI" train --data "$DATA" --out "$TMP/x.safetensors" --arch resnet18 --image-size 32 --epochs 1 \
  --batch 16 --limit 160 --seed 4 --init "$P" 2>&1); rc=$?
check "... and on another split warns that its test metrics will be optimistic" \
  '[ $rc -eq 0 ] && echo "$err" | grep -q "^Warning: .*pretrained on another split"'
err=$("$CLI" train --data "$DATA" --out "$TMP/x.safetensors" --arch resnet18 --image-size 32 --epochs 1 \
  --batch 16 --limit 160 --seed 4 --split-seed 3 --init "$P" --train-fraction 0.25 2>&1); rc=$?
check "--split-seed keeps the start's split; --train-fraction 0.25 trains on a quarter of it" \
  '[ $rc -eq 0 ] && echo "$err" | grep -q "pretrained on this split.s training images only" && echo "$err" | grep -q "^Training on [0-9]* of the [0-9]* training images (about 25 %"'
# Ctrl-C after the first epoch leaves a checkpoint; --resume finishes the run.
Q="$TMP/pre2.safetensors"
"$CLI" pretrain --data "$DATA" --out "$Q" --arch resnet18 --image-size 32 --epochs 8 --batch 16 \
  --limit 100 --seed 5 --checkpoint-every 0 --json-log "$TMP/q.jsonl" 2>"$TMP/q.err" &
pid=$!
i=0
while [ $i -lt 600 ] && ! grep -q '"event":"checkpoint"' "$TMP/q.jsonl" 2>/dev/null; do
  sleep 0.2; i=$((i+1))
done
kill -INT $pid
wait $pid; rc=$?
if [ $rc -eq 0 ]; then
  ok "# SKIP the pretraining ended before Ctrl-C arrived"
else
  check "Ctrl-C stops pretraining with status 130, a checkpoint and how to resume" \
    '[ $rc -eq 130 ] && [ -s "$Q.ckpt" ] && grep -q -- "--resume" "$TMP/q.err"'
  "$CLI" pretrain --data "$DATA" --out "$Q" --arch resnet18 --image-size 32 --epochs 8 --batch 16 \
    --limit 100 --seed 5 --resume "$Q.ckpt" 2>"$TMP/q2.err"; rc=$?
  check "pretrain --resume finishes the run" \
    '[ $rc -eq 0 ] && [ -s "$Q" ] && [ ! -e "$Q.ckpt" ] && grep -q "resumed from" "$TMP/q2.err"'
fi
"$CLI" pretrain --data "$DATA" --out "$TMP/x.safetensors" --arch unet >/dev/null 2>&1; rc=$?
check "pretrain --arch unet exits 2" '[ $rc -eq 2 ]'
"$CLI" train --data "$DATA" --out "$TMP/x.safetensors" --train-fraction 1.5 >/dev/null 2>&1; rc=$?
check "--train-fraction above 1 exits 2" '[ $rc -eq 2 ]'

echo "1..$n"
exit $fail

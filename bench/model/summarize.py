#!/usr/bin/env python3
"""bench/model/summarize.py OUT_DIR: the ablation table (Markdown) from the
runs bench/model/ablation.sh wrote there: per recipe, the mean and standard
deviation over seeds of the test metrics the model's own decision rule gives
(balanced accuracy, melanoma recall), the arg-max's balanced accuracy, macro
AUC, ECE, the operating point's sensitivity and specificity, and the
training minutes; then one line per run with its 95% lesion-bootstrap
intervals; then each class's recall per recipe (a model trained with
--context also as it does with every context field missing, from
RUN.nocontext.eval.json); then, for ensembles (train --folds K), each member alone on the
test split beside the ensemble (from the model file's "metrics" metadata).
Standard library only."""
import glob
import json
import os
import statistics
import sys


def load(out):
    runs = {}
    for path in sorted(glob.glob(os.path.join(out, "*.run.json"))):
        base = path[: -len(".run.json")]
        try:
            with open(path) as f:
                run = json.load(f)
            with open(base + ".eval.json") as f:
                ev = json.load(f)
        except (OSError, ValueError) as e:
            print(f"skipping {base}: {e}", file=sys.stderr)
            continue
        run["eval"] = ev
        runs.setdefault(run["recipe"], []).append(run)
        # A model with patient context, evaluated again with every field missing.
        try:
            with open(base + ".nocontext.eval.json") as f:
                nc = dict(run, eval=json.load(f))
            runs.setdefault(run["recipe"] + ", every context field missing", []).append(nc)
        except (OSError, ValueError):
            pass
    return runs


def model_metadata(path):
    """The __metadata__ of a safetensors file (header only)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n)).get("__metadata__", {})


def metric(ev, key):
    op = ev.get("operating_point") or {}
    per = ev.get("per_class") or {}
    value = {
        "ba": ev.get("balanced_accuracy"),
        "ba_argmax": ev.get("argmax_balanced_accuracy", ev.get("balanced_accuracy")),
        "mel": (per.get("MEL") or {}).get("recall"),
        "auc": ev.get("macro_auc"),
        "ece": ev.get("ece"),
        "sens": op.get("sensitivity"),
        "spec": op.get("specificity"),
    }[key]
    return value if isinstance(value, (int, float)) else None


def mean_sd(values, digits=3):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    m = statistics.fmean(values)
    if len(values) == 1:
        return f"{m:.{digits}f} (1 seed)"
    return f"{m:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def interval(ev, key):
    ci = ev.get("ci95") or {}
    v = ci.get(key) if key != "mel" else (ci.get("recall") or {}).get("MEL")
    return f"{v[0]:.3f}–{v[1]:.3f}" if v else "-"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    runs = load(sys.argv[1])
    if not runs:
        sys.exit(f"no finished runs in {sys.argv[1]}")
    print("| recipe | seeds | balanced accuracy | MEL recall | BA arg-max | macro AUC | ECE "
          "| flag sensitivity | flag specificity | train min |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for recipe, rs in runs.items():
        evs = [r["eval"] for r in rs]
        cells = [mean_sd([metric(e, k) for e in evs]) for k in
                 ("ba", "mel", "ba_argmax", "auc", "ece", "sens", "spec")]
        minutes = mean_sd([r["train_seconds"] / 60 for r in rs], 1)
        seeds = ",".join(str(r["seed"]) for r in rs)
        print(f"| {recipe} | {seeds} | " + " | ".join(cells) + f" | {minutes} |")
    print()
    print("| run | options | balanced accuracy (95% CI) | MEL recall (95% CI) | macro AUC (95% CI) "
          "| ECE (95% CI) |")
    print("|---|---|---|---|---|---|")
    for recipe, rs in runs.items():
        for r in rs:
            e = r["eval"]
            def cell(k, name):
                v = metric(e, k)
                return f"{v:.3f} ({interval(e, name)})" if v is not None else "-"
            print(f"| {recipe} s{r['seed']} | `{r['options'] or '(defaults)'}` | "
                  f"{cell('ba', 'balanced_accuracy')} | {cell('mel', 'mel')} | "
                  f"{cell('auc', 'macro_auc')} | {cell('ece', 'ece')} |")
    print()
    classes = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")
    print("| recipe (recall, mean ± sd over seeds) | " + " | ".join(classes) + " |")
    print("|---|" + "---|" * len(classes))
    for recipe, rs in runs.items():
        cells = [mean_sd([((r["eval"].get("per_class") or {}).get(c) or {}).get("recall") for r in rs], 2)
                 for c in classes]
        print(f"| {recipe} | " + " | ".join(cells) + " |")
    ensembles = []
    for recipe, rs in runs.items():
        for r in rs:
            path = os.path.join(sys.argv[1], f"{recipe}-s{r['seed']}.safetensors")
            try:
                m = json.loads(model_metadata(path).get("metrics", "{}"))
            except (OSError, ValueError):
                continue
            if m.get("members"):
                ensembles.append((recipe, r, m))
    if not ensembles:
        return
    print()
    print("| run | members | member BA arg-max (mean ± sd) | ensemble BA arg-max | gain "
          "| member macro AUC | ensemble macro AUC | member MEL recall | ensemble MEL recall (arg-max) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for recipe, r, m in ensembles:
        members = m["members"]
        ba = [x["balanced_accuracy"] for x in members]
        auc = [x["macro_auc"] for x in members]
        mel = [x["melanoma_recall"] for x in members]
        ens_ba = m.get("argmax_balanced_accuracy", m["balanced_accuracy"])
        ens_mel = m.get("argmax_recall_MEL", (m.get("per_class") or {}).get("MEL", {}).get("recall"))
        print(f"| {recipe} s{r['seed']} | {len(members)} | {mean_sd(ba)} | {ens_ba:.3f} | "
              f"{ens_ba - statistics.fmean(ba):+.3f} | {mean_sd(auc)} | {m['macro_auc']:.3f} | "
              f"{mean_sd(mel)} | {ens_mel:.3f} |")


if __name__ == "__main__":
    main()

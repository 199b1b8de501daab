"""Benchmark: atomic-column finding by atom_fcn vs the classical LoG baseline on every split of ``stem_atom_columns``.

For each split (every split but train): precision, recall, F1 (match radius 0.5 A, one to
one) and localization RMSE [pm] of both methods; then per class (recall, class-aware F1,
RMSE by true class), per dose (half decades), per detector and per lattice; and the RMSE
ratio baseline / atom_fcn in the lowest dose bin, over each method's own matches and over
the columns both matched (the fair comparison: the baseline misses the faint light columns,
whose errors are the largest). Columns within 2 px of the edge are not scored (see ``stem_zoo.tasks.atoms.metrics``).
Both methods are told each image's detector (HAADF: bright columns, ABF: inverted).
``--tune`` picks the baseline's column width and threshold by F1 on the validation split first.

    python bench/bench_atom_finding.py [--config small] [--model atom_fcn | runs/atom_fcn/model.keras] [--data-dir DIR]
        [--splits test test_low_dose] [--limit 200] [--tune] [--out bench_atoms]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

METRICS = ("precision", "recall", "f1", "rmse_pm")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="small")
    parser.add_argument("--model", default="atom_fcn",
                        help="zoo id, model folder, hf://owner/name, or a training run's .keras file")
    parser.add_argument("--task", default="atom_fcn", help="the zoo entry (dataset, input spec) of a .keras file")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--splits", nargs="*", default=None, help="default: every split but train")
    parser.add_argument("--limit", type=int, default=None, help="at most this many examples per split")
    parser.add_argument("--column-width", type=float, default=0.8, help="LoG baseline: column FWHM [A]")
    parser.add_argument("--log-threshold", type=float, default=0.1, help="LoG baseline: relative peak threshold")
    parser.add_argument("--tune", action="store_true", help="tune the baseline on the validation split first")
    parser.add_argument("--out", default="bench_atoms")
    args = parser.parse_args(argv)

    from stem_zoo import data
    from stem_zoo.hub import load
    from stem_zoo.tasks.atoms.locate import LoGBaseline
    from stem_zoo.registry import get_entry

    model = load(args.model, task="atoms")
    zoo = getattr(model, "zoo", None)
    entry = zoo.entry if zoo else get_entry(args.task)  # a run's .keras file: the task's entry
    builder = data.load_builder(entry.dataset, args.config, args.data_dir)
    splits = args.splits or [s for s in builder.info.splits if s != "train"]
    baseline = LoGBaseline(column_width_A=args.column_width, threshold=args.log_threshold)
    if args.tune:
        baseline = tune_baseline(baseline, builder, entry, args.limit)
    result = run({"atom_fcn": model, "log_baseline": baseline}, builder, entry, splits, args.limit)
    result["baseline"] = {k: getattr(baseline, k) for k in ("column_width_A", "min_separation_A", "threshold")}
    result["dataset"] = f"{entry.dataset}/{args.config}:{builder.info.version}"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "atom_finding.json").write_text(json.dumps(result["metrics"], indent=1))
    (out / "atom_finding.md").write_text(result["report"])
    print(result["report"])
    print(f"written to {out}/atom_finding.md and .json")


def _examples(builder, split: str, entry, limit: int | None):
    from stem_zoo import data

    ds = data.examples(builder, split, entry)
    return ds.take(limit) if limit else ds


def tune_baseline(baseline, builder, entry, limit: int | None = None,
                  widths=(0.6, 0.8, 1.0), thresholds=(0.05, 0.1, 0.2)):
    """The baseline with the column width and threshold of best F1 on the validation split (first 64 examples)."""
    from dataclasses import replace

    from stem_zoo.tasks.atoms.metrics import score_examples, summarize

    examples = list(_examples(builder, "validation", entry, min(limit or 64, 64)).as_numpy_iterator())
    best, best_f1 = baseline, -1.0
    for width in widths:
        for threshold in thresholds:
            candidate = replace(baseline, column_width_A=width, threshold=threshold)
            f1 = summarize([r["counts"] for r in score_examples(candidate, examples, entry,
                                                                features=builder.info.features)])["f1"]
            print(f"LoG width {width} A, threshold {threshold}: validation F1 {f1:.3f}")
            if f1 > best_f1:
                best, best_f1 = candidate, f1
    print(f"chosen: width {best.column_width_A} A, threshold {best.threshold}")
    return best


def run(methods: dict, builder, entry, splits, limit: int | None = None) -> dict:
    """Scores of every method on every split: {"metrics": nested dict, "report": markdown}."""
    from stem_zoo.tasks.atoms.metrics import common_rmse, group_metrics, score_examples, summarize

    records = {}
    for split in splits:
        examples = list(_examples(builder, split, entry, limit).as_numpy_iterator())
        for name, method in methods.items():
            start = time.perf_counter()
            records[name, split] = score_examples(method, examples, entry, features=builder.info.features)
            print(f"{name} on {split}: {len(examples)} images in {time.perf_counter() - start:.1f} s")
    metrics = {name: {split: {"all": summarize([r["counts"] for r in records[name, split]]),
                              "by_dose": group_metrics(records[name, split], "dose"),
                              "by_detector": group_metrics(records[name, split], "detector"),
                              "by_lattice": group_metrics(records[name, split], "lattice")}
                      for split in splits} for name in methods}
    lines = [f"# Atomic-column finding on `{builder.name}`", ""]
    lines += _split_table(metrics, splits)
    for split in splits:
        lines += [f"## {split}", ""]
        lines += _class_table(metrics, split)
        for key, label in (("by_dose", "dose [e/A^2]"), ("by_detector", "detector"), ("by_lattice", "lattice")):
            lines += _group_table(metrics, split, key, label)
    names = list(methods)
    if len(names) == 2:
        lines += _lowest_dose(records, metrics, names, splits, common_rmse)
    return {"metrics": metrics, "report": "\n".join(lines) + "\n"}


def _fmt(value, digits: int = 3) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def _split_table(metrics, splits) -> list[str]:
    lines = ["## Every split: precision / recall / F1 / RMSE [pm]", "",
             "| split | method | n images | precision | recall | F1 | RMSE [pm] | class accuracy |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for split in splits:
        for name, by_split in metrics.items():
            m = by_split[split]["all"]
            lines.append(f"| {split} | {name} | {m['n']} | {_fmt(m['precision'])} | {_fmt(m['recall'])} | "
                         f"{_fmt(m['f1'])} | {_fmt(m['rmse_pm'], 1)} | {_fmt(m.get('class_accuracy'))} |")
    return lines + [""]


def _class_table(metrics, split) -> list[str]:
    lines = ["Per class (of the true column): detection recall / RMSE [pm]", "",
             "| class | n true | " + " | ".join(metrics) + " |",
             "| --- | --- | " + " | ".join("---" for _ in metrics) + " |"]
    classes = sorted({c for by_split in metrics.values() for c in by_split[split]["all"]["per_class"]})
    for c in classes:
        cells, n_true = [], 0
        for by_split in metrics.values():
            m = by_split[split]["all"]["per_class"].get(c, {})
            n_true = max(n_true, m.get("n_true", 0))
            recall = m.get("detection_recall")
            cells.append(f"{_fmt(recall)} / {_fmt(m.get('rmse_pm'), 1)}")
        lines.append(f"| {c} | {n_true} | " + " | ".join(cells) + " |")
    return lines + [""]


def _group_table(metrics, split, key: str, label: str) -> list[str]:
    values = []
    for by_split in metrics.values():
        values += [v for v in by_split[split][key] if v not in values]
    lines = [f"By {label}: F1 / RMSE [pm] (n images)", "",
             f"| {label} | " + " | ".join(metrics) + " |", "| --- | " + " | ".join("---" for _ in metrics) + " |"]
    for v in values:
        cells = []
        for by_split in metrics.values():
            m = by_split[split][key].get(v)
            cells.append(f"{_fmt(m['f1'])} / {_fmt(m['rmse_pm'], 1)} ({m['n']})" if m else "-")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return lines + [""]


def _lowest_dose(records, metrics, names, splits, common_rmse) -> list[str]:
    """RMSE ratio baseline / atom_fcn over the images in the lowest dose bin (all splits but validation pooled)."""
    from stem_zoo.tasks.atoms.metrics import dose_bin, summarize

    scored = [s for s in splits if s != "validation"] or list(splits)
    doses = sorted({float(r["features"]["dose"]) for s in scored for r in records[names[0], s]})
    if not doses:
        return []
    low = dose_bin(doses[0])
    pick = {n: [r for s in scored for r in records[n, s] if dose_bin(float(r["features"]["dose"])) == low]
            for n in names}

    own = {n: summarize([r["counts"] for r in pick[n]]) for n in names}
    fcn, base, n_common = common_rmse(pick[names[0]], pick[names[1]])
    ratio_own = own[names[1]]["rmse_pm"] / own[names[0]]["rmse_pm"] if own[names[0]]["rmse_pm"] else float("nan")
    ratio_common = base / fcn if fcn else float("nan")
    return [f"## Lowest dose ({low} e/A^2: {own[names[0]]['n']} images of {', '.join(scored)})", "",
            f"| | {names[0]} | {names[1]} | ratio {names[1]} / {names[0]} |", "| --- | --- | --- | --- |",
            f"| F1 | {_fmt(own[names[0]]['f1'])} | {_fmt(own[names[1]]['f1'])} | |",
            f"| RMSE [pm], own matches | {_fmt(own[names[0]]['rmse_pm'], 1)} ({own[names[0]]['tp']}) | "
            f"{_fmt(own[names[1]]['rmse_pm'], 1)} ({own[names[1]]['tp']}) | {_fmt(ratio_own, 2)} |",
            f"| RMSE [pm], columns both matched | {_fmt(fcn, 1)} ({n_common}) | {_fmt(base, 1)} ({n_common}) | "
            f"{_fmt(ratio_common, 2)} |", ""]


if __name__ == "__main__":
    main()

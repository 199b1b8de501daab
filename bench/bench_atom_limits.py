"""Benchmark: what each ``stem_atom_columns`` image can determine, and where atom_fcn and LoG stand against it.

For every image of the evaluation splits the noise-free recorded image is made again from the
recipe and the PRISM cache (:func:`stem_atom_columns.recipe.unit_examples`; from the cache the
build filled, the noisy images are the dataset's own), and each column the image shows gets

- its detection SNR (:func:`stem_zoo.tasks.atoms.limits.detection_snr`): a detector that looks
  at one column at a time cannot tell a column under SNR ~3 from a noise peak;
- the Cramer-Rao bound of its position (:func:`stem_zoo.tasks.atoms.limits.position_crb`).

Printed per split: the share of shown columns above SNR 3 and 5 (and the F1 a detector with no
false positives reaches if it finds exactly the columns above 3), each method's recall by SNR
bin (misses at high SNR are the method's, at low SNR the data's), and at the lowest dose the
methods' RMSE on the columns both find against the rms bound there.

    python bench/bench_atom_limits.py [--config small] [--model atom_fcn | runs/atom_fcn/model.keras]
        [--splits test test_low_dose] [--out bench_atoms]

Regenerating the noise-free images takes seconds per structure with a warm PRISM cache (the
one ``stem-datasets build`` filled), and as long as the build without it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

SNR_BINS = (0.0, 1.0, 2.0, 3.0, 5.0, 10.0, np.inf)
EVAL_SPLITS = ("validation", "test", "test_unseen_lattice", "test_low_dose")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="small")
    parser.add_argument("--model", default="atom_fcn", help="zoo id, model folder, or a training run's .keras file")
    parser.add_argument("--splits", nargs="*", default=list(EVAL_SPLITS))
    parser.add_argument("--column-width", type=float, default=1.0, help="LoG baseline: column FWHM [A]")
    parser.add_argument("--log-threshold", type=float, default=0.05, help="LoG baseline: relative peak threshold")
    parser.add_argument("--out", default="bench_atoms")
    args = parser.parse_args(argv)

    from stem_datasets.builders.stem_atom_columns.recipe import get_recipe, unit_examples
    from stem_datasets.simulation.cache import SimulationCache
    from stem_zoo.hub import load
    from stem_zoo.tasks.atoms.locate import LoGBaseline, locate_atoms

    recipe = get_recipe(args.config)
    model = load(args.model, task="atoms")
    methods = {"atom_fcn": lambda image, px, detector: locate_atoms(image, model, pixel_size=px, detector=detector),
               "log_baseline": LoGBaseline(column_width_A=args.column_width, threshold=args.log_threshold).locate}
    cache = SimulationCache()
    columns = []
    for split in args.splits:
        start = time.perf_counter()
        for unit in recipe.units(split):
            for _, example, clean in unit_examples(recipe, split, unit, cache):
                columns += image_columns(example, clean, methods, split)
        print(f"{split}: {time.perf_counter() - start:.0f} s", flush=True)
    report = limits_report(columns, list(methods), args.config)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "atom_limits.json").write_text(json.dumps(columns))
    (out / "atom_limits.md").write_text(report)
    print(report)


def image_columns(example: dict, clean: np.ndarray, methods: dict, split: str) -> list[dict]:
    """One row per shown column inside the scoring border: SNR, bound, and each method's match and error [pm]."""
    from stem_zoo.tasks.atoms.limits import detection_snr, position_crb
    from stem_zoo.tasks.atoms.metrics import BORDER_PX, MATCH_RADIUS_A, inside, match_columns

    image = np.asarray(example["image"], np.float32)[..., 0]
    px, dose, detector = float(example["pixel_size"]), float(example["dose"]), str(example["detector"])
    xy = example["columns_xy"][example["columns_class"] > 0]
    snr = np.nan_to_num(detection_snr(clean, xy, dose, px), nan=np.inf)  # no noise where nothing is recorded
    crb = position_crb(clean, xy, dose, px)
    found = {}
    for name, locate in methods.items():
        pred = locate(image, px, detector).xy
        ti, pi, distance = match_columns(xy, pred, MATCH_RADIUS_A / px)
        error = np.full(len(xy), np.nan)
        error[ti] = distance * px * 100.0
        found[name] = error
    keep = inside(xy, image.shape, BORDER_PX)
    return [{"split": split, "lattice": str(example["lattice"]), "detector": detector, "dose": dose,
             "snr": float(snr[i]), "crb_pm": float(crb[i]), **{n: float(found[n][i]) for n in methods}}
            for i in np.flatnonzero(keep)]


def limits_report(columns: list[dict], names: list[str], config: str) -> str:
    """Markdown: per split the SNR shares, recall by SNR bin, and the lowest dose's RMSE against the bound."""
    from stem_zoo.tasks.atoms.metrics import dose_bin

    lines = [f"# What `stem_atom_columns/{config}` images determine", ""]
    for split in dict.fromkeys(c["split"] for c in columns):
        rows = [c for c in columns if c["split"] == split]
        snr = np.array([c["snr"] for c in rows])
        found = {n: np.isfinite([c[n] for c in rows]) for n in names}
        share3, share5 = float(np.mean(snr >= 3)), float(np.mean(snr >= 5))
        lines += [f"## {split}: {len(rows)} shown columns", "",
                  f"SNR >= 3: {share3:.3f}, >= 5: {share5:.3f}; a detector with no false positives finding exactly "
                  f"the columns above 3 scores F1 {2 * share3 / (1 + share3):.3f}. "
                  + "; ".join(f"{n} recall {found[n].mean():.3f}" for n in names) + ".", "",
                  "| detection SNR | n | " + " | ".join(f"{n} recall" for n in names) + " |",
                  "| --- | --- | " + " | ".join("---" for _ in names) + " |"]
        for lo, hi in zip(SNR_BINS[:-1], SNR_BINS[1:]):
            sel = (snr >= lo) & (snr < hi)
            if sel.any():
                lines.append(f"| {lo:g}-{hi:g} | {sel.sum()} | "
                             + " | ".join(f"{found[n][sel].mean():.3f}" for n in names) + " |")
        lines.append("")
    scored = [c for c in columns if c["split"] != "validation"]
    if scored:
        low = dose_bin(min(c["dose"] for c in scored))
        rows = [c for c in scored if dose_bin(c["dose"]) == low and all(np.isfinite(c[n]) for n in names)]
        rms = lambda v: float(np.sqrt(np.mean(np.square(v)))) if len(v) else float("nan")  # noqa: E731
        bound = rms([c["crb_pm"] for c in rows])
        lines += [f"## Lowest dose ({low} e/A^2, every split but validation): the {len(rows)} columns every method "
                  "found", "", "| | RMSE [pm] | / Cramer-Rao bound |", "| --- | --- | --- |",
                  f"| Cramer-Rao bound (rms) | {bound:.1f} | 1.00 |"]
        lines += [f"| {n} | {rms([c[n] for c in rows]):.1f} | {rms([c[n] for c in rows]) / bound:.2f} |"
                  for n in names]
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

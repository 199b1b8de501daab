"""``tilt_dcnn``'s part of ``stem-zoo report``, and its release.

The benchmark on every split, by dose, pattern and thickness, against the goals and the physical
limit (MLE and Cramer-Rao bound), the calibration of its std with a reliability figure, and the
tilt map of a stitched two-domain micrograph with its check (:func:`two_domain_check`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from stem_zoo.tasks.tilt.model import TRAIN_DOSE_RANGE, TRAIN_IMPERFECTIONS
from stem_zoo.tasks.tilt.uncertainty import CALIBRATED, RELIABILITY_LEVELS, STD_BASIS, decode_outputs, fit_std_scale
def report(entries, out_dir: str | Path, config: str, data_dir: str | None = None) -> list[Path]:
    """``stem-zoo report``'s part for the models of this module: one :func:`write_zoo_report` each."""
    return [write_zoo_report(config, out_dir, entry.id, data_dir) for entry in entries]


GOALS_DEG = {"test_multislice": 1.0, "test_unseen_thickness": 1.5, "test_imperfect": 2.0, "test_unseen_material": 2.0}
GOAL_DOSE = 1e4  # e-/A^2: the dose of the goals
GOAL_BOUND_FACTOR = 3.0  # test_multislice: RMSE at most this many times the bound (thickness, shift, magnification unknown)
SCORED = ("alpha", "beta", "gamma", "alpha_plus_beta", "beta_minus_alpha")  # canonical angles, determinable combinations
TWO_DOMAINS = ((6.0, -4.0, 8.0), (3.0, 5.0, -2.0))  # a-b-c-, both canonical (alpha + beta > 0)


def write_zoo_report(config: str, out_dir: str | Path, model_id: str = "tilt_dcnn", data_dir: str | None = None,
                     model=None) -> Path:
    """Benchmark ``model_id`` (or a loaded zoo ``model``) on ``stem_abf_tilt/<config>`` (by dose, pattern and thickness;
    goals; calibration; the MLE baseline and the bound) and map a stitched two-domain micrograph."""
    from stem_zoo.benchmarking import benchmark
    from stem_zoo.hub import load

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model if model is not None else load(model_id)
    model_id = model.zoo.entry.id
    by_dose = benchmark(model, config=config, data_dir=data_dir, out_dir=out, by="dose")
    by_pattern = benchmark(model, config=config, data_dir=data_dir, by=("dose", "pattern"))
    by_thickness = benchmark(model, config=config, data_dir=data_dir, by=("dose", "thickness_nm"))
    mle_rows, limit_lines = physics_limit_section(model, config, data_dir, out, by_dose)
    record = {"by_dose": by_dose, "by_pattern": by_pattern, "by_thickness": by_thickness, "mle": mle_rows}
    (out / f"{model_id}_{config}_record.json").write_text(json.dumps(
        {k: ({kk: vv for kk, vv in v.items() if kk != "leaderboard"} if isinstance(v, dict) else v) for k, v in record.items()},
        indent=1))
    check, map_lines = two_domain_section(model, config, out)
    goals = goal_rows(by_dose, mle_rows)
    lines = [
        f"# {model_id} on stem_abf_tilt/{config}", "",
        f"Model source: `{model.zoo.source}`; trained on `{model.zoo.entry.dataset}/{model.zoo.entry.dataset_config}` "
        f"{model.zoo.entry.dataset_version}; {by_dose['parameters']:,} parameters. Scores: predictions aligned to their "
        "labels' orbits (the [1-10] mirror, the shift), canonical angles and the determinable combinations.", "",
        by_dose["leaderboard"], "",
        *goal_section(goals),
        *grouped_sections(by_pattern, by_thickness),
        *calibration_section(model, by_dose, mle_rows, out, config),
        *limit_lines,
        *map_lines,
    ]
    path = out / f"{model_id}_{config}.md"
    path.write_text("\n".join(lines))
    return path


# --- release: calibrate a training run, benchmark it, write the packaged folder and its card -------------------------


def split_predictions(model, builder, split: str, entry) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(labels, raw model outputs, patterns) of every example of a split."""
    from stem_zoo import data

    trues, raws, patterns = [], [], []
    for inputs, labels, extra in data.eval_pipeline(builder, split, entry, 256, keep=("pattern",)):
        raws.append(np.asarray(model.predict_on_batch(inputs)))
        trues.append(labels.numpy())
        patterns += [p.decode() for p in extra["pattern"].numpy()]
    return np.concatenate(trues), np.concatenate(raws), patterns


def release(run_dir: str | Path, config: str = "small", data_dir: str | None = None, hub_revision: str = "v0.2.0",
            report_dir: str | Path = "report") -> Path:
    """Calibrate the std of a training run's model on the validation split, benchmark it (:func:`write_zoo_report`)
    and write the packaged ``tilt_dcnn`` folder whose entry and card carry the benchmark's numbers.

    The std scale per quantity of :data:`STD_BASIS` puts 68.27% of the validation z-scores
    (every dose) inside 1 (:func:`fit_std_scale`); test_multislice then checks it.
    """
    import dataclasses
    import shutil
    import tempfile

    import keras

    from stem_zoo import data, hub
    from stem_zoo.registry import get_entry

    run = Path(run_dir)
    training = json.loads((run / "training.json").read_text())
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    old = get_entry("tilt_dcnn")
    builder = data.load_builder(old.dataset, config, data_dir)
    true, raw, patterns = split_predictions(model, builder, "validation", old)
    means, stds = decode_outputs(raw)
    scale = fit_std_scale(true, means, stds, patterns)
    settings = training["settings"]
    entry = dataclasses.replace(
        old, dataset_config=config, dataset_version=str(builder.info.version), metrics={}, metrics_version="",
        metrics_other_versions={}, hub_revision=hub_revision, card_notes="",
        uncertainty={"kind": "gaussian", "basis": list(STD_BASIS), "std_scale": [round(float(v), 4) for v in scale],
                     "calibrated_on": f"{old.dataset}/{config}:{builder.info.version} validation (every dose)",
                     "description": "The Gaussian head's std of alpha + beta, beta - alpha and gamma (alpha and beta: "
                                    "half their root sum of squares), scaled per quantity by std_scale so that 68.27% "
                                    f"of the validation errors lie within one std (scales {np.round(scale, 3).tolist()})."},
        training={"trainer": f"stem-zoo train tilt_dcnn --config {config} --epochs {settings['epochs']} --batch-size "
                             f"{settings['batch_size']} --steps-per-epoch {settings['steps_per_epoch']} --learning-rate "
                             f"{settings['learning_rate']} --decay-every {settings['decay_every_epochs']} --seed {settings['seed']}",
                  "loss": "beta-NLL (beta = 1/2) of the canonical labels in (alpha + beta, beta - alpha, gamma)",
                  "optimizer": f"Adam({settings['learning_rate']:g}), halved every {settings['decay_every_epochs']} epochs",
                  "augmentation": f"stem_datasets.pipeline.augment defaults but {TRAIN_IMPERFECTIONS}; Poisson noise at a dose "
                                  f"log-uniform in {TRAIN_DOSE_RANGE} e/A^2",
                  "epochs": settings["epochs"], "steps_per_epoch": settings["steps_per_epoch"],
                  "global_batch": settings["batch_size"], "l2": 1e-4, "replicas": training["replicas"],
                  "hardware": training["hardware"], "train_seconds": training["train_seconds"],
                  "dataset": training["dataset"]})
    with tempfile.TemporaryDirectory() as tmp:
        staged = hub.load_folder(hub.stage(model, entry, Path(tmp) / "tilt_dcnn", entry.hub_repo))
        path = write_zoo_report(config, report_dir, data_dir=data_dir, model=staged)
    record = json.loads((Path(report_dir) / f"tilt_dcnn_{config}_record.json").read_text())
    text = path.read_text()
    notes = text[text.index("## Goals at"):]
    figures = [f"tilt_dcnn_{config}_reliability.png", f"tilt_dcnn_{config}_two_domain_map.png"]
    entry = dataclasses.replace(entry, metrics=record["by_dose"]["splits"], metrics_version=str(builder.info.version),
                                card_notes="## Benchmark report (`stem-zoo report --config " + config + "`)\n\n" + notes)
    folder = hub.stage(model, entry, Path(tempfile.mkdtemp()) / "tilt_dcnn", entry.hub_repo)
    for name in figures:
        shutil.copy(Path(report_dir) / name, folder / name)
    return hub.copy_as_packaged(folder, "tilt_dcnn")


def _cell(metrics: dict, quantity: str) -> float | None:
    return metrics.get(f"rmse_{quantity}_deg")


def goal_rows(by_dose: dict, mle_rows: list[dict]) -> list[dict]:
    """Per goal split at :data:`GOAL_DOSE`: RMSE per quantity, its goal, (test_multislice) the bound, pass or not."""
    bound = {r["split"]: r["crb_deg"] for r in mle_rows if r["dose"] == GOAL_DOSE}.get("test_multislice", {})
    rows = []
    for split, goal in GOALS_DEG.items():
        metrics = by_dose.get("by_feature", {}).get(split, {}).get(f"{GOAL_DOSE:g}")
        if metrics is None:
            continue
        rmse = {q: _cell(metrics, q) for q in SCORED}
        limit = {q: min(goal, GOAL_BOUND_FACTOR * bound[q]) if split == "test_multislice" and bound.get(q) == bound.get(q)
                 and q in bound else goal for q in SCORED}
        rows.append({"split": split, "n": metrics["n"], "rmse_deg": rmse, "goal_deg": limit,
                     "passed": all(rmse[q] is not None and rmse[q] <= limit[q] for q in SCORED)})
    return rows


def goal_section(goals: list[dict]) -> list[str]:
    """Markdown: the goals table."""
    lines = [f"## Goals at {GOAL_DOSE:g} e/A^2 (every thickness)", "",
             f"RMSE [deg] per quantity / its goal: {', '.join(f'{k} <= {v}' for k, v in GOALS_DEG.items())}; on "
             f"test_multislice also <= {GOAL_BOUND_FACTOR:g}x the RMS bound (thickness, crop shift and magnification "
             "unknown) of the crops in the physical-limit section.", "",
             "| split | n | " + " | ".join(SCORED) + " | goals met |", "| --- | --- | " + " | ".join("---" for _ in SCORED) + " | --- |"]
    for row in goals:
        cells = [f"{row['rmse_deg'][q]:.2f} / {row['goal_deg'][q]:.2f}" if row["rmse_deg"][q] is not None else "-" for q in SCORED]
        lines.append(f"| {row['split']} | {row['n']} | " + " | ".join(cells) + f" | {'yes' if row['passed'] else '**no**'} |")
    return [*lines, ""]


THICKNESS_SPLITS = ("test_multislice", "test_unseen_thickness")  # the by-thickness table's splits (multislice)


def grouped_sections(by_pattern: dict, by_thickness: dict, dose: float = GOAL_DOSE) -> list[str]:
    """Markdown: RMSE per quantity by pattern (every split) and by thickness (:data:`THICKNESS_SPLITS`) at ``dose``."""
    lines = []
    for title, record, feature, splits in (("pattern", by_pattern, "pattern", None),
                                           ("thickness", by_thickness, "thickness [nm]", THICKNESS_SPLITS)):
        lines += [f"## By {title} at {dose:g} e/A^2", "", "RMSE [deg] of each quantity.", "",
                  f"| split | {feature} | n | " + " | ".join(SCORED) + " |",
                  "| --- | --- | --- | " + " | ".join("---" for _ in SCORED) + " |"]
        for split, groups in record.get("by_feature", {}).items():
            if split == "feature" or (splits is not None and split not in splits):
                continue
            chosen = [(key.partition("/")[2], m) for key, m in groups.items() if key.partition("/")[0] == f"{dose:g}"]
            chosen.sort(key=lambda item: (float(item[0]) if item[0].replace(".", "", 1).isdigit() else 0.0, item[0]))
            for value, m in chosen:
                lines.append(f"| {split} | {value} | {m['n']} | " + " | ".join(
                    "-" if _cell(m, q) is None else f"{_cell(m, q):.2f}" for q in SCORED) + " |")
        lines.append("")
    return lines


def calibration_section(model, by_dose: dict, mle_rows: list[dict], out: Path, config: str) -> list[str]:
    """Markdown and a reliability figure: coverage of the 68% / 95% intervals and the mean std beside the bound."""
    if not model.zoo.entry.uncertainty:
        return ["## Uncertainty", "", f"{model.zoo.entry.id} states no uncertainty.", ""]
    bound = {(r["split"], r["dose"]): r["crb_deg"] for r in mle_rows}
    lines = ["## Uncertainty: calibration", "",
             f"{model.zoo.entry.uncertainty.get('description', '')} Per quantity: coverage of the central 68% / 95% "
             "Gaussian intervals (goal on test_multislice: 63-73% / 92-98%), then the mean predicted std [deg] and, in "
             "brackets, the RMS Cramer-Rao bound of the physical-limit crops of that split and dose (a mean std under "
             "the bound would be over-confident).", "",
             "| split | dose | n | " + " | ".join(CALIBRATED) + " |", "| --- | --- | --- | " + " | ".join("---" for _ in CALIBRATED) + " |"]
    curves = {}
    for split, groups in by_dose.get("by_feature", {}).items():
        if split == "feature":
            continue
        for dose, m in groups.items():
            if "calibration" not in m:
                continue
            cells = []
            for q in CALIBRATED:
                c, b = m["calibration"][q], bound.get((split, float(dose)), {}).get(q)
                cells.append(f"{100 * c['coverage_68']:.0f}% / {100 * c['coverage_95']:.0f}%, {c['mean_std_deg']:.2f}"
                             + ("" if b is None or b != b else f" ({b:.2f})"))
            lines.append(f"| {split} | {dose} | {m['n']} | " + " | ".join(cells) + " |")
        whole = by_dose["splits"].get(split, {}).get("calibration")
        if whole:
            curves[split] = whole
    figure = out / f"{model.zoo.entry.id}_{config}_reliability.png"
    reliability_figure(curves, figure)
    return [*lines, "", "Observed against nominal coverage of the central intervals (every dose):", "",
            f"![reliability]({figure.name})", ""]


def reliability_figure(curves: dict[str, dict], path: Path) -> None:
    """Observed against nominal coverage of the central intervals, one panel per split, one line per quantity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, max(1, len(curves)), figsize=(3.2 * max(1, len(curves)), 3.4), squeeze=False)
    for ax, (split, calibration) in zip(axes[0], curves.items()):
        ax.plot([0, 1], [0, 1], "k:", lw=1)
        for q, c in calibration.items():
            ax.plot(RELIABILITY_LEVELS, c["reliability"], "o-", ms=3, label=q)
        ax.set_title(split, fontsize=9)
        ax.set_xlabel("nominal coverage")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    axes[0, 0].set_ylabel("observed coverage")
    axes[0, -1].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def two_domain_section(model, config: str, out: Path) -> tuple[dict, list[str]]:
    """The stitched two-domain map (``TWO_DOMAINS``), its figure, columns, check, and its markdown."""
    from stem_datasets.builders.stem_abf_tilt.recipe import get_recipe, stitched_domains
    from stem_zoo.tasks.tilt.maps import map_figure, predict_map, save_columns_csv

    model_id = model.zoo.entry.id
    recipe = get_recipe(config)
    pattern = "a-b-c-"
    layers = recipe.train_layers()[len(recipe.train_layers()) // 2]
    image, borders = stitched_domains(recipe, pattern, TWO_DOMAINS, shape=(200, 320), layers=layers)
    maps = predict_map(image, model, pixel_size=recipe.pixel_size, pattern=pattern)
    figure = out / f"{model_id}_{config}_two_domain_map.png"
    map_figure(maps, figure, title=f"{model_id}: stitched {pattern} domains {TWO_DOMAINS[0]} | {TWO_DOMAINS[1]} deg")
    np.save(out / f"{model_id}_{config}_two_domain_map.npy", maps.maps)
    save_columns_csv(maps, out / f"{model_id}_{config}_two_domain_columns.csv")
    truths = frame_truths(maps, TWO_DOMAINS, pattern, reference_px(recipe))
    check = two_domain_check(maps, borders[1] * recipe.pixel_size, truths)
    (out / f"{model_id}_{config}_two_domain_check.json").write_text(json.dumps(check, indent=1))
    sides = ("left", "right")
    lines = [
        "## Tilt map of a stitched two-domain micrograph", "",
        f"Two multislice images of {pattern} SrTiO3 ({recipe.thickness_nm(layers)} nm, nominal optics, no noise) with "
        f"the canonical tilts {TWO_DOMAINS[0]} (left) and {TWO_DOMAINS[1]} (right) deg, stitched at x = {borders[1]} px "
        "(a test pattern, not a simulated domain wall), mapped through the user's path (lattice registration, "
        f"`predict_map(..., pattern=\"{pattern}\")`): one label per B column, in the frame of the registered lattice's "
        "(0, 0) column; the truth is the domain's label in that frame (the B column a label refers to is a choice: "
        "from its neighbour a-b-c- reads with alpha and beta swapped).", "",
        "| domain | truth (alpha, beta, gamma) [deg] | mean per column [deg] | mean std per column [deg] | columns |",
        "| --- | --- | --- | --- | --- |",
        *(f"| {s} | {check[s]['truth']} | {check[s]['mean']} | {check[s].get('mean_std', '-')} | {check[s]['columns']} |"
          for s in sides), "",
        f"Largest error of a domain mean: {check['max_error_deg']} deg (goal <= 1). Border found at x = "
        f"{check['border_found_A']} A (true {check['border_true_A']} A): off by {check['border_error_cells']} projected "
        f"cells (a sqrt2 = {check['cell_A']} A; goal <= 1). Check {'passed' if check['passed'] else '**failed**'}.", "",
        f"![map]({figure.name})", "",
    ]
    return check, lines


def reference_px(recipe) -> tuple[float, float]:
    """(row, col) pixel of the reference B column of a dataset image (:func:`stem_datasets.builders.stem_abf_tilt.recipe.stitched_domains`)."""
    a = recipe.lattice_constant
    return (a / 2 / recipe.pixel_size, a / (2 * np.sqrt(2)) / recipe.pixel_size)


def frame_truths(maps, domains, pattern: str, reference: tuple[float, float]) -> np.ndarray:
    """The domains' labels in the frame of the map's (0, 0) column, given the pixel of their reference column."""
    from stem_datasets.physics.glazer import shifted_angles

    m, n = maps.lattice.fractional(reference[0], reference[1])
    return np.array([shifted_angles(d, pattern, int(np.rint(m)), int(np.rint(n))) for d in domains])


def two_domain_check(maps, border_A: float, truths, exclude_cells: float = 1.0, max_error_deg: float = 1.0,
                     max_border_cells: float = 1.0) -> dict:
    """Per-column labels on each side of a vertical border against each side's truth, and where they change.

    Columns within ``exclude_cells`` projected cells (a sqrt2) of the border are left out of
    the side means. The border is placed where labelling columns by the nearer truth (signed
    angles, L2) makes the fewest errors. ``passed``: every side mean within ``max_error_deg`` of
    its truth in every output, the border within ``max_border_cells``.
    """
    cell = 2 * maps.lattice.column_step[1] * maps.pixel_size
    x = maps.columns["x_A"]
    values = np.stack([maps.columns[n] for n in maps.output_names], axis=1).astype(np.float64)
    names = maps.columns.dtype.names
    stds = np.stack([maps.columns[f"std_{n}"] for n in maps.output_names], axis=1) if all(
        f"std_{n}" in names for n in maps.output_names) else None
    truths = np.asarray(truths, dtype=float)
    result: dict = {"cell_A": round(float(cell), 3), "border_true_A": round(float(border_A), 2)}
    errors = []
    for side, keep, truth in (("left", x < border_A - exclude_cells * cell, truths[0]),
                              ("right", x > border_A + exclude_cells * cell, truths[1])):
        mean = values[keep].mean(axis=0) if keep.any() else np.full(len(truth), np.nan)
        result[side] = {"truth": truth.round(2).tolist(), "mean": mean.round(2).tolist(), "columns": int(keep.sum())}
        if stds is not None and keep.any():
            result[side]["mean_std"] = stds[keep].astype(np.float64).mean(axis=0).round(2).tolist()
        errors.append(np.abs(mean - truth).max())
    result["max_error_deg"] = round(float(max(errors)), 2)
    right_like = np.linalg.norm(values - truths[1], axis=1) < np.linalg.norm(values - truths[0], axis=1)
    candidates = np.unique(x)
    counts = [np.sum(right_like & (x < c)) + np.sum(~right_like & (x >= c)) for c in candidates]
    best = candidates[int(np.argmin(counts))]
    below = x[x < best]
    found = 0.5 * (best + below.max()) if below.size else best
    result["border_found_A"] = round(float(found), 2)
    result["border_error_cells"] = round(float(abs(found - border_A) / cell), 2)
    result["passed"] = bool(result["max_error_deg"] <= max_error_deg and result["border_error_cells"] <= max_border_cells)
    return result


def physics_limit_section(model, config: str, data_dir: str | None, out: Path, by_dose: dict, dose: float = GOAL_DOSE,
                          limit: int = 8) -> tuple[list[dict], list[str]]:
    """(MLE rows, markdown): the MLE baseline and the bound on the first crops of test and test_multislice at ``dose``,
    the model beside (``by_dose``: its benchmark by dose)."""
    from stem_zoo import data
    from stem_zoo.tasks.tilt.baseline import baseline_table, score_mle

    splits = ("test", "test_multislice")
    builder = data.load_builder("stem_abf_tilt", config, data_dir)
    rows = [score_mle(builder, split, dose=dose, limit=limit) for split in splits]
    (out / f"{model.zoo.entry.id}_{config}_mle_baseline.json").write_text(json.dumps(rows, indent=1))
    return rows, [
        "## Against the physical limit", "",
        f"The physics baseline (`stem_datasets.builders.stem_abf_tilt.mle`: maximum-likelihood fit of the dataset's GP, with thickness, "
        f"crop shift and x/y magnification free) on the first {limit} crops of each split at {dose:g} e/A^2 with the "
        "nominal ABF range; the RMS Cramer-Rao bound of the same crops with the same unknowns (GP-made crops: under the "
        "GP, their exact model; multislice crops: `stem_datasets.builders.stem_abf_tilt.limits.tilt_crb`, from multislice), and the efficiency "
        "bound / RMSE; predictions are aligned to their labels' orbits (the [1-10] mirror). The model's RMSE at the same "
        "dose (every crop of the split) beside it. The bound is local: where a quantity's signal is quadratic (alpha + "
        "beta near 0, a thin crystal, smoke's coarse GP) it is large and a fit kept inside the angle range does better, "
        "so an efficiency above 1 marks such crops, not a fit beyond the physics.", "",
        baseline_table(rows, {model.zoo.entry.id: by_dose}), "",
    ]

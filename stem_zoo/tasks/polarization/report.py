"""``polarization_dcnn``'s part of ``stem-zoo report``: the benchmark by domain pattern, truth vs prediction over
a wall field, and the two-domain hold-out outside every draw."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stem_zoo.tasks.polarization.metrics import polarization_metrics, predictions
def report(entries, out_dir, config: str, data_dir: str | None = None) -> list[Path]:
    """``stem-zoo report``'s part: the benchmark by domain pattern and truth vs prediction over a wall field.

    A model without weights in its folder gets a one-paragraph report saying so (the
    registry lists a model from its ``config.json`` before it is trained).
    """
    from stem_zoo.hub import MODEL_FILE
    from stem_zoo.registry import FOLDERS

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for entry in entries:
        path = out / f"{entry.id}_{config}.md"
        if not (FOLDERS[entry.id] / MODEL_FILE).is_file():
            path.write_text(f"# {entry.id} on {entry.dataset}/{config}\n\nNot trained yet: "
                            f"{FOLDERS[entry.id] / MODEL_FILE} does not exist. Train it with `stem-zoo train "
                            f"{entry.id} --config {entry.dataset_config} --out runs/{entry.id}` and stage the run "
                            "with `stem_zoo.hub`.\n")
        else:
            write_zoo_report(entry, out, config, data_dir, path)
        paths.append(path)
    return paths


def write_zoo_report(entry, out: Path, config: str, data_dir: str | None, path: Path) -> Path:
    """Benchmark ``entry`` by pattern on ``<dataset>/<config>`` and draw truth vs prediction on one field."""
    import json

    from stem_zoo import data
    from stem_zoo.benchmarking import benchmark
    from stem_zoo.hub import load
    from stem_zoo.tasks.polarization.plots import comparison_figure

    model = load(entry.id)
    result = benchmark(model, config=config, data_dir=data_dir, out_dir=out, by="pattern")
    builder = data.load_builder(entry.dataset, config, data_dir)
    field = field_comparison(model, builder, entry)
    lines = [f"# {entry.id} on {entry.dataset}/{config}", "",
             f"Model source: `{model.zoo.source}`; {result['parameters']:,} parameters; "
             f"sub-images: {dict(entry.subset)}.", "", result["leaderboard"], ""]
    if field is not None:
        figure = out / f"{entry.id}_{config}_field.png"
        comparison_figure(field["xy"], field["true"], field["pred"], figure,
                          title=f"{entry.id}: {field['field']} ({field['pattern']}, split {field['split']}, "
                                f"noise draw 0)")
        lines += [f"## Truth and prediction over one field ({field['pattern']})", "",
                  f"Field `{field['field']}` of `{field['split']}`, {len(field['xy'])} windows: "
                  f"RMSE Px / Py {field['metrics']['rmse_px_pm']:.1f} / {field['metrics']['rmse_py_pm']:.1f} pm.", "",
                  f"![field]({figure.name})", ""]
    lines += holdout_section(model, out, f"{entry.id}_holdout")
    lines += ["```json", json.dumps({k: v for k, v in result.items() if k != "leaderboard"}, indent=1), "```", ""]
    path.write_text("\n".join(lines))
    return path


def field_labels(field: dict, result) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(matched windows, their true P, their predicted P) of a map (:class:`stem_zoo.tasks.polarization.predict.PolarizationMap`)
    of a simulated field (``cells_xy`` [px], ``polarization_pm``, ``pixel_size``), labelled as the dataset labels them:
    a centred window by the Fe column within ``MATCH_RADIUS`` of its centre (others unmatched: the atom finder's
    misses and strays), a grid window by the nearest Fe column."""
    from scipy.spatial import cKDTree

    from stem_datasets.builders.stem_bfo_polarization.recipe import MATCH_RADIUS

    distance, index = cKDTree(field["cells_xy"]).query(result.xy)
    centred = result.sampling == "centred"
    matched = distance < MATCH_RADIUS / field["pixel_size"] if centred else np.ones(len(index), bool)
    return matched, field["polarization_pm"][index[matched]], result.P_pm[matched]


def holdout_section(model, out: Path, stem: str) -> list[str]:
    """Markdown and figures: the model's map of a freshly simulated two-domain field outside the dataset's draws
    (:func:`stem_datasets.builders.stem_bfo_polarization.recipe.holdout_field`, ~1 min of PRISM the first time, then cached)."""
    from stem_datasets.builders.stem_bfo_polarization.recipe import holdout_field
    from stem_datasets.simulation.cache import SimulationCache
    from stem_zoo.tasks.polarization.predict import predict_polarization
    from stem_zoo.tasks.polarization.plots import comparison_figure

    field = holdout_field(cache=SimulationCache())
    result = predict_polarization(field["image"], model, pixel_size=field["pixel_size"])
    matched, truth, pred = field_labels(field, result)
    labelled = "lie on a true Fe column" if result.sampling == "centred" else "take their nearest Fe column's label"
    metrics = polarization_metrics(truth, pred)
    figures = result.figures(out, stem)
    comparison = comparison_figure(result.xy[matched], truth, pred, out / f"{stem}_comparison.png",
                                   shape=field["image"].shape, title=f"{stem}: truth / prediction / difference")
    return ["## A two-domain field outside the dataset's draws", "",
            f"R3c BiFeO3 [100]pc as refined, 8 x 8 cells, {field['thickness_nm']:.1f} nm thick (no field of the dataset "
            "has it), 4% Sm (no split holds it), a 109 deg wall through the middle (a 90 deg turn in projection), "
            "exactly on zone, defocus -20 A, 5e5 e-/A^2, a rotated "
            f"and drifting scan. {int(matched.sum())} of {len(result.xy)} {result.sampling} windows {labelled}: "
            f"RMSE Px / Py {metrics['rmse_px_pm']:.1f} / {metrics['rmse_py_pm']:.1f} pm, magnitude "
            f"error {metrics['magnitude_error_pm']:+.1f} pm, angle error {metrics['angle_mae_deg']:.1f} deg.", "",
            *[f"![{p.stem}]({p.name})" for p in (*figures, comparison)], ""]


def field_comparison(model, builder, entry, splits=("test_unseen_field", "validation", "test")) -> dict | None:
    """Truth and prediction at the window centres of one field (a domain wall if there is one), noise draw 0."""
    from stem_zoo import data

    for split in (s for s in splits if s in builder.info.splits):
        found: dict = {}
        for example in data.examples(builder, split, entry).as_numpy_iterator():
            if int(example.get("noise_draw", 0)) != 0:
                continue
            found.setdefault(example["field"].decode(), []).append(example)
        walls = [f for f, e in found.items() if e[0]["pattern"].decode().startswith("wall")]
        chosen = (walls or sorted(found))[:1]
        if not chosen:
            continue
        examples = found[chosen[0]]
        true, pred, _, _ = predictions(model, examples, entry)
        return {"split": split, "field": chosen[0], "pattern": examples[0]["pattern"].decode(),
                "xy": np.stack([e["centre_xy"] for e in examples]), "true": true, "pred": pred,
                "metrics": polarization_metrics(true, pred)}
    return None

"""The zoo part of the main job: benchmark the tilt model, draw a tilt map, classify CBED stacks.

Example:
    $ stem-zoo report --config smoke --out report
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def write_zoo_report(config: str, out_dir: str | Path, model_id: str = "tilt_dcnn", data_dir: str | None = None) -> Path:
    """Benchmark ``model_id`` on ``stem_abf_tilt/<config>`` and map a stitched two-domain micrograph."""
    from stem_datasets.abf_tilt import get_recipe, stitched_domains
    from stem_zoo.benchmarking import benchmark
    from stem_zoo.hub import load
    from stem_zoo.maps import map_figure, predict_map, save_columns_csv

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = load(model_id)
    result = benchmark(model, config=config, data_dir=data_dir, out_dir=out, by="thickness_nm")

    recipe = get_recipe(config)
    pattern = recipe.patterns[0]
    domains = ((6.0, -4.0, 8.0), (-6.0, 4.0, -3.0))
    layers = recipe.train_layers()[len(recipe.train_layers()) // 2]
    image, borders = stitched_domains(recipe, pattern, domains, shape=(200, 320), layers=layers)
    maps = predict_map(image, model, pixel_size=recipe.pixel_size)
    figure = out / f"{model_id}_{config}_two_domain_map.png"
    map_figure(maps, figure, title=f"{model_id}: stitched {pattern} domains {domains[0]} | {domains[1]} deg")
    np.save(out / f"{model_id}_{config}_two_domain_map.npy", maps.maps)
    save_columns_csv(maps, out / f"{model_id}_{config}_two_domain_columns.csv")
    check = two_domain_check(maps, borders[1] * recipe.pixel_size, domains)
    (out / f"{model_id}_{config}_two_domain_check.json").write_text(json.dumps(check, indent=1))

    lines = [
        f"# {model_id} on stem_abf_tilt/{config}", "",
        f"Model source: `{model.zoo.source}`; trained on `{model.zoo.entry.dataset}/{model.zoo.entry.dataset_config}`; "
        f"{result['parameters']:,} parameters.", "",
        result["leaderboard"], "",
        "## Tilt map of a stitched two-domain micrograph", "",
        f"Two multislice images of {pattern} SrTiO3 ({recipe.thickness_nm(layers)} nm) with tilts {domains[0]} (left) and "
        f"{domains[1]} (right) deg, stitched at x = {borders[1]} px (a test pattern, not a simulated domain wall). "
        "One value per B column (windows averaged around their own column only); signs alternate between "
        "neighbouring B columns as the label convention says, magnitudes should not.", "",
        "| domain | truth |angle| [deg] | mean per-column |angle| [deg] | columns |",
        "| --- | --- | --- | --- |",
        *(f"| {side} | {check[side]['truth']} | {check[side]['mean_abs']} | {check[side]['columns']} |"
          for side in ("left", "right")),
        "",
        f"Largest magnitude error: {check['max_magnitude_error_deg']} deg. Border found at x = {check['border_found_A']} A "
        f"(true {check['border_true_A']} A): off by {check['border_error_cells']} projected cells (a sqrt2 = "
        f"{check['cell_A']} A).", "",
        f"![map]({figure.name})", "",
        "```json", json.dumps({k: v for k, v in result.items() if k != "leaderboard"}, indent=1), "```", "",
    ]
    path = out / f"{model_id}_{config}.md"
    path.write_text("\n".join(lines))
    return path


def two_domain_check(maps, border_A: float, domains, exclude_cells: float = 1.0) -> dict:
    """Per-column magnitudes on each side of a vertical border, and where the magnitudes change.

    Columns within ``exclude_cells`` projected cells (a sqrt2) of the border are left out of
    the side means. The border is placed where labelling columns by their nearer domain
    magnitude (|angles|, L2) makes the fewest errors.
    """
    cell = 2 * maps.lattice.column_step[1] * maps.pixel_size
    x = maps.columns["x_A"]
    values = np.abs(np.stack([maps.columns[n] for n in maps.output_names], axis=1)).astype(np.float64)
    truths = np.abs(np.asarray(domains, dtype=float))
    result: dict = {"cell_A": round(float(cell), 3), "border_true_A": round(float(border_A), 2)}
    for side, keep, truth in (("left", x < border_A - exclude_cells * cell, truths[0]),
                              ("right", x > border_A + exclude_cells * cell, truths[1])):
        mean = values[keep].mean(axis=0) if keep.any() else np.full(len(truth), np.nan)
        result[side] = {"truth": truth.round(2).tolist(), "mean_abs": mean.round(2).tolist(), "columns": int(keep.sum())}
    result["max_magnitude_error_deg"] = round(float(max(np.abs(np.subtract(result[s]["mean_abs"], result[s]["truth"])).max()
                                                        for s in ("left", "right"))), 2)
    right_like = np.linalg.norm(values - truths[1], axis=1) < np.linalg.norm(values - truths[0], axis=1)
    candidates = np.unique(x)
    errors = [np.sum(right_like & (x < c)) + np.sum(~right_like & (x >= c)) for c in candidates]
    best = candidates[int(np.argmin(errors))]
    below = x[x < best]
    found = 0.5 * (best + below.max()) if below.size else best
    result["border_found_A"] = round(float(found), 2)
    result["border_error_cells"] = round(float(abs(found - border_A) / cell), 2)
    return result


def write_cbed_report(out_dir: str | Path, thickness_angstrom: float = 100.0, seed: int = 2026) -> Path:
    """Classify freshly simulated interfaces (not in any split) with the two CBED classifiers.

    Three abTEM runs at ``stem_cbed_interface/small`` settings (about 30 s on 2 cores,
    cached afterwards): buried steps at 0.3 and 0.7 of the thickness and a 25%-intermixed
    interface. Writes ``cbed_classifiers.md`` with a figure of the stacks and predictions.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stem_datasets.cache import SimulationCache
    from stem_datasets.cbed_interface import get_recipe
    from stem_datasets.simulate import simulate_4dstem
    from stem_datasets.structures import lao_sto_interface, snap_interface_thickness
    from stem_zoo.cbed import classify_stacks
    from stem_zoo.hub import load

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    recipe = get_recipe("small")
    t = snap_interface_thickness(thickness_angstrom)
    cases = {
        "buried step at 0.3 t": (lao_sto_interface(t, step_fraction=0.3), "rough", 3),
        "buried step at 0.7 t": (lao_sto_interface(t, step_fraction=0.7), "rough", 7),
        "25% Ti on Al sites": (lao_sto_interface(t, intermix_fraction=0.25, seed=seed), "intermixed", None),
    }
    interface_model, step_model = load("cbed_interface_cnn"), load("cbed_step_cnn")
    figure, axes = plt.subplots(len(cases), recipe.scan.positions, figsize=(1.6 * recipe.scan.positions, 1.9 * len(cases)))
    rows = ["| structure | truth | P(rough) per line | predicted step (cell average) |", "| --- | --- | --- | --- |"]
    for r, (name, (structure, truth, step)) in enumerate(cases.items()):
        microscope = recipe.microscope.replace(seed=seed + r)
        stacks = simulate_4dstem(structure, [t], microscope, recipe.scan, recipe.detector, SimulationCache())
        lines = classify_stacks(stacks.cbed[0], interface_model)
        average = classify_stacks(stacks.cell_average()[0], step_model)
        p_rough = ", ".join(f"{p:.2f}" for p in lines.probabilities[:, 0])
        predicted_step = f"{average.names[0]} (p {average.probabilities[0].max():.2f})" + ("" if step is not None else ", not a step")
        rows.append(f"| {name} | {truth}{'' if step is None else f', step {step}'} | {p_rough} | {predicted_step} |")
        for p, ax in enumerate(axes[r]):
            ax.imshow(np.sqrt(stacks.cbed[0, 0, p]), cmap="magma")
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"x = {stacks.positions_x[p]:.1f} A", fontsize=7)
        axes[r, 0].set_ylabel(f"{name}\nP(rough) {lines.probabilities[0, 0]:.2f}", fontsize=7)
    figure.suptitle(f"CBED along line 0 (sqrt intensity), {t:.1f} A, {recipe.microscope.energy / 1e3:.0f} kV, "
                    f"{recipe.microscope.semiangle:.0f} mrad, {recipe.detector.pixels} px of {stacks.angular_sampling:.2f} mrad",
                    fontsize=9)
    figure.tight_layout()
    figure_path = out / "cbed_classifiers.png"
    figure.savefig(figure_path, dpi=110)
    plt.close(figure)
    step_test = step_model.zoo.entry.metrics["test"]
    text = [
        "# The CBED classifiers on fresh simulations", "",
        f"Three LaAlO3/SrTiO3 cross-sections, {t:.1f} A thick, simulated now with abTEM at `stem_cbed_interface/small` "
        f"settings ({recipe.microscope.frozen_phonons} frozen-phonon configurations, phonon seeds not used by the dataset), "
        f"{recipe.scan.lines} lines of {recipe.scan.positions} probe positions each. `cbed_interface_cnn` classifies every "
        "line; `cbed_step_cnn` the unit-cell average. Models: "
        f"`{interface_model.zoo.source}`, `{step_model.zoo.source}`.", "",
        *rows, "",
        f"On structures it never saw, `cbed_step_cnn` places the step exactly in {step_test['accuracy']:.2f} and within "
        f"one tenth in {step_test.get('within_one_accuracy', float('nan')):.2f} of its test stacks (its card; the goal is "
        "0.85 exact): its column is not a measurement of the step depth. `cbed_interface_cnn` scores "
        f"{interface_model.zoo.entry.metrics['test']['accuracy']:.3f} on its test split.", "",
        f"![CBED stacks]({figure_path.name})", "",
    ]
    path = out / "cbed_classifiers.md"
    path.write_text("\n".join(text))
    return path

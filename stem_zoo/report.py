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
    from stem_zoo.maps import map_figure, predict_map

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = load(model_id)
    result = benchmark(model, config=config, data_dir=data_dir, out_dir=out)

    recipe = get_recipe(config)
    pattern = recipe.patterns[0]
    domains = ((6.0, -4.0, 8.0), (-6.0, 4.0, -3.0))
    layers = recipe.train_layers()[len(recipe.train_layers()) // 2]
    image, borders = stitched_domains(recipe, pattern, domains, shape=(150, 300), layers=layers)
    maps = predict_map(image, model, pixel_size=recipe.pixel_size)
    figure = out / f"{model_id}_{config}_two_domain_map.png"
    map_figure(maps, figure, title=f"{model_id}: stitched {pattern} domains {domains[0]} | {domains[1]} deg")
    np.save(out / f"{model_id}_{config}_two_domain_map.npy", maps.maps)

    half = maps.maps.shape[1] // 2
    lines = [
        f"# {model_id} on stem_abf_tilt/{config}", "",
        f"Model source: `{model.zoo.source}`; trained on `{model.zoo.entry.dataset}/{model.zoo.entry.dataset_config}`; "
        f"{result['parameters']:,} parameters.", "",
        result["leaderboard"], "",
        "## Tilt map of a stitched two-domain micrograph", "",
        f"Two multislice images of {pattern} SrTiO3 ({recipe.thickness_nm(layers)} nm) with tilts {domains[0]} (left) and "
        f"{domains[1]} (right) deg, stitched at x = {borders[1]} px (a test pattern, not a simulated domain wall). "
        "Signs alternate between neighbouring B columns as the label convention says; magnitudes should not.", "",
        f"Mean |angle| left / right of the border: {np.abs(maps.maps[:, :half - 20]).mean(axis=(0, 1)).round(2).tolist()} / "
        f"{np.abs(maps.maps[:, half + 20:]).mean(axis=(0, 1)).round(2).tolist()} deg.", "",
        f"![map]({figure.name})", "",
        "```json", json.dumps({k: v for k, v in result.items() if k != "leaderboard"}, indent=1), "```", "",
    ]
    path = out / f"{model_id}_{config}.md"
    path.write_text("\n".join(lines))
    return path


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
        predicted_step = f"{average.predicted[0]} (p {average.probabilities[0].max():.2f})" + ("" if step is not None else ", not a step")
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
    text = [
        "# The CBED classifiers on fresh simulations", "",
        f"Three LaAlO3/SrTiO3 cross-sections, {t:.1f} A thick, simulated now with abTEM at `stem_cbed_interface/small` "
        f"settings ({recipe.microscope.frozen_phonons} frozen-phonon configurations, phonon seeds not used by the dataset), "
        f"{recipe.scan.lines} lines of {recipe.scan.positions} probe positions each. `cbed_interface_cnn` classifies every "
        "line; `cbed_step_cnn` the unit-cell average. Models: "
        f"`{interface_model.zoo.source}`, `{step_model.zoo.source}`.", "",
        *rows, "",
        f"![CBED stacks]({figure_path.name})", "",
    ]
    path = out / "cbed_classifiers.md"
    path.write_text("\n".join(text))
    return path

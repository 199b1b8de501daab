"""The zoo part of the main job: benchmark the reference model and draw a tilt map.

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
    image, borders = stitched_domains(recipe, pattern, domains, shape=(150, 300))
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
        f"Two multislice images of {pattern} SrTiO3 ({recipe.thicknesses_nm[0]} nm) with tilts {domains[0]} (left) and "
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

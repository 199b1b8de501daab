"""Benchmark: multislice vs GP surrogate time per ABF image, and GP accuracy, in one run.

Simulates the coarse multislice grid (5 deg over +-10 deg: 125 images) and held-out
off-grid angles with one microscope, fits the GP, then prints the multislice time per
image, the GP time per image, their ratio (goal >= 10,000x) and the normalized MSE of GP
images against held-out multislice (goal <= 1e-3). Uses a fresh cache so that the
multislice times are measured here, not read back.

    python bench/bench_abf_surrogate.py                # ~8 min on 2 cores (smoke microscope)
    python bench/bench_abf_surrogate.py --step 10      # ~2 min, coarser grid
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np

from stem_datasets import abf_tilt
from stem_datasets.cache import SimulationCache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="smoke", help="recipe whose microscope and pattern are used")
    parser.add_argument("--step", type=float, default=5.0, help="coarse multislice grid step [deg]")
    parser.add_argument("--held-out", type=int, default=10)
    parser.add_argument("--predict", type=int, default=20000, help="GP images to time")
    args = parser.parse_args()

    base = abf_tilt.get_recipe(args.config)
    recipe = abf_tilt.AbfTiltRecipe(**{**base.__dict__, "coarse_step_deg": args.step, "n_test_multislice": args.held_out})
    pattern = recipe.patterns[0]
    cache = SimulationCache(tempfile.mkdtemp(prefix="bench-multislice-"))

    grid = abf_tilt.coarse_grid(recipe, pattern)
    start = time.perf_counter()
    for angles in grid:
        abf_tilt.simulate_case(recipe, angles, pattern, cache=cache)
    multislice_s = (time.perf_counter() - start) / len(grid)

    start = time.perf_counter()
    report = abf_tilt.validate_surrogate(recipe, cache)  # fits one GP per thickness, simulates held-out angles
    validate_s = time.perf_counter() - start

    surrogate = abf_tilt.fitted_surrogate(recipe, pattern, len(recipe.thicknesses_nm) - 1, cache)
    fine = abf_tilt.fine_grid(recipe, pattern)
    angles = fine[np.random.default_rng(0).choice(len(fine), size=min(args.predict, len(fine)), replace=False)]
    start = time.perf_counter()
    means, _ = surrogate.predict(angles)
    gp_s = (time.perf_counter() - start) / len(angles)
    start = time.perf_counter()
    for g, mean in zip(angles[:500], means[:500]):
        abf_tilt.to_dataset_image(recipe, mean, abf_tilt.projected_period(g, pattern, recipe.composition))
    resample_s = (time.perf_counter() - start) / min(500, len(angles))

    print(json.dumps({
        "config": args.config,
        "pattern": pattern,
        "microscope": recipe.microscope.to_dict(),
        "coarse_grid_images": len(grid),
        "multislice_s_per_image_all_thicknesses": round(multislice_s, 3),
        "gp_s_per_image": gp_s,
        "gp_plus_resample_s_per_image": gp_s + resample_s,
        "ratio_multislice_over_gp": round(multislice_s / gp_s),
        "ratio_multislice_over_gp_plus_resample": round(multislice_s / (gp_s + resample_s)),
        "validation_s": round(validate_s, 1),
        "gp_vs_held_out_multislice": report,
    }, indent=1))
    worst = max(v["nmse_median"] for v in report.values())
    print(f"RESULT ratio {multislice_s / gp_s:,.0f}x (goal >= 10,000x); "
          f"ratio incl. resampling {multislice_s / (gp_s + resample_s):,.0f}x; "
          f"worst median NMSE {worst:.2e} (goal <= 1e-3)")


if __name__ == "__main__":
    main()

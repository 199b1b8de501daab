"""Benchmark: multislice vs GP surrogate time per ABF image (with the resampling to the final grid), and GP accuracy.

Simulates the GP design runs of a config into a fresh cache (so the multislice times are
measured here, not read back), fits the pattern's GP over every thickness and ABF range,
then prints in one run:

- multislice seconds per image: one run's time divided by its exit planes (one image per
  thickness at one ABF range; the extra ABF ranges come free and are not counted);
- GP seconds per image: the GP's prediction of a whole stack divided by its images, plus
  the batched Fourier resampling of one image to the dataset's grid
  (``imaging.resample_periodic_many``, single-precision products; the builder still uses the
  float64 per-image ``resample_periodic``, so that 2.0.0's bytes do not change);
- their ratio (goal >= 10,000x including the resampling);
- the GP's NMSE against the held-out multislice of the config, per thickness.

    python bench/bench_abf_surrogate.py                # smoke: ~3 min on 2 cores
    python bench/bench_abf_surrogate.py --config small # ~25 min (small's 14 design runs of one pattern, 20 nm)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="smoke", help="recipe whose design, microscope and first pattern are used")
    parser.add_argument("--predict", type=int, default=2000, help="GP stacks to time")
    args = parser.parse_args()
    os.environ["STEM_ZOO_CACHE"] = tempfile.mkdtemp(prefix="bench-multislice-")

    from stem_datasets import abf_tilt
    from stem_datasets.abf_tilt_design import lattice_angles
    from stem_datasets.cache import SimulationCache
    from stem_datasets.imaging import resample_periodic_many

    base = abf_tilt.get_recipe(args.config)
    pattern = base.patterns[0]
    recipe = abf_tilt.AbfTiltRecipe(**{**base.__dict__, "patterns": (pattern,)})
    cache = SimulationCache()
    design = abf_tilt.runs_of(recipe, "design", pattern)
    start = time.perf_counter()
    for run in design:
        abf_tilt.simulate_run(run, cache)
    run_s = (time.perf_counter() - start) / len(design)
    multislice_s = run_s / len(design[0].layers)

    start = time.perf_counter()
    surrogate = abf_tilt.fitted_surrogate(recipe, pattern, cache)
    fit_s = time.perf_counter() - start
    angles = lattice_angles(recipe, pattern, args.predict, "bench", offset=False)
    start = time.perf_counter()
    means, _ = surrogate.predict(angles)
    n_images = int(np.prod(means.shape[1:3]))
    gp_s = (time.perf_counter() - start) / (len(angles) * n_images)
    periods = np.array([abf_tilt.projected_period(g, pattern, recipe.composition) for g in angles])
    my, mx = abf_tilt.margin_px(recipe)
    start = time.perf_counter()
    resample_periodic_many(means[:, 1, 0], periods, recipe.pixel_size, recipe.image_shape,
                           (-mx * recipe.pixel_size, -my * recipe.pixel_size))
    resample_s = (time.perf_counter() - start) / len(angles)
    report = abf_tilt.validate_surrogate(recipe, cache)[pattern]

    print(json.dumps({
        "config": args.config, "pattern": pattern, "microscope": recipe.microscope.to_dict(),
        "design_runs": len(design), "exit_planes_per_run": len(design[0].layers), "multislice_s_per_run": round(run_s, 2),
        "multislice_s_per_image": multislice_s, "gp_fit_s": round(fit_s, 1), "gp_s_per_image": gp_s,
        "resample_s_per_image": resample_s, "gp_images_per_stack": n_images,
        "gp_validation": report,
    }, indent=1))
    worst = max(report["nmse_median"])
    print(f"RESULT ratio {multislice_s / gp_s:,.0f}x without resampling; {multislice_s / (gp_s + resample_s):,.0f}x "
          f"including the resampling to the final grid (goal >= 10,000x); worst per-thickness median NMSE "
          f"{worst:.2e} (goal <= 5e-3 small, 1e-3 full)")


if __name__ == "__main__":
    main()

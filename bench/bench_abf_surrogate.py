"""Benchmark: multislice vs GP surrogate time per ABF image on the dataset's grid, old path vs fast path, and GP accuracy.

Simulates the GP design runs of a config into a fresh cache (so the multislice times are
measured here, not read back), fits the pattern's GP over every thickness and ABF range,
then prints in one run, side by side:

- multislice seconds per image: one run's time divided by its exit planes (one image per
  thickness at one ABF range; the extra ABF ranges come free and are not counted);
- the old path per image (``TiltSurrogate.predict`` of whole one-period stacks, then
  ``to_dataset_image``, the float64 FFT ``resample_periodic``, per image) and the fast path
  (``abf_tilt.surrogate_on_grid``: principal-component coefficients, then per image a k-term sum
  and two small float32 products with per-angle Fourier matrices), both with the projected
  period of every angle, in two uses: every image of each angle's stack (detector x thickness),
  and the builder's (``examples_per_angle`` random images per angle, with their GP std);
- their ratios to multislice (goal >= 10,000x, everything an image needs included);
- the largest |old - new| over the images of the old path's angles, relative to each image's
  range (goal <= 1e-4);
- the GP's NMSE against the held-out multislice of the config, per thickness.

    python bench/bench_abf_surrogate.py                # smoke: ~4 min on 2 cores
    python bench/bench_abf_surrogate.py --config small # ~25 min (small's 14 design runs of one pattern, 20 nm)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np


def _best(seconds: list[float]) -> float:
    return float(min(seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="smoke", help="recipe whose design, microscope and first pattern are used")
    parser.add_argument("--predict", type=int, default=2000, help="angles for the fast path")
    parser.add_argument("--old", type=int, default=200, help="angles for the old path (and the old-vs-new difference)")
    parser.add_argument("--repeat", type=int, default=3, help="timings are the best of this many passes (a shared machine)")
    args = parser.parse_args()
    os.environ["STEM_ZOO_CACHE"] = tempfile.mkdtemp(prefix="bench-multislice-")

    from stem_datasets.builders.stem_abf_tilt import recipe as abf_tilt
    from stem_datasets.builders.stem_abf_tilt.design import lattice_angles
    from stem_datasets.simulation.cache import SimulationCache

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
    lead = surrogate.shape[:-2]  # (detector, thickness)
    n_images = int(np.prod(lead))
    entries = [np.unravel_index(k, lead) for k in range(n_images)]
    batch = 64
    per_angle = recipe.examples_per_angle
    picks = [np.random.default_rng(k).choice(n_images, size=per_angle, replace=False) for k in range(len(angles))]
    old_angles = angles[: args.old]

    def old_stacks(out=None):
        for s in range(0, len(old_angles), batch):
            means, _ = surrogate.predict(old_angles[s:s + batch])
            for g, mean in zip(old_angles[s:s + batch], means):
                period = abf_tilt.projected_period(g, pattern, recipe.composition)
                stack = [abf_tilt.to_dataset_image(recipe, mean[e], period) for e in entries]
                if out is not None:
                    out.append(np.stack(stack)[..., 0])

    def old_builder():
        for s in range(0, len(old_angles), batch):
            means, stds = surrogate.predict(old_angles[s:s + batch])
            for k, (g, mean, std) in enumerate(zip(old_angles[s:s + batch], means, stds)):
                period = abf_tilt.projected_period(g, pattern, recipe.composition)
                for pick in picks[s + k]:
                    e = entries[pick]
                    abf_tilt.to_dataset_image(recipe, mean[e], period), float(np.sqrt(np.mean(std[e] ** 2)))

    def new_stacks(which, out=None):
        for s in range(0, len(which), batch):
            grid = abf_tilt.surrogate_on_grid(recipe, surrogate, pattern, which[s:s + batch])
            for i in range(len(grid)):
                stack = grid.stack(i)
                if out is not None:
                    out.append(stack.reshape(n_images, *stack.shape[-2:]))

    def new_builder(which):
        for s in range(0, len(which), batch):
            grid = abf_tilt.surrogate_on_grid(recipe, surrogate, pattern, which[s:s + batch])
            for i in range(len(grid)):
                for pick in picks[s + i]:
                    e = entries[pick]
                    grid.image(i, *e)[..., None], grid.rms_std(i, *e)

    def timed(f, *a) -> float:
        seconds = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            f(*a)
            seconds.append(time.perf_counter() - start)
        return _best(seconds)

    t = {
        "old_stack": timed(old_stacks) / (len(old_angles) * n_images),
        "new_stack": timed(new_stacks, angles) / (len(angles) * n_images),
        "old_builder": timed(old_builder) / (len(old_angles) * per_angle),
        "new_builder": timed(new_builder, angles) / (len(angles) * per_angle),
    }
    start = time.perf_counter()
    for g in old_angles:
        abf_tilt.projected_period(g, pattern, recipe.composition)
    period_s = (time.perf_counter() - start) / len(old_angles)
    start = time.perf_counter()
    for s in range(0, len(angles), batch):
        surrogate.predict(angles[s:s + batch])
    predict_s = (time.perf_counter() - start) / (len(angles) * n_images)
    old, new = [], []
    old_stacks(old)
    new_stacks(old_angles, new)
    diff = max(float(np.max(np.abs(o - n)) / (o.max() - o.min())) for a, b in zip(old, new) for o, n in zip(a, b))
    report = abf_tilt.validate_surrogate(recipe, cache)[pattern]

    print(json.dumps({
        "config": args.config, "pattern": pattern, "microscope": recipe.microscope.to_dict(),
        "design_runs": len(design), "exit_planes_per_run": len(design[0].layers), "multislice_s_per_run": round(run_s, 2),
        "multislice_s_per_image": multislice_s, "gp_fit_s": round(fit_s, 1), "gp_images_per_stack": n_images,
        "one_period_shape": list(surrogate.shape[-2:]), "principal_components": len(surrogate.basis_),
        "angles_new_path": len(angles), "angles_old_path": len(old_angles), "examples_per_angle": per_angle,
        "s_per_image": t, "gp_stack_predict_s_per_image": predict_s, "projected_period_s_per_angle": period_s,
        "max_abs_old_minus_new_over_range": diff, "gp_validation": report,
    }, indent=1))
    print(f"{'per image':<46}{'old path':>12}{'fast path':>12}{'speed-up':>10}")
    print(f"{'multislice [s]':<46}{multislice_s:>12.3g}")
    for use, label in (("stack", "every image of a stack [s]"), ("builder", f"builder ({per_angle} random per angle) [s]")):
        print(f"{label:<46}{t['old_' + use]:>12.3g}{t['new_' + use]:>12.3g}{t['old_' + use] / t['new_' + use]:>9.0f}x")
        print(f"{'  ratio multislice / path':<46}{multislice_s / t['old_' + use]:>11,.0f}x{multislice_s / t['new_' + use]:>11,.0f}x")
    worst = max(report["nmse_median"])
    print(f"RESULT fast path {multislice_s / t['new_stack']:,.0f}x (every image of a stack) and "
          f"{multislice_s / t['new_builder']:,.0f}x (builder's use) a multislice image, everything included "
          f"(goal >= 10,000x; old path {multislice_s / t['old_stack']:,.0f}x and {multislice_s / t['old_builder']:,.0f}x); "
          f"max |old - new| / range {diff:.1e} (goal <= 1e-4); worst per-thickness median NMSE {worst:.2e} "
          f"(goal <= 5e-3 small, 1e-3 full)")


if __name__ == "__main__":
    main()

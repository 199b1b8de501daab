"""Benchmark: the ``stem_abf_tilt/full`` code path on Apache Beam's DirectRunner with 1 and 2 worker processes.

Builds ``full`` with smaller numbers only (same functions: ``use_beam``, frozen phonons, one stage
per multislice run, one GP per pattern, the GP validation) twice, each into a fresh data dir and a
fresh ``file://`` simulation cache (so every run is simulated again), with
``direct_running_mode=multi_processing`` and ``direct_num_workers`` 1, then 2; each worker computes
single-threaded (``$STEM_ZOO_BEAM_THREADS``, default 1: one worker per core). Prints both wall
times, the speed-up (goal >= 1.7x on 2 cores) and the Beam counters. Needs ``pip install ".[beam]"``.

    python bench/bench_beam_workers.py                    # default size: both builds, estimated ~10 min on an idle 2-core machine
    python bench/bench_beam_workers.py --size tiny        # ~3 min: shows it works (Beam start-up weighs on the ratio)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time

SIZES = {  # (patterns, Sobol design points, train labels, scan step [A], frozen phonons)
    "tiny": (1, 2, 12, 0.5, 1),
    "default": (2, 4, 40, 0.35, 2),
}


def recipe_of(size: str):
    """``full`` with the numbers of ``size``."""
    from stem_datasets.builders.stem_abf_tilt.recipe import get_recipe

    patterns, sobol, train, step, phonons = SIZES[size]
    full = get_recipe("full")
    return dataclasses.replace(
        full, name=f"full_bench_{size}", patterns=full.patterns[:patterns],
        microscope=full.microscope.replace(potential_sampling=0.1, scan_step=step, frozen_phonons=phonons),
        layers=(2, 6), held_out_layers=(4,), beyond_layers=(7,), design_sobol=sobol, n_optics_runs=1, n_test_runs=1,
        n_unseen_material_runs=1, n_imperfect_runs=1, gp_train_angles=train, gp_eval_angles=8, gp_restarts=1,
    )


def build(recipe, workers: int, root: str) -> tuple[float, dict, dict]:
    """Wall seconds, Beam counters and split sizes of one build with ``workers`` worker processes."""
    import tensorflow_datasets as tfds
    from apache_beam.options.pipeline_options import PipelineOptions

    from stem_datasets.pipeline.offline import RecipeConfig

    os.environ["STEM_ZOO_CACHE"] = f"file://{root}/cache-{workers}"
    options = PipelineOptions(direct_num_workers=workers, direct_running_mode="multi_processing")
    builder = tfds.builder("stem_abf_tilt", config=RecipeConfig(recipe), data_dir=f"{root}/data-{workers}")
    start = time.perf_counter()
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(beam_options=options))
    seconds = time.perf_counter() - start
    return seconds, builder.beam_counters, {name: split.num_examples for name, split in builder.info.splits.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="default")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import stem_datasets  # noqa: F401  (registers the builders with TFDS)

    recipe = recipe_of(args.size)
    root = tempfile.mkdtemp(prefix="bench-beam-workers-")
    times = {}
    for workers in (1, 2):
        seconds, counters, sizes = build(recipe, workers, root)
        times[workers] = seconds
        print(f"{workers} worker(s): {seconds:.1f} s  counters {counters}  examples {sum(sizes.values())}", flush=True)
    print(f"stem_abf_tilt/{recipe.name} ({args.size}, {os.cpu_count()} cores): 1 worker {times[1]:.1f} s, "
          f"2 workers {times[2]:.1f} s, speed-up {times[1] / times[2]:.2f}x (goal >= 1.7x)")


if __name__ == "__main__":
    main()

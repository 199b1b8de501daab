"""Benchmark: input pipeline images/s (read + augment) against the training step's images/s.

Both measured in one run on the same dataset config; the goal is a pipeline at least 5x
faster than training, so the accelerator never waits for data.

    python bench/bench_zoo_pipeline.py [--config smoke] [--batch-size 32] [--steps 20]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="smoke")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    import keras

    from stem_zoo import data
    from stem_zoo.tasks.tilt.model import BetaGaussianNLL
    from stem_zoo.registry import get_entry
    from stem_zoo.train import _build

    entry = get_entry("tilt_dcnn")
    builder = data.load_builder(entry.dataset, args.config)
    pipeline = data.train_pipeline(builder, entry, args.batch_size, repeat=True)

    iterator = iter(pipeline)
    next(iterator)
    start = time.perf_counter()
    for _ in range(args.steps):
        next(iterator)
    pipeline_ips = args.steps * args.batch_size / (time.perf_counter() - start)

    model = _build(entry)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=BetaGaussianNLL())
    batches = list(pipeline.take(args.steps + 2))
    model.train_on_batch(*batches[0])
    start = time.perf_counter()
    for crops, angles in batches[2:]:
        model.train_on_batch(crops, angles)
    train_ips = args.steps * args.batch_size / (time.perf_counter() - start)
    print(f"RESULT pipeline {pipeline_ips:.0f} images/s, training step {train_ips:.0f} images/s: "
          f"ratio {pipeline_ips / train_ips:.1f}x (goal >= 5x)")


if __name__ == "__main__":
    main()

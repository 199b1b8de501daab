"""Benchmark: stride-1 tilt map of a 1024 x 1024 micrograph, dense evaluation vs one pass per window.

Times the dense (dilated, fully convolutional) evaluation over the whole image and one
forward pass per window on a random subset of windows, extrapolated to all windows; checks
the subset's predictions agree with the dense map (goal: >= 50x faster, equal to 1e-4 deg).

    python bench/bench_zoo_map.py [--size 1024] [--subset 200] [--model tilt_dcnn]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--subset", type=int, default=200)
    parser.add_argument("--model", default="tilt_dcnn")
    args = parser.parse_args()

    from stem_zoo.hub import load
    from stem_zoo.maps import dense_predictions

    model = load(args.model)
    h, w = model.zoo.crop_shape
    rng = np.random.default_rng(0)
    image = rng.normal(size=(args.size, args.size)).astype(np.float32)
    n_windows = (args.size - h + 1) * (args.size - w + 1)

    start = time.perf_counter()
    dense = dense_predictions(model, image, (h, w))
    dense_s = time.perf_counter() - start

    rows = rng.integers(0, args.size - h + 1, args.subset)
    cols = rng.integers(0, args.size - w + 1, args.subset)
    model.predict_on_batch(image[None, :h, :w, None])  # warm-up
    start = time.perf_counter()
    single = np.stack([np.asarray(model.predict_on_batch(image[None, r:r + h, c:c + w, None]))[0]
                       for r, c in zip(rows, cols)])
    per_window_s = (time.perf_counter() - start) / args.subset
    difference = float(np.abs(single - dense[rows, cols]).max())
    print(f"windows: {n_windows:,}; dense: {dense_s:.1f} s; one pass per window: {per_window_s * 1e3:.1f} ms "
          f"-> {per_window_s * n_windows:.0f} s extrapolated")
    print(f"RESULT speed-up {per_window_s * n_windows / dense_s:.0f}x (goal >= 50x); "
          f"max |dense - per-window| {difference:.2e} deg on {args.subset} windows (goal <= 1e-4)")


if __name__ == "__main__":
    main()

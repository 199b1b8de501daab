"""Benchmark: stride-1 tilt map of a 1024 x 1024 micrograph, dense evaluation vs per-window evaluation.

Times, in the same run and on the same standardized image: the dense (dilated, fully
convolutional) evaluation over the whole image; batched windows (``method="windows"``,
batches of ``--batch-size``) on a strip of full window rows, extrapolated to all windows;
and one forward pass per window on a random subset, extrapolated. Checks that dense and
batched windows agree on every window of a small image (``predict_map`` both ways) and
that the per-window subset agrees with the dense map (goal: dense >= 50x faster than one
pass per window, equal to 1e-4 deg). Also times the normalization and the B-column
registration of the large image.

    python bench/bench_zoo_map.py [--size 1024] [--subset 200] [--strip-windows 4096] [--model tilt_dcnn]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--subset", type=int, default=200, help="windows timed one pass each")
    parser.add_argument("--strip-windows", type=int, default=4096, help="about this many windows timed in batches")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--small", type=int, nargs=2, default=(128, 160),
                        help="image for the all-windows equality check")
    parser.add_argument("--model", default="tilt_dcnn")
    args = parser.parse_args()

    from stem_zoo.hub import load
    from stem_zoo.micrograph import standardize_micrograph
    from stem_zoo.tasks.tilt.maps import dense_predictions, predict_map, register_columns, window_predictions

    model = load(args.model)
    spec = model.zoo.entry.input
    h, w = spec.crop_shape
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(args.size, args.size)).astype(np.float32)
    rows, cols = args.size - h + 1, args.size - w + 1
    n_windows = rows * cols

    start = time.perf_counter()
    image = standardize_micrograph(raw, spec)
    normalize_s = time.perf_counter() - start
    start = time.perf_counter()
    register_columns(raw, spec.pixel_size, spec.lattice_constant)
    register_s = time.perf_counter() - start

    model.predict_on_batch(image[None, :h, :w, None])  # warm-up
    start = time.perf_counter()
    dense = dense_predictions(model, image, (h, w))
    dense_s = time.perf_counter() - start

    strip_rows = max(1, min(rows, round(args.strip_windows / cols)))
    window_predictions(model, image[:h, :], (h, w), args.batch_size)  # warm-up (one row of windows)
    start = time.perf_counter()
    strip = window_predictions(model, image[:h + strip_rows - 1], (h, w), args.batch_size)
    batched_s = (time.perf_counter() - start) / (strip_rows * cols)
    strip_difference = float(np.abs(strip - dense[:strip_rows]).max())

    sub_rows = rng.integers(0, rows, args.subset)
    sub_cols = rng.integers(0, cols, args.subset)
    start = time.perf_counter()
    single = np.stack([np.asarray(model.predict_on_batch(image[None, r:r + h, c:c + w, None]))[0]
                       for r, c in zip(sub_rows, sub_cols)])
    per_window_s = (time.perf_counter() - start) / args.subset
    subset_difference = float(np.abs(single - dense[sub_rows, sub_cols]).max())

    small = rng.normal(size=tuple(args.small)).astype(np.float32)
    small_dense = predict_map(small, model, pixel_size=spec.pixel_size)
    small_windows = predict_map(small, model, pixel_size=spec.pixel_size, method="windows", batch_size=args.batch_size)
    all_difference = float(np.abs(small_dense.windows - small_windows.windows).max())

    print(f"image {args.size} x {args.size}, windows: {n_windows:,}; normalization {normalize_s:.2f} s, "
          f"registration {register_s:.2f} s")
    print(f"dense: {dense_s:.1f} s | batched windows (batch {args.batch_size}): {batched_s * 1e3:.2f} ms/window on "
          f"{strip_rows * cols:,} -> {batched_s * n_windows:.0f} s extrapolated | one pass per window: "
          f"{per_window_s * 1e3:.1f} ms -> {per_window_s * n_windows:.0f} s extrapolated")
    print(f"RESULT speed-up vs one pass per window {per_window_s * n_windows / dense_s:.0f}x (goal >= 50x); "
          f"vs batched windows {batched_s * n_windows / dense_s:.1f}x")
    n_small = small_dense.windows.shape[0] * small_dense.windows.shape[1]
    print(f"RESULT max |dense - windows| {all_difference:.2e} deg over all {n_small:,} "
          f"windows of a {args.small[0]} x {args.small[1]} image; {strip_difference:.2e} on the strip, "
          f"{subset_difference:.2e} on {args.subset} single windows (goal <= 1e-4)")


if __name__ == "__main__":
    main()

"""PRISM interpolation against exact PRISM (f = 1) and conventional multislice, as stem_atom_columns uses it.

Two checks, printed as numbers:
1. f = 1 PRISM equals conventional multislice (small cell, so both are affordable).
2. On a production-size cell (SrTiO3 [001] 7 x 7 cells, 3.9 nm, 200 kV, 0.07 A sampling), images on a
   40 x 40 patch of probe positions at f = 2, 3, 4 against f = 1: relative rms of the standardized
   image difference, and the shift of each column's fitted peak position [pm].

    python bench/validate_prism.py            # ~10 min on 2 cores
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from scipy.ndimage import map_coordinates

from stem_datasets.builders.stem_atom_columns.recipe import BULK
from stem_datasets.physics.lattices import projected_columns, srtio3_001
from stem_datasets.simulation.prism import Shot, conventional_images, frozen_configuration, grid_positions, prism_images


def standardized_rms(a: np.ndarray, b: np.ndarray) -> float:
    sa, sb = (a - a.mean()) / a.std(), (b - b.mean()) / b.std()
    return float(np.sqrt(np.mean((sa - sb) ** 2)))


def peak_positions(image: np.ndarray, xy: np.ndarray, sign: float) -> np.ndarray:
    """Sub-pixel extremum near each expected column (cubic interpolation on a 0.02 px grid)."""
    gy, gx = np.mgrid[-1:1.001:0.02, -1:1.001:0.02]
    out = []
    for x, y in xy:
        v = sign * map_coordinates(image, [y + gy, x + gx], order=3)
        k = np.unravel_index(v.argmax(), v.shape)
        out.append((x + gx[k], y + gy[k]))
    return np.array(out)


def main() -> None:
    small = frozen_configuration(srtio3_001((3, 3), 4), 1)
    settings = dataclasses.replace(BULK, interpolation=1)
    shot = [Shot(20.0, 22.0, grid_positions((24, 24), 0.2, (1.0, 1.0)))]
    exact, conv = prism_images(small, shot, settings, None), conventional_images(small, shot, settings)
    print(f"f=1 PRISM vs conventional (3x3 cells, 1.6 nm): HAADF max rel diff "
          f"{np.abs(exact.haadf - conv.haadf).max() / conv.haadf.std():.1e}, ABF {np.abs(exact.abf - conv.abf).max() / conv.abf.std():.1e}")

    atoms = frozen_configuration(srtio3_001((7, 7), 10), 1)
    step, n, origin = 0.2, 40, (7.0, 7.0)
    shot = [Shot(20.0, 22.0, grid_positions((n, n), step, origin))]
    cols = projected_columns(atoms)
    inside = np.all((cols.xy > np.array(origin) + 1.0) & (cols.xy < np.array(origin) + (n - 1) * step - 1.0), axis=1)
    xy_px = (cols.xy[inside] - np.array(origin)) / step
    heavy = cols.classes[inside] >= 2
    results = {}
    for f in (1, 2, 3, 4):
        start = time.perf_counter()
        results[f] = prism_images(atoms, shot, dataclasses.replace(BULK, interpolation=f), None)
        print(f"f={f}: {time.perf_counter() - start:.0f} s", flush=True)
    ref = results[1]
    ref_h = peak_positions(ref.haadf[0], xy_px[heavy], 1.0)
    ref_a = peak_positions(ref.abf[0], xy_px, -1.0)
    print("| f | window [A] | HAADF std. rms diff | ABF std. rms diff | HAADF peak shift rms / max [pm] | ABF peak shift rms / max [pm] |")
    print("| --- | --- | --- | --- | --- | --- |")
    for f in (2, 3, 4):
        r = results[f]
        dh = np.linalg.norm(peak_positions(r.haadf[0], xy_px[heavy], 1.0) - ref_h, axis=1) * step * 100
        da = np.linalg.norm(peak_positions(r.abf[0], xy_px, -1.0) - ref_a, axis=1) * step * 100
        print(f"| {f} | {27.3 / f:.1f} | {standardized_rms(r.haadf[0], ref.haadf[0]):.3f} | {standardized_rms(r.abf[0], ref.abf[0]):.3f} "
              f"| {np.sqrt(np.mean(dh**2)):.1f} / {dh.max():.1f} | {np.sqrt(np.mean(da**2)):.1f} / {da.max():.1f} |")


if __name__ == "__main__":
    main()

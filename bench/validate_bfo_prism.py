"""Validation: PRISM against conventional multislice for R3c BiFeO3 down [100]pc, 2.4-11.9 nm (issue 27, item 3).

The structure is the published one (:func:`stem_datasets.physics.bfo_r3c.r3c_100`: Palewicz et al. 2007,
delta_FeBi 23.85 pm per image component), one frozen-phonon configuration of a 4 x 4 pc tile. For each
potential sampling:

- conventional multislice on the tile, with exit planes at every 2 a_pc (one run gives every thickness);
- PRISM as the builders run it (:func:`stem_datasets.simulation.prism.prism_images`) on the tile
  repeated 2 x 2 (31.7 A), interpolation 3: a 10.6 A probe window, as production fields get.

Both scan the same 64 x 64 positions over the tile (0.25 A) with a 22 mrad, 200 kV probe. Each image
is read as a user would: a Gaussian fit at every Bi and Fe column (started at the truth), delta_FeBi
the Fe fit against the mean of its four Bi fits. Printed per thickness, detector and method: the
gain (measured delta_FeBi projected on the true one, over its length), the rms error per component
[pm], each column's peak-centre contrast (HAADF intensity at the Bi centre over the highest value
within 0.6 A: under 1 is a ring), and PRISM's standardized rms difference from multislice.

    python bench/validate_bfo_prism.py [--samplings 0.07 0.05] [--out bench_bfo]   # ~20 min on 2 cores
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
from validate_prism import standardized_rms  # bench/, the script's own folder

UNITS = (3, 6, 10, 15)  # thicknesses in units of 2 a_pc (7.93 A): 2.4, 4.8, 7.9, 11.9 nm
DETECTORS = {"HAADF 60-115 mrad": (60.0, 115.0), "HAADF 60-100 mrad": (60.0, 100.0)}
SEMIANGLE, TILE_PX = 22.0, 64


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samplings", nargs="*", type=float, default=[0.07, 0.05], help="potential sampling [A]")
    parser.add_argument("--interpolation", type=int, default=3, help="PRISM's, on a 31.7 A cell (3: a 10.6 A window)")
    parser.add_argument("--units", nargs="*", type=int, default=list(UNITS), help="thicknesses in units of 2 a_pc")
    parser.add_argument("--out", default="bench_bfo")
    args = parser.parse_args(argv)

    from stem_datasets.builders.stem_atom_columns.recipe import BULK
    from stem_datasets.physics.bfo_r3c import r3c_100
    from stem_datasets.simulation.prism import frozen_configuration, grid_positions

    units_list = tuple(args.units)
    static = r3c_100((2, 2), max(units_list))
    tile = np.diag(static.cell)[:2]
    unit = static.cell[2, 2] / max(units_list)
    frozen = frozen_configuration(static, seed=0)
    positions = grid_positions((TILE_PX, TILE_PX), tile[0] / TILE_PX)
    rows = []
    for sampling in args.samplings:
        settings = dataclasses.replace(BULK, potential_sampling=sampling, slice_thickness=unit / 4,
                                       haadf=DETECTORS["HAADF 60-115 mrad"], abf=DETECTORS["HAADF 60-100 mrad"],
                                       interpolation=args.interpolation)
        start = time.perf_counter()
        reference = conventional_series(frozen, positions, settings, unit, units_list)
        print(f"sampling {sampling} A: multislice {time.perf_counter() - start:.0f} s "
              f"(usable to {settings.usable_max_angle:.0f} mrad)", flush=True)
        for units in units_list:
            start = time.perf_counter()
            prism = prism_image(frozen, positions, settings, unit, units)
            print(f"  {units * unit / 10:.1f} nm: PRISM {time.perf_counter() - start:.0f} s", flush=True)
            for k, detector in enumerate(DETECTORS):
                ms, pr = reference[units][k], prism[k]
                difference = round(standardized_rms(ms, pr), 4)
                for method, image in (("multislice", ms), (f"PRISM f={args.interpolation}", pr)):
                    rows.append({"sampling_A": sampling, "usable_mrad": round(settings.usable_max_angle, 1),
                                 "thickness_nm": round(units * unit / 10, 2), "detector": detector, "method": method,
                                 **read_delta(image, static, tile[0] / TILE_PX),
                                 "rms_vs_multislice": difference if method != "multislice" else 0.0})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bfo_prism.json").write_text(json.dumps(rows, indent=1))
    report = table(rows)
    (out / "bfo_prism.md").write_text(report)
    print(report)


def conventional_series(frozen, positions: np.ndarray, settings, unit: float,
                        units_list: tuple[int, ...] = UNITS) -> dict[int, list[np.ndarray]]:
    """Multislice images of every detector at the exit plane after each thickness of ``units_list``."""
    import abtem

    from stem_datasets.simulation.simulate import POTENTIAL, _smooth_gpts, use_cpu_fftw

    use_cpu_fftw()
    cell = np.diag(frozen.cell)
    potential = abtem.Potential(frozen, gpts=tuple(_smooth_gpts(cell[:2], settings.potential_sampling)),
                                slice_thickness=unit / 4, exit_planes=4, **POTENTIAL)
    probe = abtem.Probe(energy=settings.energy, semiangle_cutoff=SEMIANGLE, defocus=0.0)
    detectors = [abtem.AnnularDetector(inner=lo, outer=hi) for lo, hi in DETECTORS.values()]
    measured = probe.scan(potential, scan=abtem.CustomScan(positions.reshape(-1, 2)), detectors=detectors,
                          max_batch=64)
    arrays = [np.asarray(m.array) for m in measured.compute(scheduler="threads", progress_bar=False)]
    # exit planes: the entrance (0) then every 4 slices, i.e. every unit of 2 a_pc
    return {u: [a[u].reshape(positions.shape[:2]) for a in arrays] for u in units_list}


def prism_image(frozen, positions: np.ndarray, settings, unit: float, units: int) -> list[np.ndarray]:
    """PRISM images (both detectors) of the first ``units`` layers, on the tile repeated 2 x 2."""
    from stem_datasets.simulation.prism import Shot, prism_images

    atoms = frozen[frozen.positions[:, 2] < units * unit - 1e-6]
    atoms.set_cell(np.diag([*np.diag(frozen.cell)[:2], units * unit]))
    images = prism_images(atoms.repeat((2, 2, 1)), [Shot(0.0, SEMIANGLE, positions)], settings, cache=None)
    return [images.haadf[0], images.abf[0]]  # the abf slot holds the second HAADF range here


def read_delta(image: np.ndarray, static, step: float) -> dict:
    """delta_FeBi from Gaussian fits at the true columns of a periodic tile image, against the truth."""
    from stem_datasets.physics.polarization import cell_polarization, column_positions
    from stem_zoo.tasks.atoms.refine import refine_columns

    tile = np.diag(static.cell)[:2]
    bi, fe = column_positions(static)
    pad = 16
    padded = np.pad(image, pad, mode="wrap")
    columns = np.concatenate([bi, fe]) / step + pad
    fits = refine_columns(padded, columns, 0.35 / step, prior_sigma_px=None, radius_px=4, neighbour_fraction=0.4)
    fitted = (fits.xy - pad) * step
    true = cell_polarization(bi, fe, tile).pm
    measured = cell_polarization(fitted[:len(bi)], fitted[len(bi):], tile).pm
    gain = float(np.sum(measured * true) / np.sum(true * true))
    centre = [peak_centre_contrast(padded, x, y, 0.6 / step) for x, y in columns[:len(bi)]]
    return {"gain": round(gain, 3), "rms_pm": round(float(np.sqrt(np.mean((measured - true) ** 2))), 2),
            "bi_centre_contrast": round(float(np.mean(centre)), 3), "fits_ok": int(fits.ok.sum())}


def peak_centre_contrast(image: np.ndarray, x: float, y: float, radius: float) -> float:
    """Intensity at (x, y) over the highest pixel within ``radius`` [px] of it (1: a peak; under 1: a ring)."""
    from scipy.ndimage import map_coordinates

    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    near = xx**2 + yy**2 <= radius**2
    values = map_coordinates(image, [y + yy[near], x + xx[near]], order=1)
    return float(map_coordinates(image, [[y], [x]], order=1)[0] / values.max())


def table(rows: list[dict]) -> str:
    lines = ["| sampling [A] (usable to) | thickness [nm] | detector | method | delta gain | rms error [pm] "
             "| Bi centre / peak | rms diff. to multislice |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['sampling_A']} ({r['usable_mrad']} mrad) | {r['thickness_nm']} | {r['detector']} | {r['method']} "
              f"| {r['gain']:.3f} | {r['rms_pm']:.2f} | {r['bi_centre_contrast']:.3f} | {r['rms_vs_multislice']:.4f} |"
              for r in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

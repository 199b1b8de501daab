"""Limit: how much of an Fe shift a HAADF image of BiFeO3 shows, by O sublattice and thickness (issue 27).

A [100]pc column of BiFeO3 holding Fe also holds O (the apical O of each octahedron), so its image
moves with both. In R3c the O sublattice moves against Bi further than Fe does, in the same
direction (0.38 A per pc component as refined, against Fe's 0.24 A); in a displaced-cation model
with O on the cubic face centres (the independent hold-out, :mod:`stem_zoo.tasks.polarization.holdout`)
it does not move. This script reads delta_FeBi model-free, as a user would, from conventional multislice
images of periodic tiles (:func:`stem_datasets.physics.polarization.bfo_r3c_field`, 4 x 4 pc cells, one
domain of 23.85 pm per image component, one frozen-phonon configuration, 200 kV, 22 mrad, HAADF 60-100
mrad, 0.07 A potential, 64 x 64 positions): Gaussian fits at every Bi and Fe column, the gain = the
measured delta_FeBi projected on the true one over its length. Rows: ``o_scale`` (0: cubic O, no tilts,
as in the independent hold-out; 0.8-1.1: the dataset's range; 1: as refined) by thickness.

A model that reads one O model right reads another with the ratio of their gains: the images alone
do not say where the O sit, so that ratio is what no model can beat.

    python bench/bench_bfo_o_gain.py [--scales 0 0.5 0.8 1.0 1.1] [--out bench_bfo_o]   # ~3 min a scale
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from validate_bfo_prism import DETECTORS, TILE_PX, conventional_series, read_delta  # bench/, the script's own folder

UNITS = (3, 6, 10, 15)  # units of 2 a_pc: 2.4, 4.8, 7.9, 11.9 nm


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="*", type=float, default=[0.0, 0.5, 0.8, 1.0, 1.1])
    parser.add_argument("--out", default="bench_bfo_o")
    args = parser.parse_args(argv)

    from stem_datasets.builders.stem_bfo_polarization.recipe import OPTICS
    from stem_datasets.physics.bfo_r3c import fe_offset_pm
    from stem_datasets.physics.polarization import bfo_r3c_field
    from stem_datasets.simulation.prism import frozen_configuration, grid_positions

    detector = list(DETECTORS.values()).index(OPTICS.haadf)  # the dataset's HAADF range among the check's two
    component = fe_offset_pm() / np.sqrt(3)  # 23.85 pm: R3c's delta_FeBi per image component
    rows = []
    for scale in args.scales:
        start = time.perf_counter()
        static = bfo_r3c_field((4, 4), max(UNITS), np.full((4, 4, 2), component), o_scale=scale)
        frozen = frozen_configuration(static, seed=0)
        cell = np.diag(frozen.cell)
        unit = cell[2] / max(UNITS)
        positions = grid_positions((TILE_PX, TILE_PX), cell[0] / TILE_PX)
        series = conventional_series(frozen, positions, OPTICS, unit, UNITS)  # multislice, an exit plane per unit
        for units in UNITS:
            image = series[units][detector]
            rows.append({"o_scale": scale, "thickness_nm": round(units * unit / 10, 2),
                         **read_delta(image, static, cell[0] / TILE_PX)})
        print(f"o_scale {scale}: {time.perf_counter() - start:.0f} s", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bfo_o_gain.json").write_text(json.dumps(rows, indent=1))
    thicknesses = sorted({r["thickness_nm"] for r in rows})
    lines = ["| o_scale | " + " | ".join(f"{t} nm" for t in thicknesses) + " |",
             "| --- |" + " --- |" * len(thicknesses)]
    for scale in args.scales:
        gains = {r["thickness_nm"]: r["gain"] for r in rows if r["o_scale"] == scale}
        lines.append(f"| {scale} | " + " | ".join(f"{gains[t]:.3f}" for t in thicknesses) + " |")
    report = "gain of delta_FeBi read by Gaussian fits (multislice, HAADF 60-100 mrad)\n\n" + "\n".join(lines) + "\n"
    (out / "bfo_o_gain.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()

"""How much each nuisance of ``stem_cbed_interface`` moves a unit-cell-averaged CBED stack, next to the step signal.

One `small`-setting run per row (10 nm, a step at 0.5 t, everything else nominal), each
changing one thing; printed: ||A - B|| / ||B|| of the standardized sqrt stacks (what the
step model reads). The step model's goal needs the first two rows to exceed the others.

    $ python bench/cbed_signal_vs_nuisance.py          # ~2 minutes on 2 cores
"""

from __future__ import annotations

import numpy as np

from stem_datasets.builders.stem_cbed_interface.recipe import A, RECIPES
from stem_datasets.simulation.simulate import simulate_4dstem
from stem_datasets.physics.structures import lao_sto_interface

RECIPE = RECIPES["small"]
LINES_CENTRE = 3 * A + A / 2 - A / (2 * RECIPE.scan.lines)


def stack(cells=26, k=5, angle=0.0, width=None, terrace_offset=0.0, offset=(0.0, 0.0), defocus=0.0,
          tilt=(0.0, 0.0), seed=1) -> np.ndarray:
    """The standardized sqrt cell-averaged stack of one run."""
    structure = lao_sto_interface(cells * A, step_fraction=k / 10, step_angle_deg=angle,
                                  step_y_angstrom=LINES_CENTRE + offset[1], terrace_width_angstrom=width,
                                  terrace_offset_angstrom=terrace_offset)
    microscope = RECIPE.microscope.replace(defocus=defocus, mistilt=tilt, seed=seed)
    run = simulate_4dstem(structure, [cells * A], microscope, RECIPE.scan, RECIPE.detector, None,
                          offset=(offset[0], 3 * A + offset[1]))
    a = np.sqrt(run.cell_average()[0])
    return (a - a.mean()) / a.std()


def main() -> None:
    base = stack()
    rows = {
        "step 0.4 t (signal)": dict(k=4), "step 0.6 t (signal)": dict(k=6), "another phonon seed": dict(seed=2),
        "defocus +25 A": dict(defocus=25.0), "defocus -25 A": dict(defocus=-25.0),
        "mistilt 1 mrad (x)": dict(tilt=(1.0, 0.0)), "mistilt 1 mrad (y)": dict(tilt=(0.0, 1.0)),
        "step edge at 15 deg": dict(angle=15.0), "5-cell terrace, 1.5 cells off": dict(width=5 * A, terrace_offset=1.5 * A),
        "scan start +0.3 A in x": dict(offset=(0.3, 0.0)), "scan lines +1.5 A in y": dict(offset=(0.0, 1.5)),
        "thickness +2 cells": dict(cells=28),
    }
    for name, change in rows.items():
        other = stack(**change)
        print(f"{name:32s} {np.linalg.norm(other - base) / np.linalg.norm(base):6.3f}")


if __name__ == "__main__":
    main()

"""How much each nuisance of ``stem_cbed_interface`` moves a registered unit-cell-averaged CBED stack, next to the signals.

One run at `small`'s imaging and scan per row (10 nm, a step at 0.5 t, everything else
nominal), each changing one thing; every run is registered to the lattice from its own ADF
(Poisson noise at 1e5 e per position) as the dataset and ``stem_zoo`` do, and the registered
cell average compared with the nominal run's: ||A - B|| / ||B|| of the standardized sqrt
stacks (what the step model reads). The raw column is the same without registration (the
scan's nominal positions, for the scan-offset rows). The step model's goal needs the signal
rows to exceed the nuisance rows; the class rows say what the interface classifier has to
tell apart in the same measure.

    $ python bench/cbed_signal_vs_nuisance.py          # ~8 minutes on 2 cores
"""

from __future__ import annotations

import numpy as np

from stem_datasets.builders.stem_cbed_interface.recipe import A, RECIPES
from stem_datasets.pipeline.scan_registration import register_scan
from stem_datasets.simulation.simulate import simulate_4dstem
from stem_datasets.physics.structures import lao_sto_interface

RECIPE = RECIPES["small"]
SCAN = RECIPE.scan
DOSE = 1e5


def _standardized(stack: np.ndarray) -> np.ndarray:
    a = np.sqrt(np.maximum(stack, 0.0))
    return (a - a.mean()) / a.std()


def stack(cells=26, k: float | None = 0.5, mix=0.0, angle=0.0, width=None, terrace_offset=0.0, offset=(0.0, 0.0),
          defocus=0.0, tilt=(0.0, 0.0), seed=1, phonons=None) -> tuple[np.ndarray, np.ndarray]:
    """(registered, raw) standardized sqrt cell-averaged stacks of one run."""
    centre = 3 * A + offset[1] + A / 2 - A / (2 * SCAN.lines)
    structure = lao_sto_interface(cells * A, step_fraction=k, intermix_fraction=mix, seed=seed, step_angle_deg=angle,
                                  step_y_angstrom=centre, terrace_width_angstrom=width, terrace_offset_angstrom=terrace_offset)
    microscope = RECIPE.microscope.replace(defocus=defocus, mistilt=tilt, seed=seed,
                                           **({} if phonons is None else {"frozen_phonons": phonons}))
    run = simulate_4dstem(structure, [cells * A], microscope, SCAN, RECIPE.detector, None,
                          offset=(offset[0], 3 * A + offset[1]))
    adf = np.random.default_rng(seed).poisson(run.adf[0] * DOSE) / DOSE
    registered = register_scan(run.cbed[0], adf, SCAN.raw_x(A), SCAN.lines_y(A), SCAN.model_x(A))
    raw = run.cbed[0][:, SCAN.on_model_positions()].mean(axis=0)  # the model's nominal positions, unregistered
    return _standardized(registered.cell_average()), _standardized(raw)


def _change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main() -> None:
    base, base_raw = stack()
    rows = {
        "signal: step 0.4 t": dict(k=0.4), "signal: step 0.6 t": dict(k=0.6),
        "class: abrupt (flat, nominal plane) vs step 0.5": dict(k=None),
        "class: intermixed 10% Ti vs step 0.5": dict(k=None, mix=0.1),
        "another phonon seed (2 configurations)": dict(seed=2),
        "defocus +25 A": dict(defocus=25.0), "defocus -25 A": dict(defocus=-25.0),
        "mistilt 1 mrad (x)": dict(tilt=(1.0, 0.0)), "mistilt 1 mrad (y)": dict(tilt=(0.0, 1.0)),
        "step edge at 15 deg": dict(angle=15.0), "5-cell terrace, 1.5 cells off": dict(width=5 * A, terrace_offset=1.5 * A),
        "scan start +0.3 A in x": dict(offset=(0.3, 0.0)), "scan start -0.2 A in x": dict(offset=(-0.2, 0.0)),
        "scan lines +1.5 A in y": dict(offset=(0.0, 1.5)), "thickness +2 cells": dict(cells=28),
    }
    print(f"{'change':50s} {'registered':>10s} {'raw':>7s}")
    for name, change in rows.items():
        other, other_raw = stack(**change)
        print(f"{name:50s} {_change(other, base):10.3f} {_change(other_raw, base_raw):7.3f}", flush=True)
    # phonon noise against the number of configurations: two seeds of the same structure
    for n in (8,):
        a, _ = stack(seed=11, phonons=n)
        b, _ = stack(seed=12, phonons=n)
        print(f"{f'another phonon seed ({n} configurations)':50s} {_change(a, b):10.3f}", flush=True)
    flat_nominal, _ = stack(k=None)
    for name, change in {"class: step 0.9 t vs abrupt (nominal plane)": dict(k=0.9),
                         "class: intermixed 10% Ti vs abrupt": dict(k=None, mix=0.1),
                         "class: intermixed 30% Ti vs abrupt": dict(k=None, mix=0.3)}.items():
        other, _ = stack(**change)
        print(f"{name:50s} {_change(other, flat_nominal):10.3f}", flush=True)
    flat_out, _ = stack(k=0.0)
    other, _ = stack(k=0.1)
    print(f"{'class: step 0.1 t vs abrupt (one cell out)':50s} {_change(other, flat_out):10.3f}", flush=True)


if __name__ == "__main__":
    main()

"""Size of stem_cbed_interface's named approximations, against the rough-vs-intermixed signal.

Each approximation is measured as the relative change it makes to a CBED stack,
||A - B|| / ||B||, next to the signal the classifier needs (rough step at half depth vs
30% Ti intermixing, same settings) and the frozen-phonon noise (two phonon seeds),
all at 10 nm with the ``small`` settings unless stated, side by side in one run:

- coherent film: the LaAlO3 film's tetragonal c (3.75 A, across the interface here)
  is replaced by SrTiO3's 3.905 A; here the contracted film (planes after the
  terminating TiO2 at c/2 spacing; the 0.47 A left over goes to the SrO cap gap, 1.5
  cells beyond the scan);
- 2 x 2 detector binning: fraction of the class signal that survives binning
  (native 0.92 mrad pixels vs binned 1.84 mrad);
- potential sampling 0.1 A (small) vs 0.05 A (full).

    $ python bench/validate_cbed_approximations.py     # ~3 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from stem_datasets import cbed_interface as ci
from stem_datasets.simulate import CbedDetector, simulate_4dstem
from stem_datasets.structures import lao_sto_interface, snap_interface_thickness

LAO_C = 3.75  # tetragonal LaAlO3 on SrTiO3, out of plane [A]


def contract_film(atoms, c: float = LAO_C):
    """Copy of an interface structure with the film's planes at c/2 spacing from the terminating TiO2."""
    out = atoms.copy()
    a, x0 = atoms.info["lattice_constant"], atoms.info["interface_x"]
    cap_x = atoms.cell[0, 0] - atoms.info["slice_thickness"] / 2  # the SrO cap plane
    x = out.positions[:, 0]
    film = (x > x0 + 1e-3) & (x < cap_x - 1e-3)
    out.positions[film, 0] = x0 + (x[film] - x0) * c / a
    return out


def _difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thickness", type=float, default=100.0, help="angstrom (snapped to whole slices)")
    args = parser.parse_args()
    recipe = ci.get_recipe("small")
    t = snap_interface_thickness(args.thickness)
    rough = lao_sto_interface(t, step_fraction=0.5)
    mixed = lao_sto_interface(t, intermix_fraction=0.3, seed=1)
    micro, scan, det = recipe.microscope.replace(seed=11), recipe.scan, recipe.detector

    def run(structure, microscope=micro, detector=det):
        return simulate_4dstem(structure, [t], microscope, scan, detector, cache=None).cbed[0]

    r, m = run(rough), run(mixed)
    signal = _difference(m, r)
    rows = [("rough (step 0.5) vs intermixed (30% Ti): the signal", signal)]
    rows.append(("frozen-phonon noise: rough, another phonon seed", _difference(run(rough, micro.replace(seed=12)), r)))
    r_c, m_c = run(contract_film(rough)), run(contract_film(mixed))
    rows.append(("coherent film: rough, c 3.75 vs 3.905 A", _difference(r_c, r)))
    rows.append(("coherent film: intermixed, c 3.75 vs 3.905 A", _difference(m_c, m)))
    rows.append(("signal with the contracted film", _difference(m_c, r_c)))
    fine = micro.replace(potential_sampling=0.05)
    rows.append(("sampling: rough, 0.05 vs 0.1 A", _difference(run(rough, fine), r)))
    native = dataclasses.replace(det, pixels=det.pixels * det.binning, binning=1)
    r_n, m_n = run(rough, detector=native), run(mixed, detector=native)
    rows.append(("signal at native 0.92 mrad pixels (no binning)", _difference(m_n, r_n)))
    print(f"stem_cbed_interface/small settings, {t:.2f} A, 8 x 4 positions, {micro.frozen_phonons} phonon configurations")
    for name, value in rows:
        print(f"{name:<58}{100 * value:>8.1f} %")
    print(f"ratio coherent-film change / signal (rough): {rows[2][1] / signal:.2f}")
    print(f"ratio sampling change / signal: {rows[5][1] / signal:.2f}")
    print(f"ratio binned / native signal: {signal / rows[6][1]:.2f}")


if __name__ == "__main__":
    main()

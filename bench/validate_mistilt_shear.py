"""Validation: a mistilted crystal as a shear (``stem_bfo_polarization``'s ``test_mistilt``) against abTEM's beam tilt.

The dataset tilts the crystal by theta by shearing it about mid-thickness (atoms move by
(z - z_mid) tan theta), which keeps the lateral periodicity PRISM needs. abTEM's own ``tilt`` tilts
the incident beam instead (conventional multislice with a tilted propagator). Both image BiFeO3
[100]pc (2 x 2 pc cells, one phonon configuration) with the dataset's optics; printed: the rms of the
standardized HAADF difference, and the apparent polarization (delta_FeBi from Gaussian-refined column
peaks) of each, next to the untilted image's, which is what the split measures.

    python bench/validate_mistilt_shear.py [--mistilt 2.0] [--layers 6]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def haadf(atoms, positions, settings, semiangle: float, tilt=(0.0, 0.0)) -> np.ndarray:
    import abtem

    from stem_datasets.simulation.prism import _potential
    from stem_datasets.simulation.simulate import use_cpu_fftw

    use_cpu_fftw()
    potential = _potential(atoms, settings)
    probe = abtem.Probe(energy=settings.energy, semiangle_cutoff=semiangle, tilt=tuple(tilt))
    scan = abtem.CustomScan(np.mod(positions, np.diag(atoms.cell)[:2]).reshape(-1, 2))
    detector = abtem.AnnularDetector(inner=settings.haadf[0], outer=settings.haadf[1])
    measured = probe.scan(potential, scan=scan, detectors=[detector], max_batch=64)
    return np.asarray(measured.compute(scheduler="threads", progress_bar=False).array, float).reshape(positions.shape[:2])


def apparent_polarization(image: np.ndarray, step: float, a: float, origin: float) -> np.ndarray:
    """delta_FeBi [pm] of the cell at (a..2a)^2 from parabolic refinement of its five column maxima
    (the image's pixel (0, 0) at (origin, origin) [A])."""
    from stem_datasets.physics.polarization import cell_polarization

    def peak(x0: float, y0: float) -> np.ndarray:
        r = int(round(0.6 / step))
        j, i = int(round((x0 - origin) / step)), int(round((y0 - origin) / step))
        win = image[i - r:i + r + 1, j - r:j + r + 1]
        di, dj = np.unravel_index(np.argmax(win), win.shape)
        ci, cj = i - r + di, j - r + dj

        def vertex(m, c, p):
            d = m - 2 * c + p
            return 0.0 if d == 0 else 0.5 * (m - p) / d

        return origin + np.array([(cj + vertex(*image[ci, cj - 1:cj + 2])) * step,
                                  (ci + vertex(*image[ci - 1:ci + 2, cj])) * step])

    bi = np.array([peak(x * a, y * a) for x in (1, 2) for y in (1, 2)])
    fe = peak(1.5 * a, 1.5 * a)
    return cell_polarization(bi, fe[None], lattice_constant=None).pm[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mistilt", type=float, default=2.0, help="mrad, along image x")
    parser.add_argument("--layers", type=int, default=6, help="units of 2 a_pc along the beam")
    args = parser.parse_args(argv)

    from stem_datasets.builders.stem_bfo_polarization import recipe as bp
    from stem_datasets.physics import polarization
    from stem_datasets.simulation.prism import frozen_configuration, grid_positions

    settings = bp.BULK
    field = np.zeros((4, 4, 2)) + (20.0, 20.0)
    atoms = frozen_configuration(polarization.bfo_field((4, 4), args.layers, field), 1)
    a = bp.pc_lattice_constant()
    step, origin = 0.1, 0.75 * a  # the central cell and its four Bi columns, with a margin
    n = int(1.5 * a / step) + 1
    positions = grid_positions((n, n), step, (origin, origin))
    start = time.perf_counter()
    images = {
        "on zone": haadf(atoms, positions, settings, 22.0),
        "sheared crystal": haadf(bp.mistilted(atoms, (args.mistilt, 0.0)), positions, settings, 22.0),
        # a beam tilted by -theta crosses the crystal as the crystal sheared by +theta crosses an untilted beam
        "tilted beam (abTEM)": haadf(atoms, positions, settings, 22.0, tilt=(-args.mistilt, 0.0)),
    }
    seconds = time.perf_counter() - start
    z = {k: (v - v.mean()) / v.std() for k, v in images.items()}
    print(f"BiFeO3 [100]pc, {atoms.cell[2, 2] / 10:.1f} nm, mistilt {args.mistilt} mrad along x, 200 kV, 22 mrad, "
          f"HAADF {settings.haadf} mrad ({seconds:.0f} s)")
    # abTEM pivots its tilt at the entrance surface, the dataset's shear at mid-thickness: a rigid offset of
    # theta * t / 2, registered away (sub-pixel phase correlation) before the images are compared
    from scipy.ndimage import shift as shift_image
    from skimage.registration import phase_cross_correlation

    reference = z["tilted beam (abTEM)"]
    for name in ("sheared crystal", "on zone"):
        offset, _, _ = phase_cross_correlation(reference, z[name], upsample_factor=20)
        aligned = shift_image(z[name], offset, order=3, mode="nearest")[5:-5, 5:-5]
        rms = np.sqrt(np.mean((aligned - reference[5:-5, 5:-5]) ** 2))
        print(f"{name} vs tilted beam: rigid offset {offset[1] * step * 100:.1f}, {offset[0] * step * 100:.1f} pm; "
              f"rms of the standardized difference after it {rms:.3f}")
    print("| image | apparent delta_FeBi (x, y) [pm] |")
    print("| --- | --- |")
    print(f"| truth | {field[0, 0, 0]:.1f}, {field[0, 0, 1]:.1f} |")
    for name, image in images.items():
        p = apparent_polarization(image, step, a, origin)
        print(f"| {name} | {p[0]:.1f}, {p[1]:.1f} |")


if __name__ == "__main__":
    main()

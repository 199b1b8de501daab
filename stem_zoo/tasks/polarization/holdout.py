"""polarization_dcnn's independent hold-out: two-domain BiFeO3 fields built with ASE and numpy alone.

Nothing here comes from :mod:`stem_datasets.physics` (a test checks it), so a mistake in the
dataset's structure code cannot hide in both. The structure is the simplest displaced-cation
model of [100]pc BiFeO3 (issue 27): a cubic perovskite of a_pc = 3.9644 A (the (V/6)^(1/3) of
Palewicz et al.'s R3c cell, Acta Cryst. B63, 537 (2007)), Bi on the corners, O on the face
centres, no tilts, every Fe moved in the image plane by its domain's delta_FeBi: 30 pm along
(+1, +1) left of a vertical wall through the middle, 25 pm along (+1, -1) right of it. Its
optics lie outside every draw of ``stem_bfo_polarization``: HAADF 70-150 mrad on a 0.05 A
potential sampling (usable to 167 mrad), 22 mrad, -10 A defocus, 0.25 A source, a slightly
drifting raster at 0.25 A/px, PRISM with a probe window of at least 15 A; thicknesses 2.4, 5.5 and 11.9 nm;
2e5 and 3e4 e-/A^2.

Example (the structure only; imaging it takes minutes):
    >>> atoms, fe_xy, delta = displaced_cation_field(4, 2)
    >>> atoms.get_chemical_formula(), fe_xy.shape, np.round(delta[[0, -1]], 2).tolist()
    ('Bi32Fe32O96', (16, 2), [[21.21, 21.21], [17.68, -17.68]])
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

A_PC = 3.9644  # A
DOMAINS = {"left": (30.0, (1.0, 1.0)), "right": (25.0, (1.0, -1.0))}  # |delta_FeBi| [pm] and its image direction
THICKNESSES_NM = (2.4, 5.5, 11.9)
DOSES = (2e5, 3e4)  # e-/A^2
PIXEL_SIZE = 0.25  # A


def displaced_cation_field(cells: int, layers: int) -> tuple[Atoms, np.ndarray, np.ndarray]:
    """The structure (beam along z, ``cells`` x ``cells`` x ``layers`` cubes), its Fe columns (x, y) [A] and their
    delta_FeBi (x, y) [pm]: the left half's domain for columns with x < cells / 2 cells, the right's beyond."""
    if cells < 2 or cells % 2 or layers < 1:
        raise ValueError(f"cells must be even and >= 2, layers >= 1; got {cells}, {layers}.")
    i, j = (g.ravel() for g in np.mgrid[0:cells, 0:cells])
    left = i < cells // 2
    delta = np.array([DOMAINS["left" if is_left else "right"][0] / np.sqrt(2)
                      * np.array(DOMAINS["left" if is_left else "right"][1]) for is_left in left])
    fe_xy = (np.stack([i, j], axis=1) + 0.5) * A_PC + delta / 100.0
    symbols, positions = [], []
    for k in range(layers):
        z = k * A_PC
        for (x, y), (fx, fy) in zip(np.stack([i, j], axis=1) * A_PC, fe_xy):
            symbols += ["Bi", "O", "Fe", "O", "O"]
            positions += [(x, y, z), (x + A_PC / 2, y + A_PC / 2, z), (fx, fy, z + A_PC / 2),
                          (x + A_PC / 2, y, z + A_PC / 2), (x, y + A_PC / 2, z + A_PC / 2)]
    atoms = Atoms(symbols, positions=positions, cell=np.diag([cells * A_PC, cells * A_PC, layers * A_PC]), pbc=True)
    atoms.info.update(family="perovskite", zone="BiFeO3 [100]pc (displaced-cation hold-out)")
    return atoms, fe_xy, delta


def holdout_field(thickness_nm: float, dose: float, cells: int = 12, cache=None) -> dict:
    """One hold-out image (a dataset-like dict): ``image``, ``pixel_size``, ``cells_xy`` [px], ``polarization_pm``,
    ``domain`` ("left" / "right" per Fe column), ``thickness_nm``, ``dose``."""
    from dataclasses import replace

    from stem_datasets.builders.stem_atom_columns.recipe import BULK, ShotDraw, pixel_coordinates, recorded_image
    from stem_datasets.builders.stem_atom_columns.recipe import scan_positions
    from stem_datasets.simulation.prism import Shot, frozen_configuration, prism_images

    if not (np.isfinite(thickness_nm) and thickness_nm > 0 and np.isfinite(dose) and dose > 0):
        raise ValueError(f"thickness_nm and dose [e/A^2] must be positive numbers, got {thickness_nm!r} and {dose!r}.")
    layers = max(1, int(round(thickness_nm * 10 / A_PC)))
    atoms, fe_xy, delta = displaced_cation_field(cells, layers)
    # PRISM with a probe window of at least 15 A: bench/validate_bfo_prism.py found a 10.6 A window turning BiFeO3's
    # columns into rings at 11.9 nm (gain 1.33 against multislice's 1.13) and a 15.9 A one within 0.004 of multislice.
    optics = replace(BULK, haadf=(70.0, 150.0), potential_sampling=0.05, slice_thickness=A_PC / 2, min_window=15.0)
    shot = ShotDraw(rotation_deg=0.0, origin=(A_PC / 4, A_PC / 4), drift=(0.2, -0.1), jitter_rms=0.02, jitter_seed=27,
                    defocus=-10.0, semiangle=22.0, source_size=0.25, dose_haadf=dose, dose_abf=dose)
    side = int((cells - 1) * A_PC / PIXEL_SIZE)
    positions = scan_positions(shot, (side, side), PIXEL_SIZE)
    clean = prism_images(frozen_configuration(atoms, 2027), [Shot(shot.defocus, shot.semiangle, positions)],
                         optics, cache).haadf[0]
    image = recorded_image(clean, shot.source_size, PIXEL_SIZE, dose, np.random.default_rng(int(dose)))
    xy = pixel_coordinates(positions, fe_xy)
    inside = np.all((xy >= 0) & (xy <= side - 1), axis=1)
    left = fe_xy[:, 0] < cells / 2 * A_PC
    return {"image": image, "pixel_size": PIXEL_SIZE, "cells_xy": xy[inside], "polarization_pm": delta[inside],
            "domain": np.where(left, "left", "right")[inside], "thickness_nm": layers * A_PC / 10, "dose": dose}


def score(field: dict, result) -> dict:
    """Per domain: RMSE of (Px, Py) [pm], the |P| ratio (mean predicted over mean true) and the mean angle error
    [deg] of a :class:`~stem_zoo.tasks.polarization.predict.PolarizationMap` of ``field``; ``n`` matched columns."""
    from scipy.spatial import cKDTree

    from stem_zoo.tasks.polarization.report import field_labels

    matched, truth, predicted = field_labels(field, result)
    _, index = cKDTree(field["cells_xy"]).query(result.xy[matched])
    domains = field["domain"][index]
    out = {}
    for name in DOMAINS:
        t, p = truth[domains == name], predicted[domains == name]
        if not len(t):
            continue
        cosine = np.sum(t * p, axis=1) / np.maximum(np.linalg.norm(t, axis=1) * np.linalg.norm(p, axis=1), 1e-9)
        out[name] = {"n": int(len(t)), "rmse_pm": np.sqrt(np.mean((p - t) ** 2, axis=0)).round(2).tolist(),
                     "magnitude_ratio": round(float(np.linalg.norm(p, axis=1).mean() / np.linalg.norm(t, axis=1).mean()), 3),
                     "angle_error_deg": round(float(np.degrees(np.arccos(np.clip(cosine, -1, 1))).mean()), 1)}
    return out

"""HAADF and ABF images of fields of several nm by PRISM (abTEM's ``SMatrix``).

PRISM propagates a set of plane waves through the specimen once; every probe position,
defocus and convergence angle is then a cheap sum of them, so one run gives many images of
one structure. With interpolation factor f the probe is cut to a window of 1/f of the cell;
the factor is chosen so that the window is at least ``PrismSettings.min_window`` (9 A).
:func:`conventional_images` runs the same shots by conventional multislice, to validate a
choice of f (``bench/validate_prism.py``; the number is in the ``stem_atom_columns`` card).

Thermal diffuse scattering: one frozen-phonon configuration per structure
(:func:`frozen_configuration`, Gaussian displacements with the Debye-Waller sigmas of
:data:`stem_datasets.simulation.microscope.THERMAL_SIGMAS_300K`).

Example (a 2 x 2 cell SrTiO3 field, 1.6 nm thick; about a second):
    >>> from stem_datasets.physics.lattices import srtio3_001
    >>> atoms = srtio3_001((2, 2), 4)
    >>> shot = Shot(defocus=0.0, semiangle=20.0, positions=grid_positions((8, 8), 0.5))
    >>> images = prism_images(atoms, [shot], PrismSettings(potential_sampling=0.1, haadf=(50, 80)), cache=None)
    >>> images.haadf.shape, bool(images.haadf.max() > images.haadf.min() > 0)
    ((1, 8, 8), True)
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from ase import Atoms

from stem_datasets.simulation.cache import SimulationCache, atoms_description, cache_key
from stem_datasets.simulation.microscope import THERMAL_SIGMAS_300K, Microscope
from stem_datasets.simulation.simulate import (POTENTIAL, _abtem_version, _is_smooth, _smooth_gpts,
                                               settings_description, use_cpu_fftw)

CACHE_FORMAT = 2  # 2: grid points a multiple of the interpolation factor


@dataclass(frozen=True)
class PrismSettings:
    """Beam energy [eV], detectors [mrad], numerics [A], and the PRISM interpolation factor."""

    energy: float = 200e3
    max_semiangle: float = 25.0  # plane-wave cutoff: the largest probe semiangle of any shot
    haadf: tuple[float, float] = (65.0, 135.0)
    abf: tuple[float, float] = (11.0, 22.0)
    potential_sampling: float = 0.06  # represents scattering to ~139 mrad at 200 kV (2/3 of Nyquist)
    slice_thickness: float = 2.0
    interpolation: int | None = None  # None: the largest factor whose probe window is >= min_window
    # A; bench/validate_prism.py: at 9.1 A column peaks move <= 0.6 pm against exact PRISM (SrTiO3, 3.9 nm). Thicker
    # specimens spread the probe further: bench/validate_bfo_prism.py (R3c BiFeO3) found a 10.6 A window fine to 4.8 nm,
    # off from 7.9 nm (peak centres 0.94) and ringed at 11.9 nm (delta_FeBi read 1.33x, multislice 1.13x); 15.9 A held
    # within 0.004 of multislice to 11.9 nm.
    min_window: float = 9.0

    def interpolation_for(self, cell: Sequence[float]) -> int:
        """The interpolation factor used on a cell of (x, y) size [A]."""
        if self.interpolation is not None:
            return int(self.interpolation)
        return max(1, int(min(cell) // self.min_window))

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @property
    def usable_max_angle(self) -> float:
        """Largest scattering angle [mrad] the potential sampling represents (2/3 of Nyquist)."""
        return Microscope(energy=self.energy, potential_sampling=self.potential_sampling).usable_max_angle_mrad()


@dataclass(frozen=True)
class Shot:
    """One image: probe defocus [A] (abTEM C10 = -defocus), semiangle [mrad], scan positions (H, W, 2) [A] as (x, y)."""

    defocus: float
    semiangle: float
    positions: np.ndarray


@dataclass(frozen=True)
class FieldImages:
    """HAADF and ABF images (shot, H, W), in units of the incident probe intensity."""

    haadf: np.ndarray
    abf: np.ndarray
    seconds: float


def grid_positions(shape: tuple[int, int], step: float, origin: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """An undistorted raster (H, W, 2) of (x, y) positions [A]: rows along y, columns along x.

    >>> grid_positions((2, 3), 0.5)[1, 2].tolist()
    [1.0, 0.5]
    """
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    return np.stack([origin[0] + cols * step, origin[1] + rows * step], axis=-1)


def frozen_configuration(atoms: Atoms, seed: int, sigmas: dict[str, float] | None = None) -> Atoms:
    """One frozen-phonon configuration: independent Gaussian displacements per atom and axis.

    >>> from stem_datasets.physics.lattices import srtio3_001
    >>> a = srtio3_001((1, 1), 1)
    >>> moved = frozen_configuration(a, 0)
    >>> 0 < float(np.abs(moved.positions - a.positions).max()) < 0.5
    True
    """
    sigmas = THERMAL_SIGMAS_300K if sigmas is None else sigmas
    symbols = atoms.get_chemical_symbols()
    missing = sorted(set(symbols) - set(sigmas))
    if missing:
        raise ValueError(f"No thermal displacement for {missing}; add it to THERMAL_SIGMAS_300K with its source.")
    sigma = np.array([sigmas[s] for s in symbols])[:, None]
    moved = atoms.copy()
    moved.positions += np.random.default_rng(seed).normal(size=atoms.positions.shape) * sigma
    return moved


def _check_shots(shots: Sequence[Shot], settings: PrismSettings) -> None:
    usable = settings.usable_max_angle
    if settings.haadf[1] > usable:
        raise ValueError(f"HAADF outer angle {settings.haadf[1]} mrad exceeds the {usable:.0f} mrad that a potential "
                         f"sampling of {settings.potential_sampling} A represents; use a finer sampling.")
    if not shots:
        raise ValueError("prism_images needs at least one Shot.")
    for shot in shots:
        p = np.asarray(shot.positions)
        if p.ndim != 3 or p.shape[-1] != 2 or not np.all(np.isfinite(p)):
            raise ValueError(f"Shot.positions must be a finite (H, W, 2) array of (x, y) [A], got shape {p.shape}.")
        if not 0 < shot.semiangle <= settings.max_semiangle:
            raise ValueError(f"Shot semiangle {shot.semiangle} mrad must be in (0, {settings.max_semiangle}] "
                             "(the plane-wave cutoff, PrismSettings.max_semiangle).")


def _shots_description(shots: Sequence[Shot]) -> list:
    return [[s.defocus, s.semiangle, hashlib.sha256(np.ascontiguousarray(s.positions, np.float64)).hexdigest()]
            for s in shots]


def prism_images(atoms: Atoms, shots: Sequence[Shot], settings: PrismSettings, cache: SimulationCache | None) -> FieldImages:
    """HAADF and ABF images of a periodic, orthogonal cell (beam along z) for each shot.

    Positions may lie anywhere: the cell is periodic, so they are wrapped into it.
    """
    _check_shots(shots, settings)
    key = cache_key({"format": CACHE_FORMAT, "method": "prism", "abtem": _abtem_version(), **atoms_description(atoms),
                     **settings_description(**POTENTIAL),
                     "settings": settings.to_dict(), "shots": _shots_description(shots)})
    stored = cache.get(key) if cache is not None else None
    if stored is None:
        start = time.perf_counter()
        haadf, abf = _run(atoms, shots, settings, prism=True)
        stored = {"haadf": haadf, "abf": abf, "seconds": np.array(time.perf_counter() - start)}
        if cache is not None:
            cache.put(key, stored)
    return FieldImages(stored["haadf"], stored["abf"], float(stored["seconds"]))


def conventional_images(atoms: Atoms, shots: Sequence[Shot], settings: PrismSettings) -> FieldImages:
    """The same images by conventional multislice (one probe per position): the reference for PRISM."""
    _check_shots(shots, settings)
    start = time.perf_counter()
    haadf, abf = _run(atoms, shots, settings, prism=False)
    return FieldImages(haadf, abf, time.perf_counter() - start)


def _potential(atoms: Atoms, settings: PrismSettings):
    import abtem

    cell = np.diag(atoms.cell)
    n_slices = max(1, int(round(cell[2] / settings.slice_thickness)))
    f = settings.interpolation_for(cell[:2])
    gpts = [n + (-n) % f for n in _smooth_gpts(cell[:2], settings.potential_sampling)]
    gpts = [n if _is_smooth(n) else min(m for m in range(n, 2 * n, f) if _is_smooth(m)) for n in gpts]
    return abtem.Potential(atoms, gpts=tuple(gpts),
                           slice_thickness=cell[2] / n_slices, **POTENTIAL)


def _run(atoms: Atoms, shots: Sequence[Shot], settings: PrismSettings, prism: bool):
    import abtem  # heavy import, only when a simulation really runs

    use_cpu_fftw()
    potential = _potential(atoms, settings)
    cell = np.diag(atoms.cell)[:2]
    detectors = [abtem.AnnularDetector(inner=settings.haadf[0], outer=settings.haadf[1]),
                 abtem.AnnularDetector(inner=settings.abf[0], outer=settings.abf[1])]
    if prism:
        # abTEM 1.0.11: SMatrix exit planes and SMatrixArray.scan are broken; one thickness, reduce() directly.
        s_matrix = abtem.SMatrix(semiangle_cutoff=settings.max_semiangle, energy=settings.energy, potential=potential,
                                 interpolation=settings.interpolation_for(cell)).build(lazy=False)
    haadf, abf = [], []
    for shot in shots:
        shape = shot.positions.shape[:2]
        scan = abtem.CustomScan(np.mod(shot.positions, cell).reshape(-1, 2))
        ctf = abtem.CTF(defocus=shot.defocus, semiangle_cutoff=shot.semiangle, energy=settings.energy)
        if prism:
            measured = s_matrix.reduce(scan=scan, ctf=ctf, detectors=detectors)
        else:
            probe = abtem.Probe(energy=settings.energy, semiangle_cutoff=shot.semiangle, defocus=shot.defocus)
            measured = probe.scan(potential, scan=scan, detectors=detectors, max_batch=32)
        h, b = measured.compute(scheduler="threads", progress_bar=False)
        haadf.append(np.asarray(h.array, np.float32).reshape(shape))
        abf.append(np.asarray(b.array, np.float32).reshape(shape))
    return np.stack(haadf), np.stack(abf)

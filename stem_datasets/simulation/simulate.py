"""ABF and HAADF STEM images of tilted perovskites by abTEM multislice.

One multislice pass over one projected period of the crystal gives, at every requested
thickness (abTEM exit planes), the bright-field disc in radial bins of
``RADIAL_BIN_MRAD`` (so any ABF collection range inside it is a sum of bins, without a
new run) and the HAADF image. Results are cached on disk, keyed by a hash of the atoms,
all microscope settings and the abTEM version.

Example (a tiny, coarse run of a few seconds):
    >>> from stem_datasets.physics.structures import tilted_perovskite
    >>> m = Microscope(potential_sampling=0.1, scan_step=0.5, frozen_phonons=0, haadf_detector=(50, 80))
    >>> images = simulate_stem(tilted_perovskite((0, 0, 8), "a0a0c-"), [1.1], m, cache=None)
    >>> images.abf.shape[0], images.thicknesses_nm
    (1, (1.1,))
    >>> bool(np.allclose(images.abf_image(15, 30), images.abf))
    True
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from ase import Atoms

from stem_datasets.simulation.cache import SimulationCache, atoms_description, cache_key
from stem_datasets.simulation.microscope import Microscope
from stem_datasets.physics.structures import layers_for_thickness, nominal_thickness_nm, view_along_1m10

CACHE_FORMAT = 2  # 2: radial bright-field bins instead of one ABF image
RADIAL_BIN_MRAD = 1.0
SLICES_PER_LAYER = 4  # atomic planes along [1-10] are a_pc / (2 sqrt 2) apart
POTENTIAL = {"parametrization": "lobato", "projection": "infinite"}  # abTEM potential of every simulation here
# Settings named in the cache keys only since after the format-2 entries were made: a key names one only
# where it differs from the value those entries were made with, so they stay valid and a change still counts.
_KEYED_LATER = {"parametrization": "lobato", "projection": "infinite", "slices_per_layer": 4}


def settings_description(**settings) -> dict:
    """The settings a cache key names: ``settings`` less those at the value every older entry was made with.

    >>> settings_description(**POTENTIAL, slices_per_layer=SLICES_PER_LAYER)
    {}
    >>> settings_description(parametrization="kirkland", projection="infinite")
    {'parametrization': 'kirkland'}
    """
    return {name: value for name, value in settings.items() if _KEYED_LATER.get(name, None) != value}


@dataclass(frozen=True)
class StemImages:
    """One projected period of ABF and HAADF images per thickness.

    ``bf_bins`` is (thickness, y, x, bin): the intensity scattered into
    [k, k + 1) x ``RADIAL_BIN_MRAD`` mrad, up to the bright-field disc's edge; ``abf`` the
    sum over the microscope's ABF range and ``haadf`` the HAADF image, (thickness, y, x)
    in units of the incident probe intensity. Rows run along [001], columns along [110].
    ``period`` is the (x, y) size of the period [A]; ``origin`` the (x, y) position of
    pixel (0, 0) in the slab, where the B column of octahedron (0, 0, 0) sits at (a/sqrt2, a/2).
    """

    bf_bins: np.ndarray
    haadf: np.ndarray
    thicknesses_nm: tuple[float, ...]
    period: tuple[float, float]
    origin: tuple[float, float]
    abf_detector: tuple[float, float]
    haadf_detector: tuple[float, float]
    seconds: float

    def abf_image(self, inner_mrad: float, outer_mrad: float) -> np.ndarray:
        """ABF images (thickness, y, x) for a collection range on the 1-mrad bin edges."""
        lo, hi = inner_mrad / RADIAL_BIN_MRAD, outer_mrad / RADIAL_BIN_MRAD
        if not (0 <= lo < hi <= self.bf_bins.shape[-1]) or lo != round(lo) or hi != round(hi):
            raise ValueError(
                f"ABF range ({inner_mrad}, {outer_mrad}) mrad must lie on {RADIAL_BIN_MRAD}-mrad bin edges "
                f"within 0..{self.bf_bins.shape[-1] * RADIAL_BIN_MRAD:g} mrad."
            )
        return self.bf_bins[..., int(round(lo)):int(round(hi))].sum(axis=-1)

    @property
    def abf(self) -> np.ndarray:
        """ABF images over the microscope's own collection range."""
        return self.abf_image(*self.abf_detector)


def _check_thicknesses(thicknesses_nm: Sequence[float]) -> list[float]:
    values = [float(t) for t in thicknesses_nm]
    if not values or any(not np.isfinite(t) or t <= 0 for t in values):
        raise ValueError(f"thicknesses_nm must be positive finite numbers, got {list(thicknesses_nm)}.")
    return values


def reference_column(structure: Atoms) -> tuple[float, float]:
    """(x, y) [A] in the [1-10] slab of the B column holding octahedron (0, 0, 0)."""
    a, b, c = structure.info["pseudocubic_abc"]
    return (0.5 * (a + b) / np.sqrt(2.0), c / 2)


def simulate_stem(
    structure: Atoms,
    thicknesses_nm: Sequence[float],
    microscope: Microscope,
    cache: SimulationCache | None = None,
) -> StemImages:
    """Multislice ABF + HAADF of ``structure`` viewed along [1-10] at several thicknesses.

    Thicknesses are rounded to whole sqrt2 * a layers (the actual values are returned).
    The scan covers exactly one projected period (sqrt2 a along [110], 2c along [001]),
    starting half a column spacing before the reference B column, with ``endpoint=False``
    so the images tile periodically.
    """
    wanted = _check_thicknesses(thicknesses_nm)
    a0 = structure.info["lattice_constant"]
    layers = sorted({layers_for_thickness(t, a0) for t in wanted})
    slab = view_along_1m10(structure, nominal_thickness_nm(layers[-1], a0))
    period = slab.info["projected_period"]
    ref_x, _ = reference_column(structure)
    origin = (ref_x - period[0] / 4, 0.0)
    haadf = (microscope.haadf_detector[0], min(microscope.haadf_detector[1], microscope.usable_max_angle_mrad()))
    if haadf[0] >= haadf[1]:
        raise ValueError(
            f"potential_sampling {microscope.potential_sampling} A represents angles up to "
            f"{microscope.usable_max_angle_mrad():.0f} mrad only, below the HAADF inner angle "
            f"{haadf[0]} mrad; use a finer sampling or a lower HAADF range."
        )

    bins = _bright_field_bins(microscope)
    key = cache_key({
        "format": CACHE_FORMAT,
        "abtem": _abtem_version(),
        **settings_description(**POTENTIAL, slices_per_layer=SLICES_PER_LAYER),
        "radial_bins": [RADIAL_BIN_MRAD, bins],
        **atoms_description(slab),
        "layers": layers,
        "microscope": microscope.to_dict(),
        "haadf": haadf,
        "scan": {"origin": origin, "period": period, "gpts": scan_gpts(structure.info["lattice_constant"], microscope.scan_step)},
    })
    stored = cache.get(key) if cache is not None else None
    if stored is None:
        start = time.perf_counter()
        bf_bins, haadf_img = _run_multislice(slab, layers, origin, period, microscope, haadf, bins)
        seconds = time.perf_counter() - start
        stored = {"bf_bins": bf_bins, "haadf": haadf_img, "seconds": np.array(seconds)}
        if cache is not None:
            cache.put(key, stored)
    return StemImages(
        bf_bins=stored["bf_bins"],
        haadf=stored["haadf"],
        thicknesses_nm=tuple(nominal_thickness_nm(n, a0) for n in layers),
        period=period,
        origin=origin,
        abf_detector=tuple(microscope.abf_detector),
        haadf_detector=haadf,
        seconds=float(stored["seconds"]),
    )


def _bright_field_bins(microscope: Microscope) -> int:
    """Radial bins kept: up to the bright-field disc's edge or the ABF outer angle, whichever is larger."""
    return int(np.ceil(max(microscope.semiangle, microscope.abf_detector[1]) / RADIAL_BIN_MRAD))


def use_cpu_fftw() -> None:
    """Run abTEM on the CPU with FFTW on one thread, whatever abTEM's own config (a user's abtem.yaml) says.

    More FFTW threads are not safe here: with ``fftw.threads`` 2, abTEM 1.0.11's conventional multislice gave a
    tilted perovskite's images summing to 70.3 and 42.2 in two runs against 98.7 on one thread, and took 6-9x as long
    (``bench/bench_fftw_threads.py``; PRISM's images stayed equal and took 0.77x).

    >>> import abtem
    >>> abtem.config.set({"fftw.threads": 4}) and None
    >>> use_cpu_fftw()
    >>> abtem.config.get("fft"), abtem.config.get("fftw.threads")
    ('fftw', 1)
    """
    import abtem

    abtem.config.set({"device": "cpu", "fft": "fftw", "fftw.threads": 1})


@functools.lru_cache(maxsize=None)
def _abtem_version() -> str:
    from importlib.metadata import version

    return version("abtem")


def _run_multislice(slab: Atoms, layers, origin, period, microscope: Microscope, haadf, bins: int):
    import abtem  # heavy import, only when a simulation really runs

    use_cpu_fftw()
    slice_thickness = slab.cell[2, 2] / (slab.info["n_layers"] * SLICES_PER_LAYER)
    slab = slab.copy()
    slab.positions[:, 2] += slice_thickness / 2  # atomic planes at slice centres
    atoms = _with_phonons(slab, microscope)
    exit_planes = tuple(n * SLICES_PER_LAYER - 1 for n in layers)
    potential = abtem.Potential(
        atoms,
        gpts=_smooth_gpts(slab.cell.diagonal()[:2], microscope.potential_sampling),
        slice_thickness=slice_thickness,
        exit_planes=exit_planes,
        **POTENTIAL,
    )
    probe = abtem.Probe(
        energy=microscope.energy,
        semiangle_cutoff=microscope.semiangle,
        tilt=tuple(microscope.mistilt),
        aberrations=microscope.aberrations(),
    )
    gpts = scan_gpts(slab.info["lattice_constant"], microscope.scan_step)
    scan = abtem.GridScan(
        start=origin, end=(origin[0] + period[0], origin[1] + period[1]), gpts=gpts, endpoint=False
    )
    detectors = [
        abtem.FlexibleAnnularDetector(step_size=RADIAL_BIN_MRAD),
        abtem.AnnularDetector(inner=haadf[0], outer=haadf[1]),
    ]
    measurements = probe.scan(potential, scan=scan, detectors=detectors, max_batch=32)
    radial, haadf_m = measurements.compute(scheduler="threads", progress_bar=False)  # one shared pass
    # abTEM arrays are (exit plane, x, y[, radial, azimuthal]), without the first axis for one plane.
    radial = np.asarray(radial.array, dtype=np.float32)[..., :bins, 0]
    radial = radial.reshape(len(layers), *radial.shape[-3:])
    bf_bins = np.ascontiguousarray(np.swapaxes(radial, 1, 2))
    return bf_bins, _as_thickness_y_x(haadf_m.array, len(layers))


def _with_phonons(atoms: Atoms, microscope: Microscope):
    """abTEM frozen phonons with the microscope's thermal displacements, or the static lattice."""
    import abtem

    if not microscope.frozen_phonons:
        return atoms
    sigmas = {s: microscope.thermal_sigmas[s] for s in set(atoms.get_chemical_symbols())}
    return abtem.FrozenPhonons(atoms, num_configs=microscope.frozen_phonons, sigmas=sigmas, seed=microscope.seed)


def _as_thickness_y_x(array, n_planes: int) -> np.ndarray:
    array = np.asarray(array, dtype=np.float32).reshape(n_planes, *np.shape(array)[-2:])
    return np.ascontiguousarray(np.swapaxes(array, -1, -2))


def scan_gpts(lattice_constant: float, scan_step: float) -> tuple[int, int]:
    """Scan points (x, y) over one projected period of the *untilted* crystal.

    Fixed per composition so that every tilt gives images of one shape, each pixel at
    the same fractional position of the (slightly tilt-contracted) period.
    """
    period = (np.sqrt(2.0) * lattice_constant, 2 * lattice_constant)
    return tuple(int(np.ceil(p / scan_step)) for p in period)


def _smooth_gpts(extent, sampling: float) -> tuple[int, int]:
    """Grid sizes with only factors 2, 3, 5, 7 (FFTs of prime sizes are ~3x slower)."""
    out = []
    for length in extent:
        n = int(np.ceil(length / sampling))
        while not _is_smooth(n):
            n += 1
        out.append(n)
    return tuple(out)


def _is_smooth(n: int) -> bool:
    for p in (2, 3, 5, 7):
        while n % p == 0:
            n //= p
    return n == 1


# --- 4D-STEM: CBED stacks along line scans across an interface --------------------------

CBED_CACHE_FORMAT = 3  # 2: radial bright-field bins instead of one ABF image; 3: the simultaneous ADF signal
RADIAL_BIN_MRAD = 1.0


@dataclass(frozen=True)
class InterfaceScan:
    """Probe positions across an interface: ``positions`` along x, on ``lines`` rows in y.

    x runs from the interface plane (``structure.info["interface_x"]``) ``span_cells``
    lattice constants into the film (endpoints included); the lines sample one lattice
    constant in y (endpoint excluded), so line 0 passes the A columns and line
    ``lines // 2`` the B columns. These are the model's positions. The scan that is
    simulated (:meth:`raw_x`) is ``oversample`` times denser along x and reaches
    ``margin`` of its steps past both ends, so that a scan that landed off the lattice
    can be registered and resampled onto these positions
    (:mod:`stem_datasets.pipeline.scan_registration`).

    >>> InterfaceScan(positions=3, lines=1, span_cells=1.0, oversample=2, margin=1).raw_x(4.0).tolist()
    [-1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    """

    positions: int = 8
    lines: int = 4
    span_cells: float = 1.5
    oversample: int = 1
    margin: int = 0

    def __post_init__(self) -> None:
        if self.positions < 2 or self.lines < 1 or not self.span_cells > 0 or self.oversample < 1 or self.margin < 0:
            raise ValueError(f"InterfaceScan needs positions >= 2, lines >= 1, span_cells > 0, oversample >= 1 and "
                             f"margin >= 0, got {self}.")

    def step(self, lattice_constant: float) -> float:
        """The model's step along x [A]."""
        return self.span_cells * lattice_constant / (self.positions - 1)

    def model_x(self, lattice_constant: float) -> np.ndarray:
        """The model's positions along x from the interface plane [A]."""
        return np.arange(self.positions) * self.step(lattice_constant)

    def on_model_positions(self) -> slice:
        """The raw positions that are the model's (for a scan on the lattice): ``raw[..., scan.on_model_positions(), ...]``."""
        return slice(self.margin, self.margin + (self.positions - 1) * self.oversample + 1, self.oversample)

    def lines_y(self, lattice_constant: float) -> np.ndarray:
        """y of the lines [A] from the A columns, before any scan offset: evenly spaced over one cell."""
        return np.arange(self.lines) * lattice_constant / self.lines

    def raw_x(self, lattice_constant: float) -> np.ndarray:
        """The simulated positions along x from the interface plane [A], before any scan offset."""
        fine = self.step(lattice_constant) / self.oversample
        return (np.arange((self.positions - 1) * self.oversample + 2 * self.margin + 1) - self.margin) * fine


@dataclass(frozen=True)
class CbedDetector:
    """Pixelated detector: the central ``pixels * binning`` native pixels, binned to ``pixels``.

    ``adf_mrad`` is the annular detector recorded at the same time (inner, outer) [mrad]: the
    signal that registers the scan to the lattice. 35-65 mrad (medium-angle ADF) is what the
    0.1-0.125 A potentials of ``stem_cbed_interface``'s configs represent (67-84 mrad); its
    column contrast still rises with Z (La > Sr > Ti > Al). The outer angle is clipped to
    what a coarser potential represents.
    """

    pixels: int = 32
    binning: int = 2
    adf_mrad: tuple[float, float] = (35.0, 65.0)

    def __post_init__(self) -> None:
        if self.pixels < 4 or self.binning < 1 or not 0 < self.adf_mrad[0] < self.adf_mrad[1]:
            raise ValueError(f"CbedDetector needs pixels >= 4, binning >= 1 and 0 < adf inner < outer, got {self}.")

    def centre_px(self) -> float:
        """Row (= column) of k = 0 in binned pixels, counting from the centre of pixel 0."""
        return (self.pixels * self.binning / 2 - (self.binning - 1) / 2) / self.binning


@dataclass(frozen=True)
class CbedStacks:
    """CBED patterns per exit thickness: ``cbed`` is (thickness, line, position, ky, kx).

    Intensities are fractions of the incident probe per (binned) pixel. ``positions_x``
    are probe x positions relative to the interface plane [A]; ``lines_y`` the y of each
    line [A]; ``angular_sampling`` the binned pixel size [mrad]. ``adf`` (thickness, line,
    position) is the annular dark-field signal recorded with the patterns (fraction of the probe).
    """

    cbed: np.ndarray
    thicknesses_angstrom: tuple[float, ...]
    positions_x: np.ndarray
    lines_y: np.ndarray
    angular_sampling: float
    seconds: float
    adf: np.ndarray | None = None

    @property
    def max_angle(self) -> float:
        """Half-width of the cropped pattern [mrad]."""
        return self.cbed.shape[-1] * self.angular_sampling / 2

    def cell_average(self) -> np.ndarray:
        """Patterns averaged over the lines (one unit cell in y): (thickness, position, ky, kx)."""
        return self.cbed.mean(axis=1)


def simulate_4dstem(
    structure: Atoms,
    thicknesses_angstrom: Sequence[float],
    microscope: Microscope,
    scan: InterfaceScan = InterfaceScan(),
    detector: CbedDetector = CbedDetector(),
    cache: SimulationCache | None = None,
    offset: tuple[float, float] = (0.0, 0.0),
) -> CbedStacks:
    """Multislice 4D-STEM of an interface cross-section (:func:`structures.lao_sto_interface`).

    ``offset`` (dx, y0) [A] moves the scan: its lines start dx from the interface plane
    (a registration error) and line 0 runs at y = y0 (0: through the A columns). The
    positions along x are ``scan.raw_x`` (the model's, for ``oversample=1, margin=0``).

    One pass gives every exit thickness (each a whole number of slices, at most the
    structure's); one slice per atomic plane. The cell must be square in x, y so that the
    CBED pixels are square (abTEM samples k as 1 / cell length).

    >>> from stem_datasets.physics.structures import lao_sto_interface
    >>> m = Microscope(semiangle=20, potential_sampling=0.2, frozen_phonons=0)
    >>> s = simulate_4dstem(lao_sto_interface(3.905), [3.905], m, InterfaceScan(2, 1), CbedDetector(8, 1))
    >>> s.cbed.shape
    (1, 1, 2, 8, 8)
    """
    dz = structure.info["slice_thickness"]
    wanted = [float(t) for t in thicknesses_angstrom]
    exit_slices = sorted({int(round(t / dz)) for t in wanted}) if wanted else []
    if not exit_slices or any(abs(t / dz - round(t / dz)) > 1e-6 or not 1 <= round(t / dz) <= structure.info["n_slices"]
                              for t in wanted):
        raise ValueError(
            f"thicknesses_angstrom {wanted} must be whole numbers of {dz} A slices between {dz} and "
            f"{structure.info['thickness_angstrom']} A (the structure's thickness)."
        )
    extent = structure.cell.diagonal()[:2]
    if abs(extent[0] - extent[1]) > 1e-6:
        raise ValueError(f"the cell must be square in x, y for square CBED pixels, got {extent.tolist()} A.")
    a = structure.info["lattice_constant"]
    x0 = structure.info["interface_x"]
    if not all(np.isfinite(offset)) or len(offset) != 2:
        raise ValueError(f"offset must be two finite numbers (dx, y0) in A, got {offset}.")
    positions_x = scan.raw_x(a) + float(offset[0])
    lines_y = scan.lines_y(a) + float(offset[1])
    key = cache_key({
        "format": CBED_CACHE_FORMAT,
        "abtem": _abtem_version(),
        **settings_description(**POTENTIAL),
        **atoms_description(structure),
        "exit_slices": exit_slices,
        "microscope": microscope.to_dict(),
        "scan": [x0, scan.positions, scan.lines, scan.span_cells] + ([float(v) for v in offset] if any(offset) else [])
                + ([scan.oversample, scan.margin] if (scan.oversample, scan.margin) != (1, 0) else []),
        "detector": [detector.pixels, detector.binning, *detector.adf_mrad],
    })
    stored = cache.get(key) if cache is not None else None
    if stored is None:
        start = time.perf_counter()
        cbed, adf, sampling = _run_4dstem(structure, exit_slices, x0 + positions_x, lines_y, microscope, detector)
        stored = {"cbed": cbed, "adf": adf, "sampling": np.array(sampling), "seconds": np.array(time.perf_counter() - start)}
        if cache is not None:
            cache.put(key, stored)
    return CbedStacks(
        cbed=stored["cbed"],
        thicknesses_angstrom=tuple(round(n * dz, 4) for n in exit_slices),
        positions_x=positions_x,
        lines_y=lines_y,
        angular_sampling=float(stored["sampling"]),
        seconds=float(stored["seconds"]),
        adf=stored["adf"],
    )


def _run_4dstem(structure: Atoms, exit_slices, xs, ys, microscope: Microscope, detector: CbedDetector):
    import abtem

    use_cpu_fftw()
    dz = structure.info["slice_thickness"]
    atoms = _with_phonons(structure, microscope)
    gpts = _smooth_gpts(structure.cell.diagonal()[:2], microscope.potential_sampling)
    potential = abtem.Potential(
        atoms, gpts=gpts, slice_thickness=dz, exit_planes=tuple(n - 1 for n in exit_slices),
        **POTENTIAL,
    )
    probe = abtem.Probe(energy=microscope.energy, semiangle_cutoff=microscope.semiangle,
                        tilt=tuple(microscope.mistilt), aberrations=microscope.aberrations())
    native = 1e3 * microscope.wavelength / structure.cell[0, 0]  # mrad per pixel
    half = detector.pixels * detector.binning // 2
    needed = (half + 1) * native
    if needed > microscope.usable_max_angle_mrad():
        raise ValueError(
            f"the CBED crop reaches {needed:.1f} mrad but potential_sampling {microscope.potential_sampling} A "
            f"represents {microscope.usable_max_angle_mrad():.1f} mrad; use a finer sampling or fewer pixels."
        )
    scan = abtem.CustomScan(np.array([(x, y) for y in ys for x in xs]))
    adf_range = (detector.adf_mrad[0], min(detector.adf_mrad[1], microscope.usable_max_angle_mrad()))
    if adf_range[0] >= adf_range[1]:
        raise ValueError(f"the ADF detector starts at {detector.adf_mrad[0]} mrad but potential_sampling "
                         f"{microscope.potential_sampling} A represents {microscope.usable_max_angle_mrad():.1f} mrad; "
                         "use a finer sampling or a lower ADF range.")
    detectors = [abtem.PixelatedDetector(max_angle=needed), abtem.AnnularDetector(*adf_range)]
    patterns, annular = probe.scan(potential, scan=scan, detectors=detectors, max_batch=16).compute(
        scheduler="threads", progress_bar=False)
    array = np.asarray(patterns.array, dtype=np.float32)
    array = array.reshape(len(exit_slices), len(ys), len(xs), *array.shape[-2:])
    adf = np.asarray(annular.array, dtype=np.float32).reshape(len(exit_slices), len(ys), len(xs))
    centre = np.array(array.shape[-2:]) // 2  # abTEM puts k = 0 at index n // 2
    crop = array[..., centre[0] - half: centre[0] + half, centre[1] - half: centre[1] + half]
    n, b = detector.pixels, detector.binning
    binned = crop.reshape(*crop.shape[:-2], n, b, n, b).sum(axis=(-3, -1))
    return np.ascontiguousarray(np.swapaxes(binned, -1, -2)), adf, native * b  # rows ky, columns kx

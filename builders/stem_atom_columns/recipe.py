"""The recipe behind ``stem_atom_columns``: HAADF/ABF fields of several lattices with labelled columns.

Every structure is drawn per (seed, split, zone, index): thickness, a frozen-phonon
configuration, point defects (2-D layers), polarization and Sm doping (BiFeO3). One PRISM
run per structure (:mod:`stem_datasets.simulation.prism`) gives ``shots`` scans, each with its own
scan rotation, drift, line jitter, defocus, convergence angle and source size, recorded on
HAADF and ABF detectors at once; each detector's image gets Poisson noise at its own dose.
The probe positions of a distorted scan are simulated exactly, and the labels (column centres
in pixel coordinates, per-pixel classes) are computed on the same distorted positions.

Besides the crystal zones, half of the training zones have no lattice prior: random
lattices with random bases and columns at random positions, elements drawn across the
periodic table (:mod:`stem_datasets.physics.random_columns`); polar perovskites put B and O
columns off their centrosymmetric sites; four dichalcogenide monolayers stand for the 2-D
crystals users image daily.

Splits: train / validation / test hold different structures of the same zones (thickness
layers even in train, odd elsewhere; new phonon configurations, defects and imaging);
``test_unseen_lattice`` a family absent from train (rutile TiO2 [001]: Ti on a body-centred
square, each with O columns 1.27 A away along the diagonals, a motif none of the crystal zones has); ``test_low_dose``
new structures at the lowest doses.

Example:
    >>> recipe = get_recipe("smoke")
    >>> [u[0] for u in recipe.units("test_unseen_lattice")]
    ['TiO2 [001]']
    >>> d = draw_shot(recipe, "train", ("Si [110]", 0), 0)
    >>> ZONES["Si [110]"].dose_range[0] <= d.dose_haadf <= ZONES["Si [110]"].dose_range[1]
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Iterator

import numpy as np
from ase import Atoms
from scipy.ndimage import gaussian_filter, map_coordinates
from scipy.spatial import cKDTree

from stem_datasets.physics import lattices, random_columns
from stem_datasets.simulation.cache import SimulationCache, unit_interval
from stem_datasets.simulation.imaging import column_contrast, poisson_image
from stem_datasets.simulation.microscope import THERMAL_SIGMAS_300K
from stem_datasets.simulation.prism import PrismSettings, Shot, frozen_configuration, prism_images
from stem_datasets.pipeline.recipe import recipe_named

SPLITS = ("train", "validation", "test", "test_unseen_lattice", "test_low_dose")
CLASSES = lattices.COLUMN_CLASSES
DETECTORS = ("haadf", "abf")
LABEL_RADIUS = 0.4  # A: mask pixels within this distance of a column centre (in the specimen) take its class
# A column is a label only where the noise-free image shows it: its Laplacian-of-Gaussian contrast (scale SHOWN_SIGMA),
# oriented as the field's columns (bright on HAADF, dark on ABF unless the defocus reverses them), is at least
# SHOWN_FRACTION of the field's bright columns' (90th percentile). Measured on `small`: O beside Sr or Ti and N beside Ga
# on HAADF sit at -0.17 to +0.05 (nothing a fit or a reader could find), B-site columns at 0.08-0.6; on ABF, O columns
# vanish or turn bright at some defoci (SrTiO3 [001], 3.9 nm, 24 mrad: a 21% dip at 0 A, 7% brighter than vacuum at
# 40 A, the same by conventional multislice). Labelling what the image does not show taught a lattice prior.
SHOWN_SIGMA = 0.4  # A
SHOWN_FRACTION = 0.05


@dataclass(frozen=True)
class Zone:
    """How one lattice is simulated: its builder, thickness range, optics and defects."""

    name: str
    layer_range: tuple[int, int]  # repeats of the zone's cell along the beam (1, 1 for a monolayer)
    optics: PrismSettings
    semiangle_range: tuple[float, float]
    defects: tuple = ()  # (host, dopant, vacancy max, substitution max) for 2-D layers
    sm_doping_max: float = 0.0  # BiFeO3: fraction of Bi sites with Sm
    # e-/A^2, log-uniform; test_low_dose takes low_doses. A monolayer scatters ~100x less into the HAADF detector
    # than a 5 nm column, so its doses are those used for 2-D materials (a single C atom at 80 kV gives ~10 HAADF
    # counts per 0.2 A pixel only from ~5e5 e-/A^2).
    dose_range: tuple[float, float] = (2e3, 1e7)
    low_doses: tuple[float, ...] = (2e3, 5e3)
    compositions: tuple[str, ...] = ()  # drawn per structure (dichalcogenides, polar perovskites)


BULK = PrismSettings(energy=200e3, max_semiangle=25.0, haadf=(60.0, 115.0), abf=(11.0, 22.0), potential_sampling=0.07,
                     slice_thickness=2.0)
LAYER = PrismSettings(energy=80e3, max_semiangle=30.0, haadf=(60.0, 115.0), abf=(13.0, 26.0), potential_sampling=0.07,
                      slice_thickness=1.0)
ZONES: dict[str, Zone] = {z.name: z for z in (
    Zone("SrTiO3 [001]", (5, 15), BULK, (20.0, 25.0)),
    Zone("SrTiO3 [110]", (4, 11), BULK, (20.0, 25.0)),
    Zone("BiFeO3 [100]pc", (3, 8), BULK, (20.0, 25.0), sm_doping_max=0.1),  # the builder's cell is 2 x a_pc deep
    Zone("Si [110]", (3, 8), BULK, (20.0, 25.0)),
    Zone("graphene [001]", (1, 1), LAYER, (25.0, 30.0), defects=("C", "Si", 0.03, 0.02), dose_range=(1e5, 1e8),
         low_doses=(1e5, 2e5)),
    Zone("TMD [001]", (1, 1), LAYER, (25.0, 30.0), defects=("chalcogen", "chalcogen", 0.04, 0.0),
         dose_range=(1e5, 1e8), low_doses=(1e5, 2e5), compositions=tuple(lattices.TMDS)),
    Zone("polar perovskite [100]", (5, 15), BULK, (20.0, 25.0), compositions=tuple(lattices.POLAR_PEROVSKITES)),
    Zone("random lattice", (1, 1), BULK, (20.0, 25.0)),  # thickness drawn by random_columns (1.5-6 nm)
    Zone("random columns", (1, 1), BULK, (20.0, 25.0)),
    Zone("TiO2 [001]", (10, 20), BULK, (20.0, 25.0)),
)}
UNSEEN_ZONES = ("TiO2 [001]",)
POLAR_SCALE = (0.0, 1.2)  # polar perovskites: shifts as a multiple of PbTiO3's (BaTiO3's are ~0.25)
# Debye-Waller displacements [A rms per axis] of elements that THERMAL_SIGMAS_300K lacks: Pb u_iso = 0.011 A^2 and
# Ba 0.006 A^2 in the room-temperature refinements (Glazer & Mabud 1978; Kwei et al. 1993), Se as S;
# random_columns.GENERIC_THERMAL_SIGMA for the elements of random fields.
EXTRA_THERMAL_SIGMAS = {"Pb": 0.105, "Ba": 0.077, "Se": 0.062}


@dataclass(frozen=True)
class AtomColumnsRecipe:
    """Everything that fixes the content of one ``stem_atom_columns`` config."""

    name: str
    description: str
    structures: dict  # split -> structures per zone
    image_shape: tuple[int, int] = (128, 128)
    pixel_size: float = 0.2  # A, the scan step
    field_min: float = 26.0  # A: the periodic cell is at least this wide
    shots: int = 2
    defocus_range: float = 50.0  # A, +-
    source_size_range: tuple[float, float] = (0.15, 0.4)  # A, Gaussian sigma of the effective source
    drift_max: float = 0.6  # A over the frame, each axis
    jitter_max: float = 0.08  # A, rms line jitter along the fast scan
    seed: int = 2026
    use_beam: bool = False
    splits: tuple[str, ...] = SPLITS

    def units(self, split: str) -> list[tuple[str, int]]:
        """(zone, index) of every structure of a split."""
        _check_split(split)
        zones = UNSEEN_ZONES if split == "test_unseen_lattice" else [z for z in ZONES if z not in UNSEEN_ZONES]
        return [(zone, i) for zone in zones for i in range(self.structures[split])]

    def generate_unit(self, split: str, unit: tuple[str, int], cache: SimulationCache | None) -> Iterator[tuple[str, dict]]:
        return generate_unit(self, split, unit, cache)

    def describe(self) -> dict:
        return describe(self)


RECIPES: dict[str, AtomColumnsRecipe] = {r.name: r for r in (
    AtomColumnsRecipe(
        "smoke", "About eleven minutes on 2 cores: one structure per zone and split, 64 x 64 px fields, one shot.",
        structures=dict.fromkeys(SPLITS, 1), image_shape=(64, 64), field_min=14.0, shots=1,
    ),
    AtomColumnsRecipe(
        "small", "About an hour on 2 cores: 128 x 128 px (2.6 nm) fields, two shots per structure.",
        structures={"train": 3, "validation": 1, "test": 1, "test_unseen_lattice": 3, "test_low_dose": 1}, shots=2,
    ),
    AtomColumnsRecipe(
        "full", "Cluster scale (Apache Beam): 256 x 256 px fields, 40 training structures per zone, four shots.",
        structures={"train": 40, "validation": 5, "test": 10, "test_unseen_lattice": 20, "test_low_dose": 5},
        image_shape=(256, 256), field_min=52.0, shots=4, use_beam=True,
    ),
)}


def get_recipe(name: str) -> AtomColumnsRecipe:
    """The recipe of a named config, with a clear error for unknown names."""
    return recipe_named(RECIPES, "stem_atom_columns", name)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; known: {', '.join(SPLITS)}.")


def _rng(recipe: AtomColumnsRecipe, *salt) -> np.random.Generator:
    return np.random.default_rng(int(unit_interval(recipe.seed, *salt) * 2**63))


@dataclass(frozen=True)
class StructureDraw:
    """One structure: zone, thickness (layers), phonon seed, defects and (BiFeO3) polarization / Sm fraction."""

    zone: str
    layers: int
    repeats: tuple[int, int]
    phonon_seed: int
    defect_seed: int
    vacancy: float = 0.0
    substitution: float = 0.0
    polarization_pm: tuple[float, float] = (0.0, 0.0)
    sm_fraction: float = 0.0
    composition: str = ""  # dichalcogenides and polar perovskites
    polar_scale: float = 0.0  # polar perovskites: shifts as a multiple of PbTiO3's
    field_min: float = 0.0  # random fields: the cell's smallest side [A]
    parity: int = 0  # random fields: layers along the beam even (train) or odd


def draw_structure(recipe: AtomColumnsRecipe, split: str, unit: tuple[str, int]) -> StructureDraw:
    """The structure of a unit; train draws even layer counts, other splits odd ones (no shared thickness)."""
    zone_name, index = unit
    zone = ZONES[zone_name]
    rng = _rng(recipe, split, zone_name, index, "structure")
    lo, hi = zone.layer_range
    parity = 0 if split == "train" else 1
    options = [n for n in range(lo, hi + 1) if n % 2 == parity or lo == hi]
    size = _cell_size(zone_name, zone)
    repeats = tuple(int(np.ceil(recipe.field_min / s)) for s in size[:2])
    vacancy = substitution = 0.0
    if zone.defects:
        vacancy, substitution = rng.uniform(0, zone.defects[2]), rng.uniform(0, zone.defects[3])
    polarization = (0.0, 0.0)
    if zone_name.startswith("BiFeO3"):  # one of the four projected <111> directions, 25-35 pm
        angle = np.pi / 4 + np.pi / 2 * rng.integers(4)
        magnitude = rng.uniform(25.0, 35.0)
        polarization = (float(magnitude * np.cos(angle)), float(magnitude * np.sin(angle)))
    draw = StructureDraw(
        zone=zone_name, layers=int(rng.choice(options)), repeats=repeats,
        phonon_seed=int(rng.integers(2**31)), defect_seed=int(rng.integers(2**31)),
        vacancy=float(vacancy), substitution=float(substitution), polarization_pm=polarization,
        sm_fraction=float(rng.uniform(0, zone.sm_doping_max)),
    )
    # Zones added in 2.0.0 draw after the others, so the 1.x zones keep their structures.
    if zone.compositions:
        composition = str(rng.choice(zone.compositions))
        a = _cell_size(zone_name, zone, composition)
        draw = replace(draw, composition=composition, repeats=tuple(int(np.ceil(recipe.field_min / s)) for s in a[:2]))
    if zone_name.startswith("polar"):
        draw = replace(draw, polar_scale=float(rng.uniform(*POLAR_SCALE)))
    if zone_name in random_columns.RANDOM_FIELDS:
        draw = replace(draw, field_min=recipe.field_min, parity=parity)
    return draw


def _cell_size(zone_name: str, zone: Zone, composition: str | None = None) -> tuple[float, float, float]:
    """The orthogonal repeat of one unit of a zone [A] (the first composition's unless one is given)."""
    composition = composition or (zone.compositions[0] if zone.compositions else "")
    if zone_name.startswith("TMD"):
        return tuple(float(v) for v in np.diag(lattices.tmd_layer(composition, (1, 1)).cell))
    if zone_name.startswith("polar"):
        return tuple(float(v) for v in np.diag(lattices.polar_perovskite_100(composition, (1, 1), 1).cell))
    if zone_name == "TiO2 [001]":
        return tuple(float(v) for v in np.diag(lattices.rutile_001((1, 1), 1).cell))
    if zone_name in random_columns.RANDOM_FIELDS:
        return (1.0, 1.0, 1.0)  # sized by the field itself
    return lattices.cell_size(zone_name)


def structure_of(d: StructureDraw) -> Atoms:
    """The static structure of a draw (before thermal displacements)."""
    zone = ZONES[d.zone]
    rng = np.random.default_rng(d.defect_seed)
    if d.zone in random_columns.RANDOM_FIELDS:
        return random_columns.RANDOM_FIELDS[d.zone](rng, d.field_min, d.parity)
    if d.zone.startswith("TMD"):
        atoms = lattices.tmd_layer(d.composition, d.repeats)
        chalcogen = atoms.info["chalcogen"]
        return lattices.point_defects(atoms, rng, d.vacancy, d.substitution, chalcogen, chalcogen)
    if d.zone.startswith("polar"):
        return lattices.polar_perovskite_100(d.composition, d.repeats, d.layers, d.polar_scale)
    if d.zone == "TiO2 [001]":
        return lattices.rutile_001(d.repeats, d.layers)
    if d.zone in lattices.LAYERS:
        atoms = lattices.LAYERS[d.zone](d.repeats)
    elif d.zone.startswith("BiFeO3"):
        atoms = lattices.bifeo3_100(d.repeats, d.layers, polarization_pm=d.polarization_pm)
    else:
        atoms = lattices.LATTICES[d.zone](d.repeats, d.layers)
    if zone.defects:
        host, dopant = zone.defects[:2]
        atoms = lattices.point_defects(atoms, rng, d.vacancy, d.substitution, host, dopant)
    if d.sm_fraction:
        atoms = lattices.point_defects(atoms, rng, 0.0, d.sm_fraction, "Bi", "Sm")
    return atoms


@dataclass(frozen=True)
class ShotDraw:
    """One scan: geometry (rotation, origin, drift, line jitter) and optics; a dose per detector."""

    rotation_deg: float
    origin: tuple[float, float]
    drift: tuple[float, float]  # A over the whole frame (x, y)
    jitter_rms: float
    jitter_seed: int
    defocus: float
    semiangle: float
    source_size: float
    dose_haadf: float
    dose_abf: float


def draw_shot(recipe: AtomColumnsRecipe, split: str, unit: tuple[str, int], k: int) -> ShotDraw:
    """The k-th scan of a structure; ``test_low_dose`` takes its doses from the zone's ``low_doses``."""
    zone = ZONES[unit[0]]
    rng = _rng(recipe, split, *unit, "shot", k)
    if split == "test_low_dose":
        doses = rng.choice(zone.low_doses, size=2)
    else:
        doses = np.exp(rng.uniform(*np.log(zone.dose_range), size=2))
    return ShotDraw(
        rotation_deg=float(rng.uniform(0, 360)), origin=tuple(float(v) for v in rng.uniform(0, 50, size=2)),
        drift=tuple(float(v) for v in rng.uniform(-recipe.drift_max, recipe.drift_max, size=2)),
        jitter_rms=float(rng.uniform(0, recipe.jitter_max)), jitter_seed=int(rng.integers(2**31)),
        defocus=float(rng.uniform(-recipe.defocus_range, recipe.defocus_range)),
        semiangle=float(rng.uniform(*zone.semiangle_range)),
        source_size=float(rng.uniform(*recipe.source_size_range)),
        dose_haadf=float(doses[0]), dose_abf=float(doses[1]),
    )


def scan_positions(shot: ShotDraw, shape: tuple[int, int], step: float) -> np.ndarray:
    """Probe positions (H, W, 2) [A] of a distorted raster: rotation, then linear drift in time and line jitter.

    Time runs along rows (fast scan, x of the scan frame) then down; drift is the offset
    accumulated over the frame; jitter shifts whole lines along the fast scan.
    """
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    time = (rows * shape[1] + cols) / (shape[0] * shape[1])
    jitter = gaussian_filter(np.random.default_rng(shot.jitter_seed).normal(size=shape[0]), 1.0)
    jitter *= shot.jitter_rms / max(float(np.std(jitter)), 1e-12)
    u = cols * step + jitter[:, None]
    v = rows * step
    c, s = np.cos(np.radians(shot.rotation_deg)), np.sin(np.radians(shot.rotation_deg))
    x = shot.origin[0] + c * u - s * v + shot.drift[0] * time
    y = shot.origin[1] + s * u + c * v + shot.drift[1] * time
    return np.stack([x, y], axis=-1)


def pixel_coordinates(positions: np.ndarray, points: np.ndarray, iterations: int = 6) -> np.ndarray:
    """(x, y) pixel coordinates at which a scan visited each specimen point (N, 2) [A] (inverse of the scan).

    >>> shot = ShotDraw(30, (1.0, 2.0), (0.3, -0.2), 0.05, 0, 0, 20, 0.2, 1e5, 1e5)
    >>> pos = scan_positions(shot, (32, 32), 0.2)
    >>> xy = pixel_coordinates(pos, pos[[5, 20], [7, 11]])
    >>> np.round(xy, 3).tolist()
    [[7.0, 5.0], [11.0, 20.0]]
    """
    h, w = positions.shape[:2]
    # Start from the best affine fit of pixel -> position, then Newton steps with that Jacobian.
    rows, cols = np.mgrid[0:h, 0:w]
    design = np.c_[cols.ravel(), rows.ravel(), np.ones(h * w)]
    affine, *_ = np.linalg.lstsq(design, positions.reshape(-1, 2), rcond=None)
    jacobian_inv = np.linalg.inv(affine[:2].T)
    pix = (np.asarray(points, float) - affine[2]) @ jacobian_inv.T
    for _ in range(iterations):
        at = np.stack([map_coordinates(positions[..., k], [pix[:, 1], pix[:, 0]], order=1, mode="nearest")
                       for k in (0, 1)], axis=-1)
        pix -= (at - points) @ jacobian_inv.T
    return pix


def column_labels(columns: lattices.Columns, cell: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel classes (H, W) and the columns inside the frame: pixel xy (N, 2), class (N,)."""
    h, w = positions.shape[:2]
    tree = cKDTree(columns.xy, boxsize=cell)
    distance, nearest = tree.query(lattices.wrap(positions.reshape(-1, 2), cell))
    mask = np.where(distance <= LABEL_RADIUS, columns.classes[nearest], 0).reshape(h, w).astype(np.uint8)
    # every periodic image of every column near the frame, then those whose pixel coordinates fall inside it
    lo, hi = positions.reshape(-1, 2).min(axis=0) - 2.0, positions.reshape(-1, 2).max(axis=0) + 2.0
    shifts = np.stack(np.meshgrid(*(np.arange(np.floor(lo[k] / cell[k]), np.floor(hi[k] / cell[k]) + 1) for k in (0, 1)),
                                  indexing="ij"), axis=-1).reshape(-1, 2) * cell
    images = (columns.xy[None] + shifts[:, None]).reshape(-1, 2)
    classes = np.tile(columns.classes, len(shifts))
    near = np.all((images >= lo) & (images <= hi), axis=1)
    xy = pixel_coordinates(positions, images[near])
    inside = np.all((xy >= -0.5) & (xy <= np.array([w, h]) - 0.5), axis=1)
    return mask, xy[inside].astype(np.float32), classes[near][inside].astype(np.int32)


def shown_columns(image: np.ndarray, xy: np.ndarray, step: float) -> np.ndarray:
    """Whether the noise-free ``image`` shows each column at ``xy`` (n, 2) [px] (see ``SHOWN_FRACTION``).

    >>> yy, xx = np.mgrid[0:40, 0:40]
    >>> blob = lambda x, y, a: a * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 8.0)
    >>> image = blob(10, 10, 1.0) + blob(30, 10, 0.9) + blob(10, 30, 0.2)  # a faint third column, no fourth
    >>> shown_columns(image, np.array([[10, 10], [30, 10], [10, 30], [30, 30]]), 0.2).tolist()
    [True, True, True, False]
    >>> shown_columns(-image, np.array([[10, 10], [30, 10], [10, 30], [30, 30]]), 0.2).tolist()  # dark columns
    [True, True, True, False]
    """
    xy = np.asarray(xy, float).reshape(-1, 2)
    if not len(xy):
        return np.zeros(0, bool)
    at = column_contrast(image, xy, SHOWN_SIGMA / step)  # oriented as most columns are (bright or dark)
    return at >= SHOWN_FRACTION * max(float(np.percentile(at, 90)), 1e-30)


def shown_labels(mask: np.ndarray, xy: np.ndarray, classes: np.ndarray, image: np.ndarray,
                 step: float) -> tuple[np.ndarray, np.ndarray]:
    """``mask`` and ``classes`` of :func:`column_labels` with the columns ``image`` does not show set to 0."""
    hidden = ~shown_columns(image, xy, step)
    if not hidden.any():
        return mask, classes
    rows, cols = np.nonzero(mask)
    _, nearest = cKDTree(xy).query(np.c_[cols, rows])  # each labelled pixel's column, in the frame
    mask = mask.copy()
    mask[rows[hidden[nearest]], cols[hidden[nearest]]] = 0
    return mask, np.where(hidden, 0, classes).astype(classes.dtype)


def source_blurred(clean: np.ndarray, source_size: float, step: float) -> np.ndarray:
    """The noise-free recorded image: ``clean`` blurred by the Gaussian source (an approximation of partial
    spatial coherence)."""
    return gaussian_filter(clean.astype(np.float64), source_size / step, mode="nearest")


def recorded_image(clean: np.ndarray, source_size: float, step: float, dose: float, rng: np.random.Generator) -> np.ndarray:
    """Source-size blur (:func:`source_blurred`), then Poisson counts at ``dose`` e-/A^2
    (:func:`stem_datasets.simulation.imaging.poisson_image`), returned as a fraction of the probe intensity.
    """
    return poisson_image(source_blurred(clean, source_size, step), dose, step, rng)


def simulate_unit(recipe: AtomColumnsRecipe, split: str, unit: tuple[str, int], cache: SimulationCache | None):
    """The structure, its frozen-phonon configuration, its shots and their clean HAADF / ABF images (shot, H, W)."""
    d = draw_structure(recipe, split, unit)
    atoms = structure_of(d)
    frozen = frozen_configuration(atoms, d.phonon_seed, thermal_sigmas(atoms))
    shots = [draw_shot(recipe, split, unit, k) for k in range(recipe.shots)]
    positions = [scan_positions(s, recipe.image_shape, recipe.pixel_size) for s in shots]
    images = prism_images(frozen, [Shot(s.defocus, s.semiangle, p) for s, p in zip(shots, positions)],
                          ZONES[d.zone].optics, cache)
    return d, atoms, frozen, shots, positions, images


def thermal_sigmas(atoms: Atoms) -> dict[str, float]:
    """Debye-Waller displacements of every element of ``atoms`` (measured where known, else the generic one)."""
    return random_columns.thermal_sigmas(atoms, {**THERMAL_SIGMAS_300K, **EXTRA_THERMAL_SIGMAS})


def generate_unit(recipe: AtomColumnsRecipe, split: str, unit: tuple[str, int],
                  cache: SimulationCache | None) -> Iterator[tuple[str, dict]]:
    """The examples of one structure: every shot on every detector."""
    for key, example, _ in unit_examples(recipe, split, unit, cache):
        yield key, example


def unit_examples(recipe: AtomColumnsRecipe, split: str, unit: tuple[str, int],
                  cache: SimulationCache | None) -> Iterator[tuple[str, dict, np.ndarray]]:
    """:func:`generate_unit`'s examples, each with its noise-free recorded image (H, W) (for detection and
    Cramer-Rao limits: ``bench/bench_atom_limits.py``)."""
    d, atoms, frozen, shots, positions, images = simulate_unit(recipe, split, unit, cache)
    # Labels where the imaged (frozen-phonon) configuration has its columns: static sites would teach a network to
    # place a column by its neighbours (a lattice prior) rather than by what the image shows.
    columns = lattices.projected_columns(atoms, displaced=frozen.positions)
    cell = np.diag(atoms.cell)[:2]
    thickness_nm = float(atoms.cell[2, 2]) / 10
    for k, (shot, pos) in enumerate(zip(shots, positions)):
        all_mask, xy, all_classes = column_labels(columns, cell, pos)
        for detector, clean, dose in (("haadf", images.haadf[k], shot.dose_haadf), ("abf", images.abf[k], shot.dose_abf)):
            blurred = source_blurred(clean, shot.source_size, recipe.pixel_size)
            mask, classes = shown_labels(all_mask, xy, all_classes, blurred, recipe.pixel_size)
            rng = _rng(recipe, split, *unit, "noise", k, detector)
            image = poisson_image(blurred, dose, recipe.pixel_size, rng)
            key = f"{split}/{d.zone}/{unit[1]}/{k}/{detector}"
            yield key, {
                "image": image[..., None], "mask": mask, "columns_xy": xy, "columns_class": classes,
                "detector": detector, "pixel_size": np.float32(recipe.pixel_size), "lattice": atoms.info["zone"],
                "family": atoms.info["family"], "dose": np.float32(dose), "thickness_nm": np.float32(thickness_nm),
                "defocus_angstrom": np.float32(shot.defocus), "semiangle_mrad": np.float32(shot.semiangle),
                "source_size_angstrom": np.float32(shot.source_size), "scan_rotation_deg": np.float32(shot.rotation_deg),
                "drift_angstrom": np.float32(shot.drift), "jitter_angstrom": np.float32(shot.jitter_rms),
                "energy_kev": np.float32(ZONES[d.zone].optics.energy / 1e3),
                "structure": f"{split}/{d.zone}/{unit[1]}",
            }, blurred


# How hold-out fields are imaged (stem_zoo.tasks.atoms.holdout): a typical drawn shot at fixed values.
HOLDOUT_SHOT = ShotDraw(rotation_deg=17.0, origin=(3.1, 1.7), drift=(0.5, -0.5), jitter_rms=0.06, jitter_seed=7,
                        defocus=-30.0, semiangle=23.0, source_size=0.3, dose_haadf=3e5, dose_abf=3e5)


def simulate_field(atoms: Atoms, shot: ShotDraw, optics: PrismSettings, shape: tuple[int, int] = (128, 128),
                   step: float = 0.2, seed: int = 0, phonon_seed: int | None = 0,
                   cache: SimulationCache | None = None, noise: bool = True) -> dict[str, dict]:
    """One scan of any structure (e.g. a hold-out case outside the dataset's draws), as the dataset makes it.

    Returns ``{"haadf": example, "abf": example}`` with ``image`` (H, W), ``columns_xy``, ``columns_class``
    (0 where the image does not show the column, :func:`shown_columns`), ``mask``, ``pixel_size``.
    Images are of one frozen-phonon configuration (``phonon_seed``; None: the
    static lattice); labels are the columns of that configuration (grouped as in the static ``atoms``).
    ``noise=False``: the noise-free image (after the source-size blur), as a fraction of the probe.
    """
    positions = scan_positions(shot, shape, step)
    imaged = atoms if phonon_seed is None else frozen_configuration(atoms, phonon_seed, thermal_sigmas(atoms))
    images = prism_images(imaged, [Shot(shot.defocus, shot.semiangle, positions)], optics, cache)
    columns = lattices.projected_columns(atoms, displaced=imaged.positions)
    all_mask, xy, all_classes = column_labels(columns, np.diag(atoms.cell)[:2], positions)
    out = {}
    for k, (detector, clean, dose) in enumerate((("haadf", images.haadf[0], shot.dose_haadf), ("abf", images.abf[0], shot.dose_abf))):
        blurred = source_blurred(clean, shot.source_size, step)
        mask, classes = shown_labels(all_mask, xy, all_classes, blurred, step)
        if noise:
            image = poisson_image(blurred, dose, step, np.random.default_rng([seed, k]))
        else:
            image = blurred.astype(np.float32)
        out[detector] = {"image": image, "columns_xy": xy, "columns_class": classes, "mask": mask, "pixel_size": step}
    return out


def describe(recipe: AtomColumnsRecipe) -> dict:
    """JSON-able metadata: the recipe, zones and optics, the label convention."""
    return {
        "recipe": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(recipe).items()},
        "zones": {name: {"layer_range": list(z.layer_range), "optics": z.optics.to_dict(),
                         "semiangle_range": list(z.semiangle_range), "defects": list(z.defects),
                         "sm_doping_max": z.sm_doping_max, "dose_range": list(z.dose_range),
                         "low_doses": list(z.low_doses)} for name, z in ZONES.items()},
        "unseen_zones": list(UNSEEN_ZONES),
        "classes": list(CLASSES),
        "class_rule": "heaviest atom of the projected column: Z <= 10 light, 11-36 intermediate, >= 37 heavy",
        "label_radius_angstrom": LABEL_RADIUS,
        "shown_rule": f"a column is a label (mask, columns_class) only where the noise-free image shows it: its "
                      f"Laplacian-of-Gaussian contrast (sigma {SHOWN_SIGMA} A), oriented as the field's columns, at "
                      f"least {SHOWN_FRACTION} of the 90th percentile over the frame's columns; else class 0 "
                      "(background in the mask, a don't-care in scoring)",
        "column_tolerance_angstrom": lattices.COLUMN_TOLERANCE,
        "pixel_convention": "columns_xy in pixels: x = column index, y = row index, pixel centres on integers",
        "phonons": "one frozen-phonon configuration per structure (THERMAL_SIGMAS_300K)",
    }

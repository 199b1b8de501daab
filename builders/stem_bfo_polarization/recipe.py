"""The recipe behind ``stem_bfo_polarization``: HAADF fields of BiFeO3 [100]pc with a known polarization field,
cut into sub-images centred on the Fe columns (found by atom finding) and on a regular grid.

A *field* is one structure (:func:`stem_datasets.physics.polarization.bfo_r3c_field`: R3c BiFeO3 as refined,
its O offsets scaled by a drawn ``o_scale``): ``cells`` x ``cells`` pseudo-cubic cells with a drawn domain
pattern (one domain, a 71 or 109 deg wall, or a smooth rotation), a thickness, Sm on random Bi sites
(0, 7 or 10%) with the model of
:mod:`stem_datasets.physics.polarization`, one frozen-phonon configuration and, in ``test_mistilt``, an
off-zone tilt (up to 1 mrad elsewhere, the residual of an alignment). One PRISM run (:mod:`stem_datasets.simulation.prism`) images it with a drawn defocus,
convergence angle, source size and a slightly rotated, drifting scan; ``noise_draws`` Poisson
realizations at their own doses follow. The label of a cell is delta_FeBi, the projected offset [pm]
of its Fe column from the mean of its four Bi columns, taken from the static positions and rotated
into the image frame (x along a row, y down the rows).

Sub-images (``window_px`` square) come two ways: ``centred`` on every Fe column that
:func:`stem_zoo.locate_atoms` (``atom_fcn``) finds within 0.5 A of a true Fe column, labelled with
that cell's delta_FeBi; ``grid`` on a regular grid of one cell's pitch, labelled with the nearest
Fe column's delta_FeBi (the seed's sub-images without atom finding).

Splits: ``train`` / ``test`` are the first 2/3 and the last 1/3 (along x) of the same fields, no window
crossing the cut; ``validation`` and ``test_unseen_field`` are whole new fields; ``test_unseen_composition``
whole fields at 10% Sm (training holds 0 and 7%); ``test_mistilt`` whole fields tilted 1.0-2.5 mrad off
the zone axis (training fields are within 1 mrad), which makes an apparent polarization.

Example:
    >>> recipe = get_recipe("smoke")
    >>> [u[0] for u in recipe.units("test_unseen_composition")], recipe.units("train") == recipe.units("test")
    (['test_unseen_composition'], True)
    >>> d = draw_field(recipe, recipe.units("test_mistilt")[0])
    >>> 1.0 <= float(np.hypot(*d.mistilt_mrad)) <= 2.5, d.sm_fraction in recipe.train_compositions
    (True, True)
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import asdict, dataclass
from typing import Iterator

import numpy as np
from ase import Atoms

from stem_datasets.physics import bfo_r3c, lattices, polarization
from stem_datasets.builders.stem_atom_columns.recipe import BULK, ShotDraw, column_labels, recorded_image, scan_positions
from stem_datasets.simulation.cache import SimulationCache, unit_interval
from stem_datasets.simulation.prism import PrismSettings, Shot, frozen_configuration, prism_images
from stem_datasets.pipeline.recipe import recipe_named
from stem_datasets.pipeline.subimages import centred_windows, grid_labels, grid_windows, region_split

SPLITS = ("train", "validation", "test", "test_unseen_field", "test_unseen_composition", "test_mistilt")
SAMPLINGS = ("centred", "grid")
MATCH_RADIUS = 0.5  # A: a found column this close to a true Fe column centres that cell's window
REGION_FRACTION = 2 / 3  # train: the first 2/3 of a region field along x; test: the rest (the seed's split)
# A HAADF outer angle well inside the 119 mrad that the 0.07 A potential represents, and the probe window PRISM
# needs on R3c BiFeO3 by thickness (bench/validate_bfo_prism.py, against multislice: a 10.6 A window agrees to
# 4.8 nm and rings by 11.9 nm, 15.9 A stays within 0.004 of multislice's delta_FeBi to 11.9 nm; 60-100 and
# 60-115 mrad read alike). :func:`optics_for` picks the window of a field.
OPTICS = dataclasses.replace(BULK, haadf=(60.0, 100.0), min_window=15.0)
THIN_LAYERS, THIN_WINDOW = 6, 10.5  # up to 6 units of 2 a_pc (4.8 nm) a 10.5 A window is enough (PRISM costs ~window^4)


@dataclass(frozen=True)
class BfoPolarizationRecipe:
    """Everything that fixes the content of one simulated ``stem_bfo_polarization`` config."""

    name: str
    description: str
    fields: dict  # unit kind -> fields per composition ("region" fields give train and test)
    cells: int = 16  # pc cells per side of the periodic field (even)
    pixel_size: float = 0.25  # A, the scan step
    window_px: int = 24  # sub-image side (6 A, about 1.5 cells at 0.25 A)
    noise_draws: int = 3  # Poisson realizations per field, each at its own dose
    layer_range: tuple[int, int] = (3, 15)  # units of 2 a_pc (7.93 A) along the beam (2.4-11.9 nm): non-region fields
    region_layer_range: tuple[int, int] = (3, 15)  # region fields (train and test), stratified over them (2.4-11.9 nm)
    train_compositions: tuple[float, ...] = (0.0, 0.07)
    unseen_composition: float = 0.10
    dose_range: tuple[float, float] = (2e4, 2e6)  # e-/A^2, log-uniform
    defocus_range: float = 30.0  # A, +-
    semiangle_range: tuple[float, float] = (20.0, 25.0)
    source_size_range: tuple[float, float] = (0.15, 0.35)
    region_fraction: float = REGION_FRACTION  # of a region field's width (x) for train; test: the rest
    rotation_max_deg: float = 3.0  # the scan is aligned with the lattice to within this
    drift_max: float = 0.5  # A over the frame, each axis
    jitter_max: float = 0.05  # A rms along the fast scan
    mistilt_range_mrad: tuple[float, float] = (1.0, 2.5)  # test_mistilt: beyond every training tilt
    alignment_max_mrad: float = 1.0  # every other field: on zone to within this, as after a usual alignment
    o_scale_range: tuple[float, float] = (0.8, 1.1)  # O offsets from the face centres, x the refined ones (a model)
    optics: PrismSettings = OPTICS
    seed: int = 2026
    use_beam: bool = False
    splits: tuple[str, ...] = SPLITS

    def __post_init__(self):
        for name in ("layer_range", "region_layer_range"):
            lo, hi = getattr(self, name)
            if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi):
                raise ValueError(f"{name} must be (lo, hi) whole units of 2 a_pc with 1 <= lo <= hi, not {(lo, hi)}.")
        if not 0 < self.region_fraction < 1:
            raise ValueError(f"region_fraction must lie between 0 and 1, not {self.region_fraction}.")

    def units(self, split: str) -> list[tuple[str, float, int]]:
        """(field kind, Sm fraction, index) of every field a split reads; train and test share the region fields."""
        if split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}; known: {', '.join(SPLITS)}.")
        kind = "region" if split in ("train", "test") else split
        compositions = (self.unseen_composition,) if split == "test_unseen_composition" else self.train_compositions
        return [(kind, float(x), i) for x in compositions for i in range(self.fields[kind])]

    def generate_unit(self, split: str, unit: tuple[str, float, int], cache: SimulationCache | None) -> Iterator[tuple[str, dict]]:
        return generate_unit(self, split, unit, cache)

    def describe(self) -> dict:
        return describe(self)


def _fields(region: int, each: int) -> dict:
    return {"region": region, "validation": each, "test_unseen_field": each, "test_unseen_composition": each,
            "test_mistilt": each}


RECIPES: dict[str, BfoPolarizationRecipe] = {r.name: r for r in (
    BfoPolarizationRecipe(
        "smoke", "A few minutes on 2 cores: 8 x 8 cell fields 1.6-3.2 nm thick, one per split, one noise draw; "
                 "its region field is split in halves (a third of 8 cells holds too few whole windows).",
        fields={"region": 1, "validation": 1, "test_unseen_field": 1, "test_unseen_composition": 1, "test_mistilt": 1},
        cells=8, noise_draws=1, train_compositions=(0.0,), layer_range=(2, 4), region_layer_range=(2, 4),
        region_fraction=0.5,
    ),
    BfoPolarizationRecipe(
        "small", "About 80 min on 2 cores: 12 x 12 cell (4.8 nm) fields 2.4-11.9 nm thick, two region fields per "
                 "training composition (one per quarter of that range), one field per composition of every other "
                 "split, six noise draws.",
        fields={**_fields(2, 1)}, cells=12, noise_draws=6,
    ),
    BfoPolarizationRecipe(
        "full", "Cluster scale (Apache Beam): 32 x 32 cell fields 2.4-11.9 nm thick, 40 region fields per training "
                "composition.",
        fields=_fields(40, 8), cells=32, noise_draws=4, use_beam=True,
    ),
)}


def get_recipe(name: str) -> BfoPolarizationRecipe:
    """The recipe of a named config, with a clear error for unknown names."""
    return recipe_named(RECIPES, "stem_bfo_polarization", name)


def _rng(recipe: BfoPolarizationRecipe, *salt) -> np.random.Generator:
    return np.random.default_rng(int(unit_interval(recipe.seed, *salt) * 2**63))


@dataclass(frozen=True)
class FieldDraw:
    """One field: domain pattern, thickness, Sm fraction, seeds, mistilt and its scan."""

    unit: tuple[str, float, int]
    pattern: str
    layers: int
    sm_fraction: float
    field_seed: int
    phonon_seed: int
    mistilt_mrad: tuple[float, float]
    shot: ShotDraw
    doses: tuple[float, ...]
    o_scale: float = 1.0  # the O sublattice: offsets from the cubic face centres, x the refined ones
    beam_sign: int = 1  # the sign of the <111> variants' component along the beam (unseen, but the O follow it)


def draw_field(recipe: BfoPolarizationRecipe, unit: tuple[str, float, int]) -> FieldDraw:
    """The field of a unit.

    Domain patterns cycle through :data:`polarization.KINDS` over all fields of a kind (every
    composition together, from a start drawn per kind), so two region fields per composition hold
    all four patterns. Fields are off zone by a drawn tilt: up to ``alignment_max_mrad`` (the
    residual of a usual alignment), and ``mistilt_range_mrad`` in ``test_mistilt``. Region fields
    (train and test) take one thickness per stratum of ``region_layer_range``, the compositions
    interleaved (in ``small``: pure BFO the 1st and 3rd quarter, 7% Sm the 2nd and 4th), so that few
    fields still span the range; other fields draw theirs uniformly from ``layer_range``.
    """
    kind, x, index = unit
    rng = _rng(recipe, *unit, "field")
    compositions = (recipe.unseen_composition,) if kind == "test_unseen_composition" else recipe.train_compositions
    position = compositions.index(x) * recipe.fields[kind] + index if x in compositions else index
    start = int(_rng(recipe, kind, "patterns").integers(len(polarization.KINDS)))
    pattern = polarization.KINDS[(start + position) % len(polarization.KINDS)]
    tilt_range = recipe.mistilt_range_mrad if kind == "test_mistilt" else (0.0, recipe.alignment_max_mrad)
    size, direction = rng.uniform(*tilt_range), rng.uniform(0, 2 * np.pi)
    mistilt = (float(size * np.cos(direction)), float(size * np.sin(direction)))
    a = pc_lattice_constant()
    shot = ShotDraw(
        rotation_deg=float(rng.uniform(-recipe.rotation_max_deg, recipe.rotation_max_deg)),
        origin=tuple(float(v) for v in rng.uniform(0, a, size=2)),
        drift=tuple(float(v) for v in rng.uniform(-recipe.drift_max, recipe.drift_max, size=2)),
        jitter_rms=float(rng.uniform(0, recipe.jitter_max)), jitter_seed=int(rng.integers(2**31)),
        defocus=float(rng.uniform(-recipe.defocus_range, recipe.defocus_range)),
        semiangle=float(rng.uniform(*recipe.semiangle_range)),
        source_size=float(rng.uniform(*recipe.source_size_range)), dose_haadf=0.0, dose_abf=0.0,
    )
    # own stream: the number of noise draws changes no structure
    dose_rng = _rng(recipe, *unit, "doses")
    doses = tuple(float(d) for d in np.exp(dose_rng.uniform(*np.log(recipe.dose_range), size=recipe.noise_draws)))
    if kind == "region":
        lo, hi = recipe.region_layer_range
        strata = recipe.fields[kind] * len(compositions)
        stratum = index * len(compositions) + compositions.index(x)  # compositions interleaved over the strata
        layers = lo + int((stratum + rng.uniform()) * (hi - lo + 1) / strata)
    else:
        layers = int(rng.integers(recipe.layer_range[0], recipe.layer_range[1] + 1))
    field_seed, phonon_seed = int(rng.integers(2**31)), int(rng.integers(2**31))
    return FieldDraw(unit=tuple(unit), pattern=pattern, layers=layers, sm_fraction=float(x), field_seed=field_seed,
                     phonon_seed=phonon_seed, mistilt_mrad=mistilt, shot=shot, doses=doses,
                     o_scale=float(rng.uniform(*recipe.o_scale_range)), beam_sign=int(rng.choice((-1, 1))))


def structure_of(recipe: BfoPolarizationRecipe, d: FieldDraw) -> Atoms:
    """The static structure of a field (its polarization field in ``info["displacement_pm"]``)."""
    rng = np.random.default_rng(d.field_seed)
    cells = (recipe.cells, recipe.cells)
    magnitude = polarization.sm_scaled_magnitude(d.sm_fraction)
    field = polarization.polarization_field(d.pattern, cells, rng, magnitude_pm=magnitude)
    return polarization.bfo_r3c_field(cells, d.layers, field, beam_sign=d.beam_sign, o_scale=d.o_scale,
                                      sm_fraction=d.sm_fraction, rng=rng)


def mistilted(atoms: Atoms, mistilt_mrad: tuple[float, float]) -> Atoms:
    """The crystal tilted off the zone axis by small angles (x, y) [mrad], as a shear about mid-thickness.

    An atom at depth z moves laterally by (z - z_mid) tan(theta): to first order in theta this is a
    rotation of the crystal about an in-plane axis (the cos(theta) foreshortening, 1 - 5e-6 at 3 mrad,
    is left out), and it keeps the lateral periodicity that PRISM needs. Multislice of the sheared
    crystal equals multislice with a tilted beam (abTEM's ``tilt``) while the detectors stay centred
    on the optic axis, as in a microscope whose specimen is off zone.
    """
    if not np.any(mistilt_mrad):
        return atoms
    moved = atoms.copy()
    z = moved.positions[:, 2] - 0.5 * moved.cell[2, 2]
    moved.positions[:, :2] += z[:, None] * np.tan(np.asarray(mistilt_mrad) * 1e-3)
    moved.wrap()
    return moved


def optics_for(recipe: BfoPolarizationRecipe, layers: int) -> PrismSettings:
    """The PRISM settings of a field ``layers`` units of 2 a_pc thick: the recipe's, with a probe window of at least
    :data:`THIN_WINDOW` up to :data:`THIN_LAYERS` units (4.8 nm), of at least ``recipe.optics.min_window`` beyond.

    >>> [round(optics_for(get_recipe("small"), n).min_window, 1) for n in (4, 6, 7)]
    [10.5, 10.5, 15.0]
    """
    if layers <= THIN_LAYERS:
        return dataclasses.replace(recipe.optics, min_window=min(THIN_WINDOW, recipe.optics.min_window))
    return recipe.optics


def pc_lattice_constant() -> float:
    """The pseudo-cubic cell [A] of the simulated BiFeO3: the refined R3c cell's a_pc, 3.9644 A (2.0.0; 1.x
    simulated 3.8206 A, having shortened 3.965 A by tilts that the tilted cell's volume already holds)."""
    return bfo_r3c.pc_lattice_constant()


def image_shape(recipe: BfoPolarizationRecipe) -> tuple[int, int]:
    """Pixels per side: the field less one cell (the scan origin moves within one cell)."""
    side = int((recipe.cells - 1) * pc_lattice_constant() / recipe.pixel_size)
    return side, side


def simulate_field(recipe: BfoPolarizationRecipe, d: FieldDraw, cache: SimulationCache | None):
    """The static structure, the scan positions and the clean HAADF image of a field."""
    atoms = structure_of(recipe, d)
    positions = scan_positions(d.shot, image_shape(recipe), recipe.pixel_size)
    imaged = mistilted(frozen_configuration(atoms, d.phonon_seed), d.mistilt_mrad)
    images = prism_images(imaged, [Shot(d.shot.defocus, d.shot.semiangle, positions)], optics_for(recipe, d.layers),
                          cache)
    return atoms, positions, images.haadf[0]


def cell_labels(atoms: Atoms, positions: np.ndarray, rotation_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Fe columns inside the scanned frame: pixel positions (N, 2) and delta_FeBi (N, 2) [pm] in the image frame.

    The scan maps a pixel step to the specimen by a rotation R(rotation_deg), so a specimen vector
    is R(-rotation_deg) of itself in the image frame.
    """
    box = np.diag(atoms.cell)[:2]
    a_xy, fe_xy = polarization.column_positions(atoms)
    p = polarization.cell_polarization(a_xy, fe_xy, box)
    fe = lattices.Columns(fe_xy, np.arange(len(fe_xy)), ("Fe",) * len(fe_xy))
    _, xy, index = column_labels(fe, box, positions)
    c, s = np.cos(np.radians(rotation_deg)), np.sin(np.radians(rotation_deg))
    specimen = p.pm[index]
    image_frame = np.stack([c * specimen[:, 0] + s * specimen[:, 1], -s * specimen[:, 0] + c * specimen[:, 1]], axis=-1)
    return xy, image_frame.astype(np.float32)


ATOM_FINDERS = "stem_datasets.atom_finders"  # entry-point group of installed atom finders
ATOM_FINDER = "atom_fcn"  # the finder behind the centred windows: stem_zoo's shipped atom_fcn


def atom_finder(name: str = ATOM_FINDER):
    """The installed atom finder ``name``: ``finder(image, pixel_size) -> (n, 2) column xy [px]`` and
    ``finder.identity() -> dict`` (what pins its output, e.g. its weights' checksum).

    Finders are plugins (the ``stem_datasets.atom_finders`` entry points; stem-zoo declares
    ``atom_fcn``), so this dataset layer never imports the model zoo.
    """
    from importlib.metadata import entry_points

    found = {point.name: point for point in entry_points(group=ATOM_FINDERS)}
    if name not in found:
        raise ValueError(f"no atom finder {name!r} is installed (entry points {ATOM_FINDERS}: "
                         f"{', '.join(sorted(found)) or 'none'}); the centred windows need it: install stem-zoo "
                         "(pip install -e .) so that its atom_fcn finder is registered.")
    return found[name].load()


def found_fe_columns(image: np.ndarray, pixel_size: float, fe_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fe columns found by atom finding (:func:`atom_finder`, ``atom_fcn``): for each true Fe column
    matched within :data:`MATCH_RADIUS`, the found position [px]; returns (found xy, index of the true column)."""
    from scipy.spatial import cKDTree

    found = atom_finder()(image, pixel_size)
    if not len(found) or not len(fe_xy):
        return np.zeros((0, 2)), np.zeros(0, int)
    distance, index = cKDTree(fe_xy).query(found)
    keep = distance <= MATCH_RADIUS / pixel_size
    # one found column per true column: the closest
    order = np.argsort(distance[keep])
    _, first = np.unique(index[keep][order], return_index=True)
    chosen = order[first]
    return found[keep][chosen], index[keep][chosen]


def generate_unit(recipe: BfoPolarizationRecipe, split: str, unit: tuple[str, float, int],
                  cache: SimulationCache | None) -> Iterator[tuple[str, dict]]:
    """The sub-images of one field, every noise draw, both samplings (of its region for train / test)."""
    d = draw_field(recipe, unit)
    atoms, positions, clean = simulate_field(recipe, d, cache)
    fe_xy, labels = cell_labels(atoms, positions, d.shot.rotation_deg)
    field_id = f"{unit[0]}/{unit[1]:.2f}/{unit[2]}"
    common = {"composition_sm": np.float32(d.sm_fraction), "pattern": d.pattern, "field": field_id,
              "thickness_nm": np.float32(atoms.cell[2, 2] / 10), "defocus_angstrom": np.float32(d.shot.defocus),
              "mistilt_mrad": np.float32(np.hypot(*d.mistilt_mrad)), "scan_rotation_deg": np.float32(d.shot.rotation_deg),
              "pixel_size": np.float32(recipe.pixel_size)}
    step = max(1, int(round(pc_lattice_constant() / recipe.pixel_size)))
    for k, dose in enumerate(d.doses):
        image = recorded_image(clean, d.shot.source_size, recipe.pixel_size, dose, _rng(recipe, *unit, "noise", k))
        found, index = found_fe_columns(image, recipe.pixel_size, fe_xy)
        sets = {"centred": (centred_windows(image, found, recipe.window_px), labels[index],
                            np.linalg.norm(found - fe_xy[index], axis=1))}
        grid = grid_windows(image, recipe.window_px, step)
        grid_p, grid_distance = grid_labels(grid.centres_xy, fe_xy, labels)
        sets["grid"] = (grid, grid_p, grid_distance)
        for sampling, (sub, values, distance) in sets.items():
            if sampling == "centred":
                values, distance = values[sub.index], distance[sub.index]
            keep = np.ones(len(sub.windows), bool)
            if unit[0] == "region":
                keep = region_split(sub.centres_xy, image.shape, recipe.window_px, recipe.region_fraction)[split]
            for i in np.flatnonzero(keep):
                yield f"{split}/{field_id}/{k}/{sampling}/{i}", {
                    **common, "image": sub.windows[i][..., None], "polarization_pm": values[i].astype(np.float32),
                    "sampling": sampling, "centre_xy": sub.centres_xy[i].astype(np.float32),
                    "label_distance_px": np.float32(distance[i]), "dose": np.float32(dose), "noise_draw": k,
                }


HOLDOUT_SHOT = ShotDraw(rotation_deg=1.5, origin=(1.3, 2.1), drift=(0.3, -0.4), jitter_rms=0.03, jitter_seed=5,
                        defocus=-20.0, semiangle=22.0, source_size=0.25, dose_haadf=5e5, dose_abf=0.0)


def holdout_field(cells: int = 8, layers: int = 9, cache: SimulationCache | None = None) -> dict:
    """A two-domain field outside every draw of the dataset: by default 7.1 nm thick (9 units: no field of
    ``small`` has it), 4% Sm (no split holds it), the R3c structure exactly as refined (O scale 1, beam
    component +), a 109 deg wall with fixed variants and 30 pm in pure-BFO terms, exactly on zone, imaged
    as a typical shot (defocus -20 A, 22 mrad, source sigma 0.25 A, 5e5 e-/A^2).

    Returns ``image`` (H, W), ``pixel_size``, ``cells_xy`` (N, 2) [px], ``polarization_pm`` (N, 2) in the image
    frame, ``domain`` ("left" / "right" of the wall, per Fe column) and ``thickness_nm``.
    """
    recipe = dataclasses.replace(get_recipe("smoke"), cells=cells)
    rng = np.random.default_rng(404)
    left, right = polarization.variant_projection((1, 1, 1), 30 * np.sqrt(1.5)), polarization.variant_projection((-1, -1, 1), 30 * np.sqrt(1.5))
    x = (np.arange(cells) + 0.5 - cells / 2) / 1.5
    weight = 0.5 * (1 + np.tanh(x))[None, :, None]  # a vertical wall through the middle
    field = (1 - weight) * left + weight * right + np.zeros((cells, cells, 2))
    field *= polarization.sm_scaled_magnitude(0.04, (1.0, 1.0))[0]
    atoms = polarization.bfo_r3c_field((cells, cells), layers, field, beam_sign=1, o_scale=1.0, sm_fraction=0.04, rng=rng)
    positions = scan_positions(HOLDOUT_SHOT, image_shape(recipe), recipe.pixel_size)
    imaged = frozen_configuration(atoms, 405)
    clean = prism_images(imaged, [Shot(HOLDOUT_SHOT.defocus, HOLDOUT_SHOT.semiangle, positions)],
                         optics_for(recipe, layers), cache).haadf[0]
    image = recorded_image(clean, HOLDOUT_SHOT.source_size, recipe.pixel_size, HOLDOUT_SHOT.dose_haadf,
                           np.random.default_rng(406))
    xy, p = cell_labels(atoms, positions, HOLDOUT_SHOT.rotation_deg)
    left = xy[:, 0] < np.median(xy[:, 0])  # the wall runs down the middle of the frame
    return {"image": image, "pixel_size": recipe.pixel_size, "cells_xy": xy, "polarization_pm": p,
            "domain": np.where(left, "left", "right"), "thickness_nm": float(atoms.cell[2, 2] / 10)}


def atom_finder_version() -> dict:
    """The atom finder behind the ``centred`` windows (its weights' checksum pins the dataset's content)."""
    return atom_finder().identity()


def describe(recipe: BfoPolarizationRecipe) -> dict:
    """JSON-able metadata: the recipe, the models and conventions behind the labels."""
    return {
        "recipe": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(recipe).items() if k != "optics"},
        "optics": recipe.optics.to_dict(),
        "prism_window": f"probe window >= {THIN_WINDOW} A up to {THIN_LAYERS} units of 2 a_pc, >= "
                        f"{recipe.optics.min_window} A beyond (bench/validate_bfo_prism.py)",
        "image_shape": list(image_shape(recipe)),
        "samplings": list(SAMPLINGS),
        "label": "delta_FeBi [pm]: Fe column minus the mean of its four Bi columns (cations' static positions), "
                 "image frame: x along a row, y down the rows",
        "centred": f"windows on Fe columns found by stem_zoo.locate_atoms (atom_fcn) within {MATCH_RADIUS} A of a "
                   "true Fe column, at the found sub-pixel position (bilinear); label of that true column",
        "grid": "windows on a regular grid of one cell's pitch; label of the nearest true Fe column",
        "region_split": f"train: windows entirely in the first {recipe.region_fraction:.3f} of a region field along x; "
                        "test: entirely in the rest; windows across the cut in neither",
        "atom_finder": atom_finder_version(),
        "sm_model": {"retained_at_10pct": polarization.SM_RETAINED_AT_10PCT,
                     "local_reduction_per_sm_neighbour_column": polarization.SM_LOCAL_REDUCTION / 4},
        "mistilt": "crystal sheared about mid-thickness by tan(theta) (first order in theta)",
        "phonons": "one frozen-phonon configuration per field (THERMAL_SIGMAS_300K)",
    }


@dataclass(frozen=True)
class ExperimentalRecipe:
    """The ``experimental`` config: the public Sm-BiFeO3 frames (TFDS manual_dir), cut like the simulated fields.

    Each frame is resampled to ``pixel_size`` with its own lattice as the scale (the median spacing
    of its unit-cell centres ``xy_COM`` is a_pc = 3.965 A: the files carry no calibration); windows are
    ``centred`` on the published unit-cell centres and labelled with the published ``Pxy`` (the
    seed's Gaussian-fit polarization), or on the ``grid``, labelled with the nearest cell. ``train`` is
    the first 2/3 of every frame along x, ``test`` the rest.
    """

    name: str = "experimental"
    description: str = ("The public Sm-doped BiFeO3 frames (Nelson, Ghosh et al. 2021) from the manual dir, "
                        "resampled to 0.25 A/px by their own lattice, cut into centred and grid sub-images.")
    pixel_size: float = 0.25
    window_px: int = 24
    manual_dir: str | None = None
    splits: tuple[str, ...] = ("train", "test")
    use_beam: bool = False

    def with_manual_dir(self, manual_dir) -> "ExperimentalRecipe":
        return dataclasses.replace(self, manual_dir=str(manual_dir))

    def frames(self) -> list:
        if self.manual_dir is None:
            raise ValueError("The experimental config reads TFDS's manual_dir; build it with tfds (see its "
                             "MANUAL_DOWNLOAD_INSTRUCTIONS) or call with_manual_dir(path).")
        return _read_frames(self.manual_dir)

    def units(self, split: str) -> list[str]:
        if split not in self.splits:
            raise ValueError(f"Unknown split {split!r}; known: {', '.join(self.splits)}.")
        return [f.name for f in self.frames()]

    def generate_unit(self, split: str, unit: str, cache=None) -> Iterator[tuple[str, dict]]:
        frame = next(f for f in self.frames() if f.name == unit)
        yield from experimental_examples(self, frame, split)

    def describe(self) -> dict:
        out = {"recipe": {"name": self.name, "pixel_size": self.pixel_size, "window_px": self.window_px},
               "scale": "each frame resampled so that the median nearest-neighbour spacing of xy_COM is 3.965 A",
               "label": "Pxy of the published unit-cell parameterization [pm], image frame"}
        if self.manual_dir is not None:
            out["files_sha256"] = {k: v for f in self.frames() for k, v in f.sha256.items()}
        return out


@functools.lru_cache(maxsize=1)
def _read_frames(manual_dir: str) -> list:
    from stem_datasets.builders.stem_bfo_polarization.experimental import read_manual_dir

    return read_manual_dir(manual_dir)


def frame_pixel_size(xy: np.ndarray, lattice_constant: float = 3.965) -> float:
    """A/px of a frame from its unit-cell centres: the median nearest-neighbour spacing is one a_pc."""
    from scipy.spatial import cKDTree

    distance, _ = cKDTree(xy).query(xy, k=2)
    return lattice_constant / float(np.median(distance[:, 1]))


def experimental_examples(recipe: ExperimentalRecipe, frame, split: str) -> Iterator[tuple[str, dict]]:
    """Centred and grid windows of one experimental frame, in its region for ``split``."""
    from scipy.ndimage import zoom

    scale = frame_pixel_size(frame.xy) / recipe.pixel_size
    image = zoom(frame.image.astype(np.float64), scale, order=1).astype(np.float32)
    xy = frame.xy * scale
    labels = np.asarray(frame.P_pm, np.float32)
    centred = centred_windows(image, xy, recipe.window_px)
    grid = grid_windows(image, recipe.window_px, max(1, int(round(3.965 / recipe.pixel_size))))
    grid_p, grid_distance = grid_labels(grid.centres_xy, xy, labels)
    sets = {"centred": (centred, labels[centred.index], np.zeros(len(centred.index))),
            "grid": (grid, grid_p, grid_distance)}
    for sampling, (sub, values, distance) in sets.items():
        keep = region_split(sub.centres_xy, image.shape, recipe.window_px, REGION_FRACTION)[split]
        for i in np.flatnonzero(keep):
            yield f"{split}/{frame.name}/{sampling}/{i}", {
                "image": sub.windows[i][..., None], "polarization_pm": values[i].astype(np.float32),
                "sampling": sampling, "centre_xy": sub.centres_xy[i].astype(np.float32),
                "label_distance_px": np.float32(distance[i]), "composition_sm": np.float32(frame.composition_sm),
                "pattern": "experimental", "field": frame.name, "noise_draw": 0, "dose": np.float32(np.nan),
                "thickness_nm": np.float32(np.nan), "defocus_angstrom": np.float32(np.nan),
                "mistilt_mrad": np.float32(np.nan), "scan_rotation_deg": np.float32(0.0),
                "pixel_size": np.float32(recipe.pixel_size),
            }


RECIPES["experimental"] = ExperimentalRecipe()

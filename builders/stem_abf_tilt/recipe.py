"""The recipe behind ``stem_abf_tilt``: which simulations, which GP expansion, which splits.

Everything here is plain NumPy so that it can be tested and reused without TFDS;
:class:`AbfTiltRecipe` is a :class:`stem_datasets.pipeline.recipe.DatasetRecipe`, so the builder in
``builders/stem_abf_tilt`` only declares features (and the GP validation metadata), and
:func:`report_section` is its part of ``stem-datasets report``. Each pattern is an
independent unit (its GP covers every thickness and ABF range at once). On Apache Beam (the
paper-scale config) every multislice run is its own work item, then each pattern's GP is fitted
once, validated and stored in the shared simulation cache, where every split reads it
(:class:`stem_datasets.pipeline.recipe.PreparedRecipe`). Which multislice runs are made is in
:mod:`stem_datasets.builders.stem_abf_tilt.design`.

Image geometry (the label convention): images are ``image_shape`` pixels of
``pixel_size`` A, rows along [001] and columns along [110], cut from the periodic
crystal. A crop of 2 x 2 projected cells (2 sqrt2 a x 2 a) starts ``margin_px`` pixels
into the image (the context the models' local normalization needs); a B (Ti) column sits
at (x, y) = (a / 2 sqrt2, a / 2) from the crop's top-left corner: the *reference column*,
at 1/8 of the crop's width and 1/4 of its height. The labels are the angles of the
octahedron on that column; crops taken elsewhere carry the angles of the column at that
place (:func:`stem_datasets.physics.glazer.shifted_angles`).

Splits: train (GP images at lattice labels hashed to train, plus every multislice image
of the GP design and of the optics runs), validation and test (GP images at lattice labels
hashed to them), test_multislice (held-out multislice at angles half a lattice step off
every grid, training thicknesses), test_unseen_thickness (the same structures at a band
of thicknesses inside the range and beyond it: no training structure, no training
thickness), test_unseen_material (CaTiO3), test_imperfect (optics beyond the training ranges).

Example:
    >>> recipe = RECIPES["smoke"]
    >>> recipe.patterns, len(recipe.train_layers()), margin_px(recipe)
    (('a-b-c-',), 8, (13, 18))
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, Iterator

import numpy as np

from stem_datasets.simulation.cache import SimulationCache, cache_key, unit_interval
from stem_datasets.physics.glazer import (
    DETERMINABLE, canonical_angles, determinable_quantities, equivalent_transforms, has_mirror, parse_pattern,
    same_crystal_angles,
)
from stem_datasets.simulation.imaging import poisson_image, resample_periodic
from stem_datasets.simulation.microscope import Microscope
from stem_datasets.simulation.simulate import CACHE_FORMAT as SIMULATION_FORMAT
from stem_datasets.simulation.simulate import POTENTIAL, StemImages, _abtem_version, settings_description, simulate_stem
from stem_datasets.physics.structures import get_composition, nominal_thickness_nm, pseudocubic_abc, tilted_perovskite
from stem_datasets.simulation.surrogate import GridPrediction, TiltSurrogate
from stem_datasets.builders.stem_abf_tilt.design import Run, canonical_box, label_split, planned_runs
from stem_datasets.pipeline.recipe import count, recipe_named

SPLITS = (
    "train", "validation", "test", "test_multislice", "test_unseen_thickness", "test_unseen_material", "test_imperfect",
)


@dataclass(frozen=True)
class OpticsRanges:
    """Imaging conditions: the training ranges (optics runs), and the bands beyond them (test_imperfect).

    Defocus, two-fold astigmatism C12 (any direction) and beam mistilt (any direction) are
    uniform within the ranges; ABF collection: inner angle a fraction of the convergence
    semi-angle, outer angle = the semi-angle.
    """

    defocus_A: float = 30.0
    astigmatism_A: float = 15.0
    mistilt_mrad: float = 2.0
    semiangle_mrad: tuple[float, float] = (25.0, 30.0)
    abf_inner_fraction: tuple[float, ...] = (0.4, 0.5, 0.6)
    imperfect_defocus_A: tuple[float, float] = (40.0, 60.0)
    imperfect_astigmatism_A: tuple[float, float] = (20.0, 35.0)
    imperfect_mistilt_mrad: tuple[float, float] = (2.5, 4.0)

    def abf_ranges(self, semiangle: float) -> list[tuple[float, float]]:
        """The ABF (inner, outer) ranges on whole-mrad bin edges for one semi-angle."""
        outer = float(np.floor(semiangle))
        return [(float(round(f * semiangle)), outer) for f in self.abf_inner_fraction]


@dataclass(frozen=True)
class AbfTiltRecipe:
    """Everything that fixes the content of one ``stem_abf_tilt`` config.

    Thickness is counted in [1-10] layers (sqrt2 * a = 0.552 nm for SrTiO3); every layer
    in ``layers`` is an exit plane. ``held_out_layers`` (a band inside the range) and
    ``beyond_layers`` (past its end) appear only in ``test_unseen_thickness``.
    """

    name: str
    patterns: tuple[str, ...]
    microscope: Microscope
    layers: tuple[int, int]  # first, last (inclusive)
    held_out_layers: tuple[int, ...]
    beyond_layers: tuple[int, ...]
    optics: OpticsRanges = OpticsRanges()
    tilt_limit_deg: float = 10.0
    label_step_deg: float = 0.25
    design_sobol: int = 12
    n_optics_runs: int = 5
    n_test_runs: int = 2
    n_unseen_material_runs: int = 1
    n_imperfect_runs: int = 2
    gp_train_angles: int = 2000
    gp_eval_angles: int = 150
    examples_per_angle: int = 4
    eval_examples_per_angle: int = 2
    composition: str = "SrTiO3"
    unseen_composition: str = "CaTiO3"
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    gp_restarts: int = 3
    pixel_size: float = 0.15
    image_shape: tuple[int, int] = (128, 144)
    seed: int = 0
    doses: tuple[float, ...] = (1e3, 1e4, 1e5)  # e-/A^2: every split but train holds each example at each
    description: str = ""
    use_beam: bool = False
    splits: ClassVar[tuple[str, ...]] = SPLITS
    summary_name: ClassVar[str] = "gp_validation"  # DatasetInfo.metadata key of summarize()

    @property
    def lattice_constant(self) -> float:
        """Pseudo-cubic lattice constant [A] of the training material: the crops' and labels' geometry."""
        return get_composition(self.composition).lattice_constant

    def crop_shape(self) -> tuple[int, int]:
        """Pixels of a 2 x 2 projected-cell crop (rows along [001], columns along [110])."""
        a = self.lattice_constant
        return (int(round(2 * a / self.pixel_size)), int(round(2 * np.sqrt(2) * a / self.pixel_size)))

    def train_layers(self) -> list[int]:
        """Exit planes whose images may go to train, validation and test."""
        return [n for n in range(self.layers[0], self.layers[1] + 1) if n not in self.held_out_layers]

    def thickness_nm(self, layers: int, composition: str | None = None) -> float:
        """Nominal thickness of a number of layers [nm]."""
        return nominal_thickness_nm(layers, get_composition(composition or self.composition).lattice_constant)

    @property
    def thicknesses_nm(self) -> tuple[float, ...]:
        """Training thicknesses [nm]."""
        return tuple(self.thickness_nm(n) for n in self.train_layers())

    # The DatasetRecipe interface (stem_datasets.pipeline.recipe), delegating to this module's functions.
    def units(self, split: str) -> list[str]:
        """One unit per pattern, whatever the split."""
        return units(self)

    def generate_unit(self, split: str, unit: str, cache: SimulationCache, prepared: bool = False) -> Iterator[tuple[str, dict]]:
        """(key, example) pairs of one split and pattern (``prepared``: the GP is in ``cache``, never refit)."""
        return generate_unit(self, split, unit, cache, prepared=prepared)

    def describe(self) -> dict:
        """Plain-JSON metadata (:func:`describe`)."""
        return describe(self)

    # stem_datasets.pipeline.recipe.PreparedRecipe: on Apache Beam, every run is its own work item, then one GP per pattern.
    def simulations(self) -> list[Run]:
        """Every planned multislice run."""
        return planned_runs(self)

    def simulate(self, item: Run, cache: SimulationCache) -> None:
        """Simulate one run into ``cache``."""
        simulate_run(item, cache)

    def prepared_keys(self) -> list[str]:
        """One GP per pattern."""
        return list(self.patterns)

    def prepare(self, key: str, cache: SimulationCache) -> None:
        """Fit the GP of pattern ``key`` from the cached design runs and store it in ``cache``."""
        fitted_surrogate(self, key, cache)

    def summarize(self, key: str, cache: SimulationCache) -> dict:
        """The GP validation of pattern ``key`` (:func:`validate_pattern`)."""
        return validate_pattern(self, key, cache)


_SMOKE_MICROSCOPE = Microscope(potential_sampling=0.1, scan_step=0.35, frozen_phonons=0)
_SMALL_MICROSCOPE = Microscope(potential_sampling=0.1, scan_step=0.25, frozen_phonons=0)
_FULL_MICROSCOPE = Microscope(potential_sampling=0.05, scan_step=0.2, frozen_phonons=8)

RECIPES: dict[str, AbfTiltRecipe] = {
    r.name: r
    for r in (
        AbfTiltRecipe(
            name="smoke",
            patterns=("a-b-c-",),
            microscope=_SMOKE_MICROSCOPE,
            layers=(4, 12),
            held_out_layers=(8,),
            beyond_layers=(13, 14),
            design_sobol=4,
            n_optics_runs=2,
            n_test_runs=1,
            n_imperfect_runs=1,
            gp_train_angles=300,
            gp_eval_angles=30,
            examples_per_angle=3,
            eval_examples_per_angle=1,
            gp_restarts=1,
            description="Pipeline check (~2 min on 2 cores): a-b-c-, 2.2-6.6 nm, 12-run GP design, static lattice, 0.1 A potential, 0.35 A scan.",
        ),
        AbfTiltRecipe(
            name="small",
            patterns=("a-b-c-", "a-b-c+", "a-b+c-", "a+b+c+"),
            microscope=_SMALL_MICROSCOPE,
            layers=(4, 37),
            held_out_layers=(18, 19, 20),
            beyond_layers=(38, 40, 42, 44),
            design_sobol=20,
            n_optics_runs=3,
            n_imperfect_runs=1,
            description="About an hour on 2 cores: the four Glazer patterns of the tilt paper, 2.2-20.4 nm in every layer, "
                        "28-run space-filling GP design per pattern, imaging conditions from optics runs, static lattice, 0.1 A potential.",
        ),
        AbfTiltRecipe(
            name="full",
            patterns=("a-b-c-", "a-b-c+", "a-b+c-", "a+b+c+"),
            microscope=_FULL_MICROSCOPE,
            layers=(4, 76),
            held_out_layers=(34, 35, 36, 37),
            beyond_layers=(80, 84, 88),
            design_sobol=120,
            n_optics_runs=60,
            n_test_runs=10,
            n_unseen_material_runs=5,
            n_imperfect_runs=10,
            gp_train_angles=60000,
            gp_eval_angles=5000,
            gp_restarts=5,
            use_beam=True,
            description="Paper scale (cluster job, Apache Beam): 2.2-42 nm in every layer, 128-run GP design per pattern, "
                        "8 frozen phonons, 0.05 A potential, 0.2 A scan.",
        ),
    )
}


def get_recipe(name: str) -> AbfTiltRecipe:
    """The recipe of a named config, with a clear error for unknown names."""
    return recipe_named(RECIPES, "stem_abf_tilt", name)


def describe(recipe: AbfTiltRecipe) -> dict:
    """Plain-JSON geometry, physics and plan of a config (dataset metadata, card and report).

    >>> describe(RECIPES["smoke"])["lattice_constant_angstrom"], describe(RECIPES["smoke"])["crop_shape"]
    (3.905, [52, 74])
    """
    return {
        "pixel_size_angstrom": recipe.pixel_size,
        "image_shape": list(recipe.image_shape),
        "crop_shape": list(recipe.crop_shape()),
        "crop_margin_px": list(margin_px(recipe)),
        "lattice_constant_angstrom": recipe.lattice_constant,
        "microscope": recipe.microscope.to_dict(),
        "patterns": list(recipe.patterns),
        "train_thicknesses_nm": list(recipe.thicknesses_nm),
        "unseen_thicknesses_nm": [recipe.thickness_nm(n) for n in (*recipe.held_out_layers, *recipe.beyond_layers)],
        "tilt_limit_deg": recipe.tilt_limit_deg,
        "label_step_deg": recipe.label_step_deg,
        "doses_per_A2": list(recipe.doses),
        "determinable": list(DETERMINABLE),
        "label_rule": {p: label_rule(p) for p in recipe.patterns},
        "optics_ranges": dataclasses.asdict(recipe.optics),
        "runs": [
            {"purpose": r.purpose, "pattern": r.pattern, "angles": list(r.angles), "composition": r.composition,
             "defocus_A": r.microscope.defocus, "C12_A": r.microscope.C12, "phi12": r.microscope.phi12,
             "mistilt_mrad": list(r.microscope.mistilt), "semiangle_mrad": r.microscope.semiangle}
            for r in planned_runs(recipe)
        ],
    }


def label_rule(pattern: str) -> str:
    """The canonical-label rule of a pattern, in words (dataset metadata and card).

    >>> label_rule("a-b-c-")
    'mirror (a, b, g) ~ (-b, -a, -g): alpha + beta >= 0, then gamma >= 0'
    """
    transforms = len(equivalent_transforms(pattern))
    if has_mirror(pattern) and transforms == 4:
        return ("shift (a, b, g) ~ (-a, -b, g) and mirror (a, b, g) ~ (-b, -a, -g), four equivalent triples: "
                "alpha + beta >= 0, then gamma >= 0, then beta - alpha >= 0")
    if has_mirror(pattern):
        return "mirror (a, b, g) ~ (-b, -a, -g): alpha + beta >= 0, then gamma >= 0"
    if transforms == 2:
        axis = "alpha" if parse_pattern(pattern).out_of_phase[1] else "beta"
        return f"shift (the in-phase angle flips): {axis} >= 0; the mirror maps this pattern to another"
    return "none: every triple is its own label"


def simulate_run(run: Run, cache: SimulationCache | None = None) -> StemImages:
    """Multislice of one planned run at every one of its exit planes (cached; a run made counts ``multislice_runs``)."""
    structure = tilted_perovskite(run.angles, run.pattern, run.composition)
    a0 = get_composition(run.composition).lattice_constant
    misses = cache.misses if cache is not None else 0
    images = simulate_stem(structure, [nominal_thickness_nm(n, a0) for n in run.layers], run.microscope, cache)
    if cache is None or cache.misses > misses:
        count("multislice_runs")
    return images


def margin_px(recipe: AbfTiltRecipe) -> tuple[int, int]:
    """Context pixels (rows, cols) stored around the crop: half a cell and one B-column spacing.

    The models normalize each pixel by the statistics of a (2 m + 1)-pixel box around it
    (``stem_zoo.micrograph``), so a crop needs that much context on every side.
    """
    a = recipe.lattice_constant
    return (int(round(a / 2 / recipe.pixel_size)), int(round(np.sqrt(2) * a / 2 / recipe.pixel_size)))


def to_dataset_image(recipe: AbfTiltRecipe, period_image: np.ndarray, period: tuple[float, float]) -> np.ndarray:
    """A one-period image on the dataset's pixel grid, (H, W, 1).

    The reference B column sits at (a/(2 sqrt2), a/2) from the top-left corner of the
    crop, and the crop starts ``margin_px`` pixels into the stored image.
    """
    return resample_periodic(period_image, period, recipe.pixel_size, recipe.image_shape, _grid_start(recipe))[..., None]


def _grid_start(recipe: AbfTiltRecipe) -> tuple[float, float]:
    """(x, y) [A] of the dataset image's pixel (0, 0) from the one-period image's origin."""
    my, mx = margin_px(recipe)
    return (-mx * recipe.pixel_size, -my * recipe.pixel_size)


def surrogate_on_grid(recipe: AbfTiltRecipe, surrogate: TiltSurrogate, pattern: str, angles) -> GridPrediction:
    """GP images at ``angles`` (n, 3) straight on the dataset's grid: ``.image(i, detector, layer)`` (H, W) is
    :func:`to_dataset_image` of the predicted one-period image to ~1e-6 of its range, ~100x faster
    (:meth:`~stem_datasets.simulation.surrogate.TiltSurrogate.on_grid`); ``.rms_std(i, detector, layer)`` its GP std.

    Example (fits the smoke GP, about a minute the first time):
        >>> smoke = get_recipe("smoke")  # doctest: +SKIP
        >>> grid = surrogate_on_grid(smoke, fitted_surrogate(smoke, "a-b-c-", SimulationCache()), "a-b-c-", [[2.0, -3.0, 4.5]])  # doctest: +SKIP
        >>> grid.image(0, 1, 0).shape  # doctest: +SKIP
        (128, 144)
    """
    angles = np.atleast_2d(np.asarray(angles, dtype=float))
    surrogate.check_range(angles)  # the GP's error first, as predict's
    periods = np.array([projected_period(g, pattern, recipe.composition) for g in angles]).reshape(-1, 2)
    return surrogate.on_grid(angles, periods, recipe.pixel_size, recipe.image_shape, _grid_start(recipe))


def projected_period(angles, pattern: str, composition: str) -> tuple[float, float]:
    """(x, y) size [A] of the [1-10] projected period of the tilted (contracted) crystal."""
    comp = get_composition(composition)
    a, b, c = pseudocubic_abc(angles, pattern, comp.lattice_constant, keep_volume=comp.tilted_source)
    return (float(np.sqrt(2) * 0.5 * (a + b)), float(2 * c))


def runs_of(recipe: AbfTiltRecipe, purpose: str, pattern: str) -> list[Run]:
    """The planned runs of one purpose and pattern."""
    return [r for r in planned_runs(recipe) if r.purpose == purpose and r.pattern == pattern]


def nominal_detectors(recipe: AbfTiltRecipe) -> list[tuple[float, float]]:
    """ABF ranges of the nominal microscope (GP outputs)."""
    return recipe.optics.abf_ranges(recipe.microscope.semiangle)


def _design_stack(recipe: AbfTiltRecipe, run: Run, cache) -> np.ndarray:
    """(detector, layer, y, x) images of one design run at the training layers."""
    sim = simulate_run(run, cache)
    return np.stack([sim.abf_image(*d) for d in nominal_detectors(recipe)])


_FITTED_SURROGATES: dict[str, TiltSurrogate] = {}
GP_FORMAT = 1  # cache entries of fitted GPs (TiltSurrogate.to_arrays)


def surrogate_key(recipe: AbfTiltRecipe, pattern: str) -> str:
    """Cache key of one pattern's fitted GP: every recipe field but its text and runner, and the code behind it.

    >>> smoke = get_recipe("smoke")
    >>> surrogate_key(smoke, "a-b-c-") == surrogate_key(dataclasses.replace(smoke, use_beam=True), "a-b-c-")
    True
    """
    from importlib.metadata import version

    fields = {k: v for k, v in dataclasses.asdict(recipe).items() if k not in ("description", "use_beam")}
    return cache_key({"gp": GP_FORMAT, "recipe": fields, "pattern": pattern, "scikit-learn": version("scikit-learn"),
                      "abtem": _abtem_version(), "simulation_format": SIMULATION_FORMAT, **settings_description(**POTENTIAL)})


def fitted_surrogate(recipe: AbfTiltRecipe, pattern: str, cache: SimulationCache | None, fit: bool = True) -> TiltSurrogate:
    """The GP of one pattern over every training thickness and nominal detector: from this process, else from
    ``cache``, else fitted (counts ``gp_fits``) and stored there. ``fit=False``: a missing GP is an error."""
    key = surrogate_key(recipe, pattern)
    if key not in _FITTED_SURROGATES:
        stored = cache.get(key) if cache is not None else None
        if stored is not None:
            _FITTED_SURROGATES[key] = TiltSurrogate.from_arrays(stored)
            return _FITTED_SURROGATES[key]
        if not fit:
            raise RuntimeError(
                f"the GP of {pattern} (stem_abf_tilt/{recipe.name}) is not in the simulation cache "
                f"{getattr(cache, 'url', cache)}: it is fitted in an earlier pipeline stage, so every worker must share "
                f"that cache ($STEM_ZOO_CACHE: a file:// folder for the DirectRunner, gs:// or s3:// on a cluster)."
            )
        design = runs_of(recipe, "design", pattern)
        images = np.stack([_design_stack(recipe, r, cache) for r in design])
        angles = np.array([r.angles for r in design])
        surrogate = TiltSurrogate(
            pattern, n_restarts=recipe.gp_restarts, margin_deg=recipe.label_step_deg, seed=recipe.seed
        ).fit(angles, images)
        count("gp_fits")
        if cache is not None:
            cache.put(key, surrogate.to_arrays())
        _FITTED_SURROGATES[key] = surrogate
    return _FITTED_SURROGATES[key]


def surrogate_images(
    recipe: AbfTiltRecipe,
    pattern: str,
    angles,
    thickness_nm: float,
    detector: tuple[float, float] | None = None,
    cache: SimulationCache | None = None,
) -> np.ndarray:
    """GP images (n, H, W, 1) on the dataset's grid at ``angles`` (n, 3), one thickness and ABF range.

    Example (fits the smoke GP, about a minute the first time):
        >>> images = surrogate_images(get_recipe("smoke"), "a-b-c-", [[2.0, -3.0, 4.5]], 4.42)  # doctest: +SKIP
    """
    if pattern not in recipe.patterns:
        raise ValueError(f"stem_abf_tilt/{recipe.name} has no GP for pattern {pattern!r}; it has {', '.join(recipe.patterns)}.")
    layers = recipe.train_layers()
    thicknesses = [recipe.thickness_nm(n) for n in layers]
    t_index = int(np.argmin(np.abs(np.array(thicknesses) - thickness_nm)))
    if not np.isfinite(thickness_nm) or abs(thicknesses[t_index] - thickness_nm) > 0.03:
        raise ValueError(
            f"thickness {thickness_nm} nm is not a simulated thickness of stem_abf_tilt/{recipe.name}: the GP covers "
            f"{thicknesses[0]:.2f}-{thicknesses[-1]:.2f} nm in whole layers of {recipe.thickness_nm(1):.3f} nm, "
            f"without {[recipe.thickness_nm(n) for n in recipe.held_out_layers]} (held out for testing)."
        )
    detectors = nominal_detectors(recipe)
    detector = tuple(float(v) for v in (detector or recipe.microscope.abf_detector))
    if detector not in detectors:
        raise ValueError(f"ABF range {detector} mrad is not a GP output; use one of {detectors}.")
    angles = np.atleast_2d(np.asarray(angles, dtype=float))
    grid = surrogate_on_grid(recipe, fitted_surrogate(recipe, pattern, cache or SimulationCache()), pattern, angles)
    return grid.images(detectors.index(detector), t_index)[..., None]


def units(recipe: AbfTiltRecipe) -> list[str]:
    """The independent work units: one per pattern (its GP covers every thickness)."""
    return list(recipe.patterns)


def gp_labels(recipe: AbfTiltRecipe, pattern: str, split: str) -> np.ndarray:
    """The GP angles of one split: lattice points of distinct canonical labels hashed to ``split``, never a design point.

    The angles are the structures' (:func:`~stem_datasets.physics.glazer.same_crystal_angles`, inside
    the GP's design box); the example's label is their canonical form.
    """
    n = recipe.gp_train_angles if split == "train" else recipe.gp_eval_angles
    design = {canonical_angles(r.angles, pattern) for r in runs_of(recipe, "design", pattern)}
    box = canonical_box(pattern, recipe.tilt_limit_deg)
    tilted = box[:, 1] > box[:, 0]
    rng = np.random.default_rng([recipe.seed, int(unit_interval("gp_labels", pattern, split) * 2**32)])
    step = recipe.label_step_deg
    chosen: dict[tuple, tuple] = {}  # label -> structure angles
    for _ in range(200):
        draws = np.round(rng.uniform(box[:, 0], box[:, 1], size=(4 * n, 3)) / step) * step
        for d in np.where(tilted, draws, 0.0):
            triple = same_crystal_angles(np.round(d, 6), pattern)
            label = canonical_angles(triple, pattern)
            if label not in chosen and label not in design and label_split(recipe, pattern, triple) == split:
                chosen[label] = triple
                if len(chosen) == n:
                    return np.array(list(chosen.values()), dtype=float)
    raise RuntimeError(f"could not draw {n} distinct {split} labels for {pattern}; lower gp_*_angles.")


def _example(recipe, image, angles, pattern, layers, composition, microscope, detector, source, gp_std=0.0) -> dict:
    quantities = determinable_quantities(angles, pattern)
    return {
        "image": image.astype(np.float32),
        "clean_image": image.astype(np.float32),
        "dose": np.float32(0.0),
        "angles": np.asarray(canonical_angles(angles, pattern), dtype=np.float32),
        "raw_angles": np.asarray(angles, dtype=np.float32),
        "determinable": np.array([quantities[k] for k in DETERMINABLE], dtype=np.float32),
        "pattern": pattern,
        "thickness_nm": np.float32(recipe.thickness_nm(layers, composition)),
        "composition": composition,
        "source": source,
        "gp_std": np.float32(gp_std),
        "defocus_A": np.float32(microscope.defocus),
        "astigmatism_A": np.float32(microscope.C12),
        "mistilt_mrad": np.float32(np.hypot(*microscope.mistilt)),
        "semiangle_mrad": np.float32(microscope.semiangle),
        "abf_inner_mrad": np.float32(detector[0]),
        "abf_outer_mrad": np.float32(detector[1]),
    }


def _run_layers(recipe: AbfTiltRecipe, split: str, run: Run) -> list[int]:
    if split == "test_unseen_thickness":
        return [n for n in run.layers if n in recipe.held_out_layers or n in recipe.beyond_layers]
    return [n for n in run.layers if n in set(recipe.train_layers())]


RUN_SPLITS = {  # split -> the purposes of the runs whose images it holds
    "train": ("design", "optics"),
    "test_multislice": ("test",),
    "test_unseen_thickness": ("test",),
    "test_unseen_material": ("unseen_material",),
    "test_imperfect": ("imperfect",),
}


def generate_unit(
    recipe: AbfTiltRecipe, split: str, pattern: str, cache: SimulationCache, batch: int = 64, prepared: bool = False
) -> Iterator[tuple[str, dict]]:
    """Yield (key, example) for one split and one pattern (``prepared``: read the GP from ``cache``, never fit it).

    Train images are clean (models draw their own dose); every other split holds each clean
    example once per dose of ``recipe.doses``, with Poisson noise drawn from a seed of the
    example's key and dose (:func:`dosed`), the clean image beside it.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; known: {', '.join(SPLITS)}.")
    for key, example in _clean_examples(recipe, split, pattern, cache, batch, prepared):
        if split == "train":
            yield key, example
        else:
            for dose in recipe.doses:
                yield f"{key}/{dose:g}", dosed(recipe, key, example, dose)


def dosed(recipe: AbfTiltRecipe, key: str, example: dict, dose: float) -> dict:
    """The example recorded at ``dose`` e-/A^2: Poisson counts on the dataset grid, seeded by (seed, key, dose).

    >>> ex = {"image": np.full((4, 4, 1), 0.6, np.float32), "clean_image": np.full((4, 4, 1), 0.6, np.float32)}
    >>> a, b = dosed(RECIPES["smoke"], "k", ex, 1e4), dosed(RECIPES["smoke"], "k", ex, 1e4)
    >>> bool(np.array_equal(a["image"], b["image"])), float(a["dose"]), bool(np.all(a["clean_image"] == 0.6))
    (True, 10000.0, True)
    """
    rng = np.random.default_rng([recipe.seed, int(unit_interval("dose", key, float(dose)) * 2**32)])
    return {**example, "image": poisson_image(example["clean_image"], dose, recipe.pixel_size, rng), "dose": np.float32(dose)}


def _clean_examples(
    recipe: AbfTiltRecipe, split: str, pattern: str, cache: SimulationCache, batch: int = 64, prepared: bool = False
) -> Iterator[tuple[str, dict]]:
    """(key, noise-free example) of one split and pattern."""
    for purpose in RUN_SPLITS.get(split, ()):
        for run in runs_of(recipe, purpose, pattern):
            sim = simulate_run(run, cache)
            period = projected_period(run.angles, pattern, run.composition)
            index = {n: k for k, n in enumerate(run.layers)}
            for detector in recipe.optics.abf_ranges(run.microscope.semiangle):
                stack = sim.abf_image(*detector)
                for n in _run_layers(recipe, split, run):
                    image = to_dataset_image(recipe, stack[index[n]], period)
                    yield (f"{pattern}/{run.name}/{n}/{detector[0]:g}",
                           _example(recipe, image, run.angles, pattern, n, run.composition, run.microscope, detector, "multislice"))
    if split not in ("train", "validation", "test"):
        return
    surrogate = fitted_surrogate(recipe, pattern, cache, fit=not prepared)
    labels = gp_labels(recipe, pattern, split)
    detectors = nominal_detectors(recipe)
    layers = recipe.train_layers()
    per_angle = recipe.examples_per_angle if split == "train" else recipe.eval_examples_per_angle
    rng = np.random.default_rng([recipe.seed, int(unit_interval("gp_examples", pattern, split) * 2**32)])
    for start in range(0, len(labels), batch):
        angles = labels[start:start + batch]
        grid = surrogate_on_grid(recipe, surrogate, pattern, angles)  # (n, detector, layer) images, made on demand
        for i, g in enumerate(angles):
            for pick in rng.choice(len(detectors) * len(layers), size=per_angle, replace=False):
                d, t = divmod(int(pick), len(layers))
                image = grid.image(i, d, t)[..., None]
                rms_std = grid.rms_std(i, d, t)
                key = f"{pattern}/gp/{g[0]:+.2f},{g[1]:+.2f},{g[2]:+.2f}/{layers[t]}/{detectors[d][0]:g}"
                yield key, _example(recipe, image, g, pattern, layers[t], recipe.composition, recipe.microscope,
                                    detectors[d], "gp", rms_std)


def validate_surrogate(recipe: AbfTiltRecipe, cache: SimulationCache) -> dict:
    """:func:`validate_pattern` of every pattern: ``{pattern: numbers}`` (the ``gp_validation`` metadata)."""
    return {pattern: validate_pattern(recipe, pattern, cache) for pattern in recipe.patterns}


def validate_pattern(recipe: AbfTiltRecipe, pattern: str, cache: SimulationCache) -> dict:
    """Normalized MSE of one pattern's GP images against held-out multislice (the test runs) per thickness.

    NMSE = mean((gp - ms)^2) / var(ms) on the final resampled images, nominal ABF range;
    beside it the same for the nearest design-point multislice image, the baseline the GP
    has to beat. Same simulation settings (and phonon count) as the GP's own design.
    """
    detector = recipe.microscope.abf_detector
    d_index = nominal_detectors(recipe).index(tuple(float(v) for v in detector))
    surrogate = fitted_surrogate(recipe, pattern, cache)
    design = runs_of(recipe, "design", pattern)
    design_angles = np.array([r.angles for r in design])
    tests = runs_of(recipe, "test", pattern)
    grid = surrogate_on_grid(recipe, surrogate, pattern, np.array([r.angles for r in tests]).reshape(-1, 3))
    per_layer: dict[int, dict[str, list]] = {}
    for i, run in enumerate(tests):
        truth_stack = simulate_run(run, cache).abf_image(*detector)
        near = design[int(np.argmin(((design_angles - np.array(run.angles)) ** 2).sum(axis=1)))]
        near_stack = _design_stack(recipe, near, cache)[d_index]
        period = projected_period(run.angles, pattern, recipe.composition)
        near_period = projected_period(near.angles, pattern, recipe.composition)
        for t, n in enumerate(recipe.train_layers()):
            truth = to_dataset_image(recipe, truth_stack[run.layers.index(n)], period)
            guess = grid.image(i, d_index, t)[..., None]
            nearest = to_dataset_image(recipe, near_stack[t], near_period)
            entry = per_layer.setdefault(n, {"gp": [], "nearest": []})
            entry["gp"].append(float(np.mean((guess - truth) ** 2) / np.var(truth)))
            entry["nearest"].append(float(np.mean((nearest - truth) ** 2) / np.var(truth)))
    return {
        "kernel": surrogate.kernel_,
        "n_design": len(design),
        "n_held_out": len(tests),
        "thickness_nm": [recipe.thickness_nm(n) for n in per_layer],
        "nmse_median": [float(np.median(v["gp"])) for v in per_layer.values()],
        "nmse_max": [float(np.max(v["gp"])) for v in per_layer.values()],
        "nearest_design_nmse_median": [float(np.median(v["nearest"])) for v in per_layer.values()],
    }


def stitched_domains(
    recipe: AbfTiltRecipe,
    pattern: str,
    angles: tuple[tuple[float, float, float], ...],
    shape: tuple[int, int],
    layers: int,
    cache: SimulationCache | None = None,
) -> tuple[np.ndarray, list[int]]:
    """A synthetic multi-domain micrograph: vertical stripes of separate multislice images.

    Each domain is the periodic multislice image of one tilt state (nominal microscope,
    ``layers`` thick), resampled onto the same pixel grid with the reference B column at
    (a/(2 sqrt2), a/2) from the top-left corner; stripes are joined at B-column-aligned
    boundaries. Stitching ignores the strain and the tilt mismatch a real domain wall would
    have: it is a test pattern for tilt maps, not a simulated interface. Returns the image
    and the stripe borders.
    """
    cache = cache or SimulationCache()
    out = np.zeros(shape, dtype=np.float32)
    column_px = np.sqrt(2) * recipe.lattice_constant / 2 / recipe.pixel_size
    borders = [int(round(round(k * shape[1] / len(angles) / column_px) * column_px)) for k in range(len(angles) + 1)]
    borders[-1] = shape[1]
    for k, a in enumerate(angles):
        run = Run("stitched", pattern, tuple(a), recipe.composition, recipe.microscope, (layers,), "stitched")
        sim = simulate_run(run, cache)
        full = resample_periodic(sim.abf[0], projected_period(a, pattern, recipe.composition), recipe.pixel_size, shape)
        out[:, borders[k]:borders[k + 1]] = full[:, borders[k]:borders[k + 1]]
    return out, borders


def report_section(builder, out_dir) -> list[str]:
    """``stem-datasets report``'s part for this dataset: GP validation table and example figure (markdown lines)."""
    from pathlib import Path

    recipe, meta = builder.builder_config.recipe, dict(builder.info.metadata)
    figure = example_figure(builder, Path(out_dir) / f"{builder.name}_{recipe.name}_examples.png")
    lines = [
        "## GP surrogate against held-out multislice (NMSE = mean squared error / variance of the multislice image)", "",
        "| pattern | thickness [nm] | GP NMSE median | GP NMSE max | nearest design point NMSE median |",
        "| --- | --- | --- | --- | --- |",
    ]
    for pattern, v in meta.get("gp_validation", {}).items():
        for k, t in enumerate(v["thickness_nm"]):
            lines.append(f"| {pattern} | {t:.2f} | {v['nmse_median'][k]:.2e} | {v['nmse_max'][k]:.2e} | "
                         f"{v['nearest_design_nmse_median'][k]:.2e} |")
    return [*lines, "", f"![examples]({figure.name})", ""]


def example_figure(builder, path, per_row: int = 4):
    """Rows: one per pattern of GP training images, then each multislice test split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stem_datasets.pipeline.offline import take_examples

    recipe = builder.builder_config.recipe
    train = take_examples(builder, "train", 2000)
    rows = [(f"GP train {p}", [e for e in train if e["pattern"].decode() == p][:per_row]) for p in recipe.patterns]
    rows += [(split, take_examples(builder, split, per_row)) for split in SPLITS[3:]]
    fig, axes = plt.subplots(len(rows), per_row, figsize=(2.6 * per_row, 2.6 * len(rows)), squeeze=False)
    crop_h, crop_w = recipe.crop_shape()
    margin_y, margin_x = margin_px(recipe)
    for r, (title, examples) in enumerate(rows):
        for c in range(per_row):
            ax = axes[r, c]
            ax.set_axis_off()
            if c >= len(examples):
                continue
            e = examples[c]
            ax.imshow(e["image"][..., 0], cmap="gray")
            ax.add_patch(plt.Rectangle((margin_x - 0.5, margin_y - 0.5), crop_w, crop_h, fill=False, color="tab:orange", lw=1))
            a = e["angles"]
            dose = f", {e['dose']:.0e} e/A^2" if e["dose"] > 0 else ", clean"
            ax.set_title(f"{title}\n({a[0]:.2f}, {a[1]:.2f}, {a[2]:.2f}) deg, {e['thickness_nm']:.1f} nm\n"
                         f"df {e['defocus_A']:.0f} A, ABF {e['abf_inner_mrad']:.0f}-{e['abf_outer_mrad']:.0f} mrad{dose}",
                         fontsize=6)
        bar_px = 2.0 / recipe.pixel_size
        axes[r, 0].plot([4, 4 + bar_px], [recipe.image_shape[0] - 5] * 2, color="white", lw=3)
    fig.suptitle(f"stem_abf_tilt/{recipe.name}: ABF, orange box = 2x2-cell crop, white bar = 2 A", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

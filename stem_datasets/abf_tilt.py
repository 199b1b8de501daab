"""The recipe behind ``stem_abf_tilt``: which simulations, which GP expansion, which splits.

Everything here is plain NumPy so that it can be tested and reused without TFDS; the
builder in ``builders/stem_abf_tilt`` only declares features and calls
:func:`generate_examples`. Each (pattern, thickness) unit is independent, so the
paper-scale config can be spread over Apache Beam workers.

Image geometry (the label convention): images are ``image_shape`` pixels of
``pixel_size`` A, rows along [001] and columns along [110], cut from the periodic
crystal so that a B (Ti) column sits at (x, y) = (a / 2 sqrt2, a / 2) from the top-left
corner: the *reference column*. The labels are the angles of the octahedron on that
column. A crop of 2 x 2 projected cells (2 sqrt2 a x 2 a) taken at the image origin holds
its reference column at 1/8 of its width and 1/4 of its height; crops taken elsewhere
carry the angles of the column at that place (:func:`stem_datasets.glazer.shifted_angles`).

Example:
    >>> recipe = RECIPES["smoke"]
    >>> recipe.patterns, len(coarse_grid(recipe, "a-b-c-"))
    (('a-b-c-',), 27)
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from stem_datasets.cache import SimulationCache, cache_key, unit_interval
from stem_datasets.glazer import canonical_angles, parse_pattern
from stem_datasets.imaging import resample_periodic
from stem_datasets.microscope import Microscope
from stem_datasets.simulate import StemImages, simulate_stem
from stem_datasets.structures import get_composition, pseudocubic_abc, tilted_perovskite
from stem_datasets.surrogate import TiltSurrogate

SPLITS = ("train", "validation", "test", "test_multislice", "test_unseen_material", "test_imperfect")


@dataclass(frozen=True)
class AbfTiltRecipe:
    """Everything that fixes the content of one ``stem_abf_tilt`` config."""

    name: str
    patterns: tuple[str, ...]
    thicknesses_nm: tuple[float, ...]
    microscope: Microscope
    coarse_step_deg: float = 5.0
    coarse_limit_deg: float = 10.0
    fine_step_deg: float = 0.25
    fine_limit_deg: float = 11.25
    composition: str = "SrTiO3"
    unseen_composition: str = "CaTiO3"
    n_test_multislice: int = 20
    n_test_unseen: int = 20
    n_test_imperfect: int = 20
    # Residual aberrations and mistilt for test_imperfect, drawn uniformly in +-range.
    imperfect_defocus_A: float = 20.0
    imperfect_astigmatism_A: float = 10.0
    imperfect_mistilt_mrad: float = 2.0
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    gp_restarts: int = 5
    pixel_size: float = 0.15
    image_shape: tuple[int, int] = (96, 104)
    seed: int = 0
    description: str = ""
    use_beam: bool = False

    def crop_shape(self) -> tuple[int, int]:
        """Pixels of a 2 x 2 projected-cell crop (rows along [001], columns along [110])."""
        a = get_composition(self.composition).lattice_constant
        return (int(round(2 * a / self.pixel_size)), int(round(2 * np.sqrt(2) * a / self.pixel_size)))


_SMOKE_MICROSCOPE = Microscope(potential_sampling=0.1, scan_step=0.25, frozen_phonons=0)
_SMALL_MICROSCOPE = Microscope(potential_sampling=0.05, scan_step=0.25, frozen_phonons=2)
_FULL_MICROSCOPE = Microscope(potential_sampling=0.04, scan_step=0.2, frozen_phonons=15)

RECIPES: dict[str, AbfTiltRecipe] = {
    r.name: r
    for r in (
        AbfTiltRecipe(
            name="smoke",
            patterns=("a-b-c-",),
            thicknesses_nm=(2.2, 4.4),
            microscope=_SMOKE_MICROSCOPE,
            coarse_step_deg=10.0,
            fine_step_deg=2.5,
            n_test_multislice=3,
            n_test_unseen=3,
            n_test_imperfect=3,
            gp_restarts=2,
            description="Pipeline check (~3 min on 2 cores): one pattern, 10-degree multislice grid, static lattice, 0.1 A potential sampling.",
        ),
        AbfTiltRecipe(
            name="small",
            patterns=("a-b-c-", "a-b+c-"),
            thicknesses_nm=(3.3, 6.6),
            microscope=_SMALL_MICROSCOPE,
            coarse_step_deg=10.0,
            fine_step_deg=1.25,
            n_test_multislice=4,
            n_test_unseen=4,
            n_test_imperfect=4,
            description="About an hour on 2 cores: two patterns, 10-degree multislice grid, 2 frozen phonons, GP to 1.25 degrees.",
        ),
        AbfTiltRecipe(
            name="full",
            patterns=("a-b-c-", "a-b-c+", "a-b+c-", "a+b+c+"),
            thicknesses_nm=(2.2, 7.2, 12.1, 17.1, 22.1, 27.1, 32.0, 37.0, 42.0),
            microscope=_FULL_MICROSCOPE,
            use_beam=True,
            description="Paper scale (cluster job, Apache Beam): multislice every 5 deg over +-10 deg with 15 frozen phonons, thicknesses 2-42 nm, GP every 0.25 deg over +-11.25 deg (729,000 images per pattern and thickness).",
        ),
    )
}


def get_recipe(name: str) -> AbfTiltRecipe:
    """The recipe of a named config, with a clear error for unknown names."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"Unknown stem_abf_tilt config {name!r}; known: {', '.join(RECIPES)}.") from None


def _axis_values(step: float, limit: float) -> np.ndarray:
    n = int(round(limit / step))
    return np.round(np.arange(-n, n + 1) * step, 6)


def _grid(pattern: str, values: np.ndarray) -> np.ndarray:
    p = parse_pattern(pattern)
    axes = [values if tilted else np.zeros(1) for tilted in p.tilted]
    return np.array(list(itertools.product(*axes)), dtype=float)


def coarse_grid(recipe: AbfTiltRecipe, pattern: str) -> np.ndarray:
    """Angle triples simulated by multislice to fit the GP."""
    return _grid(pattern, _axis_values(recipe.coarse_step_deg, recipe.coarse_limit_deg))


def fine_grid(recipe: AbfTiltRecipe, pattern: str) -> np.ndarray:
    """Angle triples the GP expands to (centred on zero, +-fine_limit_deg)."""
    limit = recipe.fine_limit_deg
    n = int(np.floor(limit / recipe.fine_step_deg + 1e-9))
    values = np.round(np.arange(-n, n + 1) * recipe.fine_step_deg, 6)
    return _grid(pattern, values)


def gp_splits(recipe: AbfTiltRecipe, pattern: str, grid: np.ndarray) -> np.ndarray:
    """train / validation / test for each fine-grid triple, fixed by its canonical labels.

    Canonical labels decide, so two triples that give the same image always share a
    split and no label of validation or test appears in train. Coarse-grid triples
    (the multislice the GP was fitted on) are always train.
    """
    coarse = {canonical_angles(g, pattern) for g in coarse_grid(recipe, pattern)}
    out = []
    for angles in grid:
        canon = canonical_angles(angles, pattern)
        u = unit_interval(recipe.seed, pattern, *canon)
        if canon in coarse or u >= recipe.validation_fraction + recipe.test_fraction:
            out.append("train")
        else:
            out.append("validation" if u < recipe.validation_fraction else "test")
    return np.array(out)


def off_grid_angles(recipe: AbfTiltRecipe, pattern: str, n: int, salt: str) -> np.ndarray:
    """``n`` random triples in the coarse range, on the 0.25 deg lattice, off the coarse grid."""
    rng = np.random.default_rng([recipe.seed, int(unit_interval(salt, pattern) * 2**32)])
    p = parse_pattern(pattern)
    coarse = {tuple(g) for g in coarse_grid(recipe, pattern)}
    out: list[tuple[float, ...]] = []
    while len(out) < n:
        draw = np.round(rng.uniform(-recipe.coarse_limit_deg, recipe.coarse_limit_deg, 3) * 4) / 4
        draw = tuple(float(d) if tilted else 0.0 for d, tilted in zip(draw, p.tilted))
        if draw not in coarse and draw not in out:
            out.append(draw)
    return np.array(out, dtype=float).reshape(n, 3)


def to_dataset_image(recipe: AbfTiltRecipe, period_image: np.ndarray, period: tuple[float, float]) -> np.ndarray:
    """A one-period image on the dataset's pixel grid, (H, W, 1), reference column at its place."""
    return resample_periodic(period_image, period, recipe.pixel_size, recipe.image_shape)[..., None]


def projected_period(angles, pattern: str, composition: str) -> tuple[float, float]:
    """(x, y) size [A] of the [1-10] projected period of the tilted (contracted) crystal."""
    a, b, c = pseudocubic_abc(angles, pattern, get_composition(composition).lattice_constant)
    return (float(np.sqrt(2) * 0.5 * (a + b)), float(2 * c))


def simulate_case(
    recipe: AbfTiltRecipe,
    angles,
    pattern: str,
    composition: str | None = None,
    microscope: Microscope | None = None,
    cache: SimulationCache | None = None,
) -> StemImages:
    """Multislice of one tilt state at every thickness of the recipe (cached)."""
    structure = tilted_perovskite(angles, pattern, composition or recipe.composition)
    return simulate_stem(structure, recipe.thicknesses_nm, microscope or recipe.microscope, cache)


_FITTED_SURROGATES: dict[str, TiltSurrogate] = {}


def fitted_surrogate(recipe: AbfTiltRecipe, pattern: str, thickness_index: int, cache: SimulationCache) -> TiltSurrogate:
    """The GP of one unit, fitted once per process (splits are generated one after another)."""
    key = cache_key({"recipe": dataclasses.asdict(recipe), "unit": [pattern, thickness_index]})
    if key not in _FITTED_SURROGATES:
        grid = coarse_grid(recipe, pattern)
        images = np.stack([simulate_case(recipe, g, pattern, cache=cache).abf[thickness_index] for g in grid])
        _FITTED_SURROGATES[key] = TiltSurrogate(pattern, n_restarts=recipe.gp_restarts, seed=recipe.seed).fit(grid, images)
    return _FITTED_SURROGATES[key]


def units(recipe: AbfTiltRecipe) -> list[tuple[str, int]]:
    """The independent (pattern, thickness index) work units."""
    return [(p, t) for p in recipe.patterns for t in range(len(recipe.thicknesses_nm))]


def _example(recipe, image, angles, pattern, thickness, composition, source, gp_std=0.0) -> dict:
    return {
        "image": image.astype(np.float32),
        "angles": np.asarray(canonical_angles(angles, pattern), dtype=np.float32),
        "pattern": pattern,
        "thickness_nm": np.float32(thickness),
        "composition": composition,
        "source": source,
        "gp_std": np.float32(gp_std),
    }


def generate_unit(
    recipe: AbfTiltRecipe, split: str, unit: tuple[str, int], cache: SimulationCache, batch: int = 512
) -> Iterator[tuple[str, dict]]:
    """Yield (key, example) for one split and one (pattern, thickness index) unit."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; known: {', '.join(SPLITS)}.")
    pattern, t_index = unit
    thickness = simulate_case(recipe, coarse_grid(recipe, pattern)[0], pattern, cache=cache).thicknesses_nm[t_index]
    base = f"{pattern}/{thickness:.2f}nm"

    if split in ("train", "validation", "test"):
        surrogate = fitted_surrogate(recipe, pattern, t_index, cache)
        grid = fine_grid(recipe, pattern)
        chosen = grid[gp_splits(recipe, pattern, grid) == split]
        for start in range(0, len(chosen), batch):
            angles = chosen[start:start + batch]
            means, stds = surrogate.predict(angles)
            for g, mean, std in zip(angles, means, stds):
                image = to_dataset_image(recipe, mean, projected_period(g, pattern, recipe.composition))
                rms_std = float(np.sqrt(np.mean(std**2)))
                key = f"{base}/gp/{g[0]:+.2f},{g[1]:+.2f},{g[2]:+.2f}"
                yield key, _example(recipe, image, g, pattern, thickness, recipe.composition, "gp", rms_std)
        return

    for key, angles, composition, microscope in _multislice_cases(recipe, split, pattern):
        sim = simulate_case(recipe, angles, pattern, composition, microscope, cache)
        image = to_dataset_image(recipe, sim.abf[t_index], projected_period(angles, pattern, composition))
        yield f"{base}/{key}", _example(recipe, image, angles, pattern, thickness, composition, "multislice")


def _multislice_cases(recipe: AbfTiltRecipe, split: str, pattern: str):
    if split == "test_multislice":
        for n, g in enumerate(off_grid_angles(recipe, pattern, recipe.n_test_multislice, split)):
            yield f"ms{n}", g, recipe.composition, recipe.microscope
    elif split == "test_unseen_material":
        for n, g in enumerate(off_grid_angles(recipe, pattern, recipe.n_test_unseen, split)):
            yield f"{recipe.unseen_composition}{n}", g, recipe.unseen_composition, recipe.microscope
    elif split == "test_imperfect":
        rng = np.random.default_rng([recipe.seed, 7])
        for n, g in enumerate(off_grid_angles(recipe, pattern, recipe.n_test_imperfect, split)):
            d, c12, phi, tx, ty = rng.uniform(-1, 1, 5)
            microscope = recipe.microscope.replace(
                defocus=float(round(d * recipe.imperfect_defocus_A, 2)),
                C12=float(round(abs(c12) * recipe.imperfect_astigmatism_A, 2)),
                phi12=float(round(phi * np.pi, 4)),
                mistilt=(float(round(tx * recipe.imperfect_mistilt_mrad, 3)), float(round(ty * recipe.imperfect_mistilt_mrad, 3))),
            )
            yield f"imperfect{n}", g, recipe.composition, microscope


def generate_examples(recipe: AbfTiltRecipe, split: str, cache: SimulationCache) -> Iterator[tuple[str, dict]]:
    """All examples of one split, unit after unit."""
    for unit in units(recipe):
        yield from generate_unit(recipe, split, unit, cache)


def validate_surrogate(recipe: AbfTiltRecipe, cache: SimulationCache) -> dict:
    """Normalized MSE of GP images against multislice at the test_multislice angles.

    NMSE = mean((gp - ms)^2) / var(ms) on the final resampled images, per (pattern,
    thickness); also the same for the nearest coarse-grid multislice image, the
    baseline the GP has to beat.
    """
    report = {}
    for pattern, t_index in units(recipe):
        surrogate = fitted_surrogate(recipe, pattern, t_index, cache)
        grid = coarse_grid(recipe, pattern)
        angles = off_grid_angles(recipe, pattern, recipe.n_test_multislice, "test_multislice")
        means, _ = surrogate.predict(angles)
        nmse, nearest = [], []
        for g, mean in zip(angles, means):
            period = projected_period(g, pattern, recipe.composition)
            truth = to_dataset_image(recipe, simulate_case(recipe, g, pattern, cache=cache).abf[t_index], period)
            guess = to_dataset_image(recipe, mean, period)
            near = grid[np.argmin(((grid - g) ** 2).sum(axis=1))]
            near_img = to_dataset_image(
                recipe, simulate_case(recipe, near, pattern, cache=cache).abf[t_index], projected_period(near, pattern, recipe.composition)
            )
            nmse.append(float(np.mean((guess - truth) ** 2) / np.var(truth)))
            nearest.append(float(np.mean((near_img - truth) ** 2) / np.var(truth)))
        thickness = simulate_case(recipe, grid[0], pattern, cache=cache).thicknesses_nm[t_index]
        report[f"{pattern}@{thickness}nm"] = {
            "nmse_median": float(np.median(nmse)),
            "nmse_max": float(np.max(nmse)),
            "nearest_grid_nmse_median": float(np.median(nearest)),
            "n": len(nmse),
            "kernel": surrogate.kernel_,
        }
    return report


def stitched_domains(
    recipe: AbfTiltRecipe,
    pattern: str,
    angles: tuple[tuple[float, float, float], ...],
    shape: tuple[int, int],
    thickness_index: int = 0,
    cache: SimulationCache | None = None,
) -> tuple[np.ndarray, list[int]]:
    """A synthetic multi-domain micrograph: vertical stripes of separate multislice images.

    Each domain is the periodic multislice image of one tilt state, resampled onto the
    same pixel grid; stripes are joined at B-column-aligned boundaries. Stitching ignores
    the strain and the tilt mismatch a real domain wall would have: it is a test pattern
    for tilt maps, not a simulated interface. Returns the image and the stripe borders.
    """
    cache = cache or SimulationCache()
    out = np.zeros(shape, dtype=np.float32)
    column_px = np.sqrt(2) * get_composition(recipe.composition).lattice_constant / 2 / recipe.pixel_size
    borders = [int(round(round(k * shape[1] / len(angles) / column_px) * column_px)) for k in range(len(angles) + 1)]
    borders[-1] = shape[1]
    for k, a in enumerate(angles):
        sim = simulate_case(recipe, a, pattern, cache=cache)
        full = resample_periodic(sim.abf[thickness_index], projected_period(a, pattern, recipe.composition), recipe.pixel_size, shape)
        out[:, borders[k]:borders[k + 1]] = full[:, borders[k]:borders[k + 1]]
    return out, borders

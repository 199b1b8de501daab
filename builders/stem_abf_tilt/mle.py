"""The physics baseline of ``stem_abf_tilt``: maximum-likelihood fit of the GP surrogate to one crop.

A crop (the dataset's 2 x 2-cell crop, intensity as a fraction of the probe, Poisson noise at a
known dose) is compared with the GP's image of the same crop (:class:`CropModel`): tilt angles,
thickness (a whole [1-10] layer of the GP's design) and the nuisances a microscopist cannot fix
exactly, the crop's shift and its x/y magnification. :func:`fit_crop` minimizes the Poisson
negative log-likelihood: a coarse scan of Sobol angle triples x every thickness at the nominal
geometry, then L-BFGS-B from the best few (angles, shift, log-magnification) and the neighbouring
layers. The answer is canonical (:func:`stem_datasets.physics.glazer.canonical_angles`): a mirror twin
fits equally well, and the label says which one is meant. The objective is the Poisson deviance
(-2 log L less its saturated value). :func:`crop_crb` is the Cramer-Rao bound
of the same model (the bound the fit faces on GP-made crops).

It shows how far the surrogate alone gets toward the bound and what a network must beat; it knows
the ABF range and the dose, which a network is not told, and it cannot know optics it was not
simulated with (``test_imperfect``).

Example (fits the smoke GP the first time, about a minute):
    >>> from stem_datasets.builders.stem_abf_tilt.recipe import get_recipe
    >>> model = CropModel.of(get_recipe("smoke"), "a-b-c-")  # doctest: +SKIP
    >>> crop = model.image((3.0, -2.0, 5.0), layer=4)  # doctest: +SKIP
    >>> fit_crop(model, crop, dose=None).angles  # doctest: +SKIP
    (3.0, -2.0, 5.0)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from stem_datasets.physics.glazer import canonical_angles, same_crystal_angles
from stem_datasets.simulation.imaging import fourier_matrix
from stem_datasets.builders.stem_abf_tilt.limits import COMBINATIONS, Fisher

QUANTITIES = tuple(COMBINATIONS)  # alpha, beta, gamma, alpha_plus_beta, beta_minus_alpha


@dataclass
class CropModel:
    """The GP's expected crop of one pattern and ABF range: ``image(angles, layer, shift, scale)``.

    ``layer`` indexes the GP's thicknesses (the recipe's training layers); ``shift_xy`` [A]
    moves the lattice in the crop, ``scale_xy`` magnifies it about the crop's centre.
    """

    recipe: object
    pattern: str
    surrogate: object
    detector: int = 0

    @classmethod
    def of(cls, recipe, pattern: str, detector: tuple[float, float] | None = None, cache=None) -> "CropModel":
        """The model of a built (or buildable) config's GP: ``detector`` an ABF range of its GP, default nominal."""
        from stem_datasets.builders.stem_abf_tilt.recipe import fitted_surrogate, nominal_detectors
        from stem_datasets.simulation.cache import SimulationCache

        if pattern not in recipe.patterns:
            raise ValueError(f"stem_abf_tilt/{recipe.name} has no pattern {pattern!r}; it has {', '.join(recipe.patterns)}.")
        detectors = nominal_detectors(recipe)
        wanted = tuple(float(v) for v in (detector or recipe.microscope.abf_detector))
        if wanted not in detectors:
            raise ValueError(f"ABF range {wanted} mrad is not a GP output of stem_abf_tilt/{recipe.name}; use one of {detectors}.")
        surrogate = fitted_surrogate(recipe, pattern, cache or SimulationCache())
        return cls(recipe, pattern, surrogate, detectors.index(wanted))

    def __post_init__(self) -> None:
        basis, _ = self.surrogate._grid_basis()  # (detector x layer, k + 1, padded pixels), the mean as the last row
        detectors, layers, ny, nx = self.surrogate.shape
        self._shape = (ny, nx)
        self._basis = basis.reshape(detectors, layers, *basis.shape[1:])[self.detector]
        self.crop_shape = self.recipe.crop_shape()
        self.thicknesses_nm = np.array(self.recipe.thicknesses_nm)

    @property
    def n_layers(self) -> int:
        return len(self._basis)

    def coefficients(self, angles) -> np.ndarray:
        """(n, k + 1) GP coefficients of the padded basis at ``angles`` (n, 3); raises outside the GP's range."""
        c, _ = self.surrogate.predict_coefficients(np.atleast_2d(np.asarray(angles, dtype=float)))
        return np.column_stack([c, np.ones(len(c))])

    def _matrices(self, angles, shift_xy, scale_xy) -> tuple[np.ndarray, np.ndarray]:
        from stem_datasets.builders.stem_abf_tilt.recipe import projected_period

        px = self.recipe.pixel_size
        period = projected_period(angles, self.pattern, self.recipe.composition)
        (h, w), (ny, nx) = self.crop_shape, self._shape
        centre = (0.5 * (w - 1) * px, 0.5 * (h - 1) * px)
        rx = fourier_matrix(nx, np.array([period[0]]), px * scale_xy[0], w, centre[0] * (1 - scale_xy[0]) + shift_xy[0])[0]
        ry = fourier_matrix(ny, np.array([period[1]]), px * scale_xy[1], h, centre[1] * (1 - scale_xy[1]) + shift_xy[1])[0]
        return ry, rx

    def image(self, angles, layer: int, shift_xy=(0.0, 0.0), scale_xy=(1.0, 1.0)) -> np.ndarray:
        """The expected crop (h, w) [fraction of the probe] at one geometry (the crop starts at the period's origin)."""
        return self.images(self.coefficients(angles)[0], angles, [layer], shift_xy, scale_xy)[0]

    def images(self, coefficients, angles, layers, shift_xy=(0.0, 0.0), scale_xy=(1.0, 1.0)) -> np.ndarray:
        """Crops (len(layers), h, w) of one angle triple from its coefficients, at several layers."""
        ny, nx = self._shape
        period = coefficients @ self._basis[np.asarray(layers)]  # (layers, padded pixels)
        ry, rx = self._matrices(angles, shift_xy, scale_xy)
        return ry @ period.reshape(-1, ny + 1, nx + 1) @ rx.T


@dataclass(frozen=True)
class CropFit:
    """One maximum-likelihood fit: canonical angles [deg], thickness [nm], nuisances, -log L, seconds."""

    angles: tuple[float, float, float]
    thickness_nm: float
    shift_xy: tuple[float, float]
    scale_xy: tuple[float, float]
    nll: float
    seconds: float


def _counts(dose: float | None, pixel_size: float) -> float:
    if dose is None:
        return 1e6  # a noise-free crop: weighted least squares in effect
    if not (np.isfinite(dose) and dose > 0):
        raise ValueError(f"dose must be a positive number of electrons per A^2 (or None for a clean crop), got {dose}.")
    return float(dose) * pixel_size**2


def _nll(expected: np.ndarray, counts: np.ndarray, electrons: float) -> np.ndarray:
    """Poisson deviance: -2 log L less its value at lambda = counts (>= 0, ~ one per pixel at the truth)."""
    lam = np.clip(expected, 1e-6, None) * electrons
    k = np.clip(counts, 0, None)
    return 2 * np.sum(lam - k + k * np.log(np.where(k > 0, k, 1.0) / lam), axis=(-2, -1))


def fit_crop(model: CropModel, crop: np.ndarray, dose: float | None, starts: int = 128, refine: int = 4,
             seed: int = 0) -> CropFit:
    """Maximum-likelihood (angles, layer, shift, x/y magnification) of one crop (h, w) at ``dose`` e-/A^2.

    ``starts`` Sobol angle triples x every layer are scored at the nominal geometry; L-BFGS-B
    then refines the ``refine`` best (and their neighbouring layers).
    """
    from scipy.stats import qmc

    from stem_datasets.builders.stem_abf_tilt.design import canonical_box

    crop = np.asarray(crop, dtype=np.float64)
    if crop.shape != tuple(model.crop_shape):
        raise ValueError(f"crop must be {tuple(model.crop_shape)} pixels (the dataset's 2 x 2-cell crop), got {crop.shape}.")
    if not np.all(np.isfinite(crop)):
        raise ValueError("crop contains NaN or infinite values.")
    t0 = time.perf_counter()
    electrons = _counts(dose, model.recipe.pixel_size)
    counts = crop * electrons
    box = canonical_box(model.pattern, model.recipe.tilt_limit_deg)
    axes = np.flatnonzero(box[:, 1] > box[:, 0])
    sobol = qmc.Sobol(len(axes), scramble=True, seed=seed).random(starts)
    candidates = np.zeros((starts, 3))
    candidates[:, axes] = box[axes, 0] + sobol * (box[axes, 1] - box[axes, 0])
    coefficients = model.coefficients(candidates)
    all_layers = np.arange(model.n_layers)
    scores = np.array([_nll(model.images(c, g, all_layers), counts, electrons) for c, g in zip(coefficients, candidates)])
    order = np.argsort(scores, axis=None)
    bounds = [(lo, hi) for lo, hi in zip(model.surrogate.low_, model.surrogate.high_)] + [(-6.0, 6.0)] * 2 + [(-8.0, 8.0)] * 2

    def solve(start: np.ndarray, layer: int, tight: bool):
        def objective(v):
            angles, shift, scale = _unpack(v, axes)
            return float(_nll(model.images(model.coefficients(angles)[0], angles, [layer], shift, scale)[0], counts, electrons))

        options = {"maxiter": 300, "eps": 1e-5, "ftol": 1e-13, "gtol": 1e-9} if tight else {"maxiter": 60, "ftol": 1e-7}
        result = minimize(objective, start, method="L-BFGS-B", bounds=bounds, options=options)
        return float(result.fun), result.x, layer

    # Stage 1: a loose fit from each of the best distinct (start, layer) pairs of the scan.
    fits, tried = [], []
    for flat in order:
        if len(tried) >= refine:
            break
        s, layer = divmod(int(flat), model.n_layers)
        if any(abs(layer - t) <= 1 and np.allclose(candidates[s], candidates[u]) for u, t in tried):
            continue
        tried.append((s, layer))
        fits.append(solve(np.concatenate([candidates[s, axes], np.zeros(4)]), layer, tight=False))
    # Stage 2: the best one's neighbouring layers, then a tight fit of the best of all.
    _, v, layer = min(fits, key=lambda f: f[0])
    fits += [solve(v, t, tight=False) for t in (layer - 1, layer + 1) if 0 <= t < model.n_layers]
    _, v, layer = min(fits, key=lambda f: f[0])
    best = solve(v, layer, tight=True)
    nll, v, layer = best
    angles, shift, scale = _unpack(v, axes)
    label = canonical_angles(same_crystal_angles(np.round(angles, 6), model.pattern), model.pattern)
    return CropFit(label, float(model.thicknesses_nm[layer]), tuple(float(x) for x in shift),
                   tuple(float(x) for x in scale), nll, time.perf_counter() - t0)


def _unpack(v: np.ndarray, axes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Angles [deg], shift [A] and scale from the optimizer's variables (shift in 0.1 A, log-scale in 1%: all O(1))."""
    angles = np.zeros(3)
    angles[axes] = v[: len(axes)]
    return angles, 0.1 * v[len(axes):len(axes) + 2], np.exp(0.01 * v[len(axes) + 2:])


NUISANCES = ("thickness", "shift", "magnification")


def crop_crb(model: CropModel, angles, layer: int, dose: float, nuisance: tuple[str, ...] = ("thickness",),
             step_deg: float = 0.25) -> dict[str, float]:
    """Cramer-Rao bound [deg] of one crop under the GP's own model (``QUANTITIES`` keys): the bound of GP-made crops.

    :func:`stem_datasets.builders.stem_abf_tilt.limits.tilt_crb` is the bound of the physics (multislice derivatives, every
    nuisance); this one has the GP's derivatives instead and agrees with it within 15% on ``small``'s
    a-b-c- GP (the card). Poisson counts; Fisher information sum_pix J J^T / lambda with J by central differences
    (angles +-``step_deg``, shift +-0.01 A, magnification +-0.2%, thickness between the
    neighbouring layers, per nm). Only nuisances of this model: thickness, shift, magnification.
    """
    unknown = [n for n in nuisance if n not in NUISANCES]
    if unknown:
        raise ValueError(f"unknown nuisance {unknown[0]!r}; the GP's crop model has {', '.join(NUISANCES)}.")
    electrons = _counts(dose, model.recipe.pixel_size)
    angles = np.asarray(angles, dtype=float)
    base = model.image(angles, layer)
    columns = []
    for axis in range(3):
        if model.surrogate.pattern.tilted[axis]:
            e = np.eye(3)[axis] * step_deg
            columns.append((model.image(angles + e, layer) - model.image(angles - e, layer)) / (2 * step_deg))
    if "thickness" in nuisance:
        lo, hi = max(layer - 1, 0), min(layer + 1, model.n_layers - 1)
        columns.append((model.image(angles, hi) - model.image(angles, lo)) / (model.thicknesses_nm[hi] - model.thicknesses_nm[lo]))
    if "shift" in nuisance:
        for k in range(2):
            d = np.eye(2)[k] * 0.01
            columns.append((model.image(angles, layer, d) - model.image(angles, layer, -d)) / 0.02)
    if "magnification" in nuisance:
        for k in range(2):
            d = np.eye(2)[k] * 0.002
            columns.append((model.image(angles, layer, (0, 0), 1 + d) - model.image(angles, layer, (0, 0), 1 - d)) / 0.004)
    jacobian = np.stack([c.ravel() for c in columns], axis=1) * electrons
    lam = np.clip(base.ravel(), 1e-6, None) * electrons
    tilted = tuple(axis for axis in range(3) if model.surrogate.pattern.tilted[axis])
    names = (*(("alpha", "beta", "gamma")[a] for a in tilted), *(f"nuisance{k}" for k in range(len(columns) - len(tilted))))
    return Fisher(jacobian.T @ (jacobian / lam[:, None]), names, tilted).bounds()

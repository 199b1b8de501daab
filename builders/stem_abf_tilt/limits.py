"""The physical limit of tilt measurement: the Cramer-Rao bound of one ``stem_abf_tilt`` crop.

Model: Poisson counts per pixel, mean ``lambda = dose [e/A^2] x pixel_size^2 x I`` with ``I`` the
ABF intensity as a fraction of the probe (nominal ABF range of the config's microscope), on the
dataset's 2 x 2-cell crop (:func:`stem_datasets.builders.stem_abf_tilt.recipe.to_dataset_image`, cut at
:func:`~stem_datasets.builders.stem_abf_tilt.recipe.margin_px` to :meth:`~stem_datasets.builders.stem_abf_tilt.recipe.AbfTiltRecipe.crop_shape`).
Fisher information ``F = sum_pixels J J^T / lambda`` over the tilted angles and the unknown nuisances,
``J = d lambda / d parameter``; the bound of a combination ``v`` of the angles is ``sqrt(v^T F^-1 v)``
[deg]. As ``F`` is proportional to the dose, every bound scales exactly as ``dose^-1/2``.

Derivatives come from static multislice runs (:func:`stem_datasets.builders.stem_abf_tilt.recipe.simulate_run`, cached):
angles by central differences of +-``ANGLE_STEP_DEG`` (one-sided where a step would leave the
config's range), defocus by +-``DEFOCUS_STEP_A``, two-fold astigmatism (components along 0 and 45 deg)
by +-``ASTIGMATISM_STEP_A``, thickness from the neighbouring exit planes (per nm). The others are
analytic on the image's Fourier series: crop shift (x, y, per A), x and y magnification (per unit
relative scale, about the crop centre), and the FWHM of a Gaussian source (per A; with ``source_size``
unknown the image is also blurred by a ``SOURCE_FWHM_A`` source).

Example (a thin smoke crystal, a few seconds of multislice the first time):
    >>> b = tilt_crb("a-b-c-", (6, 4, 3), 1.1, 1e4, config="smoke")  # doctest: +SKIP
    >>> sorted(b)  # doctest: +SKIP
    ['alpha', 'alpha_plus_beta', 'beta', 'beta_minus_alpha', 'gamma']
    >>> NUISANCES
    ('thickness', 'defocus', 'astigmatism', 'shift', 'magnification', 'source_size')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from stem_datasets.builders.stem_abf_tilt.recipe import AbfTiltRecipe, get_recipe, projected_period, simulate_run
from stem_datasets.builders.stem_abf_tilt.design import Run
from stem_datasets.simulation.cache import SimulationCache
from stem_datasets.physics.glazer import parse_pattern
from stem_datasets.simulation.microscope import Microscope
from stem_datasets.physics.structures import get_composition, layers_for_thickness

NUISANCES = ("thickness", "defocus", "astigmatism", "shift", "magnification", "source_size")
COMBINATIONS: dict[str, tuple[float, float, float]] = {
    "alpha": (1.0, 0.0, 0.0),
    "beta": (0.0, 1.0, 0.0),
    "gamma": (0.0, 0.0, 1.0),
    "alpha_plus_beta": (1.0, 1.0, 0.0),
    "beta_minus_alpha": (-1.0, 1.0, 0.0),
}
ANGLE_STEP_DEG = 1.5
DEFOCUS_STEP_A = 20.0
ASTIGMATISM_STEP_A = 20.0
SOURCE_FWHM_A = 0.4
DEFAULT_NUISANCE = ("thickness", "defocus")
REPRESENTATIVE_ANGLES: dict[str, tuple[float, float, float]] = {
    "a-b-c-": (6.0, 4.0, 3.0), "a-b-c+": (6.0, 4.0, 3.0), "a-b+c-": (6.0, 4.0, 3.0), "a+b+c+": (6.0, 4.0, 3.0),
}
_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


@dataclass(frozen=True)
class Fisher:
    """Fisher information of one crop at one dose: ``matrix`` over the parameters ``names``.

    Angles [deg] come first (tilted axes only, in alpha, beta, gamma order: ``angle_axes``), then
    the nuisance components. Units: thickness nm, defocus and astigmatism A, shift A, magnification
    relative, source FWHM A.

    >>> f = Fisher(np.diag([4.0, 1.0, 1.0, 9.0]), ("alpha", "beta", "gamma", "thickness"), (0, 1, 2))
    >>> round(f.bound((1, 1, 0)) ** 2, 12)  # var(alpha) + var(beta) = 1/4 + 1
    1.25
    """

    matrix: np.ndarray
    names: tuple[str, ...]
    angle_axes: tuple[int, ...]

    def covariance(self) -> np.ndarray:
        """``F^-1``, inverted on the diagonally scaled matrix (parameters of very different units)."""
        d = np.sqrt(np.diag(self.matrix))
        if np.any(d <= 0):
            raise ValueError(f"parameters {[n for n, v in zip(self.names, d) if v <= 0]} carry no information.")
        return np.linalg.inv(self.matrix / np.outer(d, d)) / np.outer(d, d)

    def bound(self, combination: Sequence[float]) -> float:
        """``sqrt(v^T F^-1 v)`` [deg] of a combination ``v`` of (alpha, beta, gamma); untilted axes are known exactly."""
        v = np.zeros(len(self.names))
        v[: len(self.angle_axes)] = [combination[ax] for ax in self.angle_axes]
        return float(np.sqrt(v @ self.covariance() @ v))

    def bounds(self) -> dict[str, float]:
        """:data:`COMBINATIONS` -> bound [deg]."""
        return {name: self.bound(v) for name, v in COMBINATIONS.items()}


# ---- input checks ----------------------------------------------------------------------------------------------

def _recipe(config: str) -> AbfTiltRecipe:
    if not isinstance(config, str):
        raise ValueError(f"config must be a stem_abf_tilt config name, got {config!r}.")
    return get_recipe(config)  # ValueError naming the known configs


def angle_limit(recipe: AbfTiltRecipe) -> float:
    """Largest |angle| [deg] allowed: the config's tilt limit plus the GP's margin (one label step).

    >>> angle_limit(get_recipe("small"))
    10.25
    """
    return float(recipe.tilt_limit_deg + recipe.label_step_deg)


def _check(recipe: AbfTiltRecipe, pattern: str, angles: Sequence[float], dose: float,
           nuisance: Iterable[str] | str) -> tuple[np.ndarray, tuple[str, ...]]:
    """(angles as an array, the nuisances in :data:`NUISANCES` order), or a ValueError saying what is allowed."""
    if pattern not in recipe.patterns:
        raise ValueError(f"pattern {pattern!r} is not a pattern of stem_abf_tilt/{recipe.name}; use one of "
                         f"{', '.join(recipe.patterns)}.")
    try:
        g = np.asarray(angles, dtype=float).reshape(3)
    except (TypeError, ValueError):
        raise ValueError(f"angles must be three numbers (alpha, beta, gamma) in deg, got {angles!r}.") from None
    limit = angle_limit(recipe)
    tilted = parse_pattern(pattern).tilted
    for ax, (value, t) in enumerate(zip(g, tilted)):
        if not np.isfinite(value) or (t and abs(value) > limit + 1e-9) or (not t and value != 0):
            raise ValueError(
                f"angles {tuple(g.tolist())} are outside stem_abf_tilt/{recipe.name}'s range: each tilted angle of "
                f"{pattern} must lie in [-{limit:g}, {limit:g}] deg (tilt limit {recipe.tilt_limit_deg:g} plus the GP "
                f"margin {recipe.label_step_deg:g}), untilted ones be 0.")
    if isinstance(dose, bool) or not isinstance(dose, (int, float, np.integer, np.floating)) or not np.isfinite(dose) \
            or dose <= 0:
        raise ValueError(f"dose must be a positive finite number of e/A^2, got {dose!r}.")
    names = (nuisance,) if isinstance(nuisance, str) else tuple(nuisance)
    unknown = [n for n in names if n not in NUISANCES]
    if unknown:
        raise ValueError(f"unknown nuisance {unknown[0]!r}; allowed: {', '.join(NUISANCES)}.")
    return g, tuple(n for n in NUISANCES if n in names)


def _layers(recipe: AbfTiltRecipe, thicknesses_nm: Iterable[float]) -> list[int]:
    a0 = recipe.lattice_constant
    out = []
    for t in thicknesses_nm:
        if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) or not np.isfinite(t) or t <= 0:
            raise ValueError(f"thickness_nm must be a positive finite number, got {t!r}.")
        n = layers_for_thickness(float(t), a0)
        if n < 2:
            raise ValueError(f"thickness {t} nm is under two [1-10] layers ({recipe.thickness_nm(2):.2f} nm): the "
                             f"thickness derivative needs the exit planes on both sides.")
        out.append(n)
    return out


# ---- images on the crop ----------------------------------------------------------------------------------------

def _crop_series(recipe: AbfTiltRecipe, period_image: np.ndarray, period: tuple[float, float], fwhm: float,
                 kind: str = "image") -> np.ndarray:
    """The crop of :func:`~stem_datasets.builders.stem_abf_tilt.recipe.to_dataset_image` (float64), blurred by a Gaussian of ``fwhm`` [A].

    ``kind``: "image", "dx", "dy" (derivatives per A) or "dfwhm" (per A of source FWHM). Crop pixel
    (i, j) sits at (x, y) = (j, i) x pixel_size from the period's origin.
    """
    ny, nx = period_image.shape
    c = np.fft.fft2(np.asarray(period_image, dtype=np.float64)) / period_image.size
    ky = np.fft.fftfreq(ny, d=1.0 / ny)[:, None]
    kx = np.fft.fftfreq(nx, d=1.0 / nx)[None, :]
    qy, qx = ky / period[1], kx / period[0]  # spatial frequencies [1/A]
    q2 = qx**2 + qy**2
    sigma = fwhm / _FWHM_PER_SIGMA
    c = c * np.exp(-2 * np.pi**2 * sigma**2 * q2)
    if kind == "dx":
        c = c * (2j * np.pi * qx)
    elif kind == "dy":
        c = c * (2j * np.pi * qy)
    elif kind == "dfwhm":
        c = c * (-4 * np.pi**2 * sigma * q2 / _FWHM_PER_SIGMA)
    elif kind != "image":
        raise ValueError(f"unknown kind {kind!r}.")
    h, w = recipe.crop_shape()
    y = np.arange(h) * recipe.pixel_size / period[1]
    x = np.arange(w) * recipe.pixel_size / period[0]
    ey = np.exp(2j * np.pi * np.outer(y, ky[:, 0]))
    ex = np.exp(2j * np.pi * np.outer(x, kx[0]))
    return np.real(ey @ c @ ex.T)


def dataset_crop(recipe: AbfTiltRecipe, period_image: np.ndarray, angles, pattern: str, fwhm: float = 0.0) -> np.ndarray:
    """The dataset crop (crop_h, crop_w) of a one-period ABF image at ``angles``, optionally source-blurred.

    The same numbers as :func:`~stem_datasets.builders.stem_abf_tilt.recipe.to_dataset_image` cut at
    :func:`~stem_datasets.builders.stem_abf_tilt.recipe.margin_px` (in float64):

    >>> from stem_datasets.builders.stem_abf_tilt.recipe import margin_px, to_dataset_image
    >>> r, img = get_recipe("smoke"), np.random.default_rng(0).random((40, 32))
    >>> period = projected_period((6, 4, 3), "a-b-c-", "SrTiO3")
    >>> (my, mx), (h, w) = margin_px(r), r.crop_shape()
    >>> ref = to_dataset_image(r, img, period)[my:my + h, mx:mx + w, 0]
    >>> bool(np.allclose(dataset_crop(r, img, (6, 4, 3), "a-b-c-"), ref, atol=1e-5))
    True
    """
    return _crop_series(recipe, period_image, projected_period(angles, pattern, recipe.composition), fwhm)


# ---- multislice ------------------------------------------------------------------------------------------------

def _stack(recipe: AbfTiltRecipe, pattern: str, angles, layers: Sequence[int], microscope: Microscope,
           cache: SimulationCache) -> np.ndarray:
    """(layer, y, x) one-period ABF images (nominal ABF range) of one static multislice run."""
    run = Run("limits", pattern, tuple(float(a) for a in angles), recipe.composition, microscope, tuple(layers), "limits")
    return simulate_run(run, cache).abf_image(*recipe.microscope.abf_detector)


def _fishers(recipe: AbfTiltRecipe, pattern: str, angles: np.ndarray, thicknesses_nm: Sequence[float],
             nuisances: tuple[str, ...], dose: float, cache: SimulationCache) -> list[Fisher]:
    """One :class:`Fisher` per thickness, from one set of runs whose exit planes cover them all."""
    centres = _layers(recipe, thicknesses_nm)
    layers = tuple(sorted({m for n in centres for m in (n - 1, n, n + 1)}))
    index = {n: k for k, n in enumerate(layers)}
    m0 = recipe.microscope
    fwhm = SOURCE_FWHM_A if "source_size" in nuisances else 0.0
    limit = angle_limit(recipe)
    a0 = get_composition(recipe.composition).lattice_constant
    layer_nm = np.sqrt(2.0) * a0 / 10

    def crops(g, stack):
        period = projected_period(g, pattern, recipe.composition)
        return {n: _crop_series(recipe, stack[index[n]], period, fwhm) for n in centres}

    nominal = _stack(recipe, pattern, angles, layers, m0, cache)
    period0 = projected_period(angles, pattern, recipe.composition)
    derivs: dict[str, dict[int, np.ndarray]] = {}  # parameter -> layer -> d I / d parameter
    names: list[str] = []
    axes = tuple(ax for ax, t in enumerate(parse_pattern(pattern).tilted) if t)
    base = crops(angles, nominal)
    for ax in axes:
        name = ("alpha", "beta", "gamma")[ax]
        plus, minus = angles.copy(), angles.copy()
        plus[ax] += ANGLE_STEP_DEG
        minus[ax] -= ANGLE_STEP_DEG
        up = crops(plus, _stack(recipe, pattern, plus, layers, m0, cache)) if plus[ax] <= limit + 1e-9 else base
        down = crops(minus, _stack(recipe, pattern, minus, layers, m0, cache)) if minus[ax] >= -limit - 1e-9 else base
        step = (plus[ax] if up is not base else angles[ax]) - (minus[ax] if down is not base else angles[ax])
        derivs[name] = {n: (up[n] - down[n]) / step for n in centres}
        names.append(name)
    if "thickness" in nuisances:
        derivs["thickness"] = {
            n: (_crop_series(recipe, nominal[index[n + 1]], period0, fwhm)
                - _crop_series(recipe, nominal[index[n - 1]], period0, fwhm)) / (2 * layer_nm)
            for n in centres
        }
        names.append("thickness")
    if "defocus" in nuisances:
        up = crops(angles, _stack(recipe, pattern, angles, layers, m0.replace(defocus=m0.defocus + DEFOCUS_STEP_A), cache))
        down = crops(angles, _stack(recipe, pattern, angles, layers, m0.replace(defocus=m0.defocus - DEFOCUS_STEP_A), cache))
        derivs["defocus"] = {n: (up[n] - down[n]) / (2 * DEFOCUS_STEP_A) for n in centres}
        names.append("defocus")
    if "astigmatism" in nuisances:
        if m0.C12:
            raise ValueError("the astigmatism derivative is taken about C12 = 0; this config's microscope has C12 != 0.")
        for label, phi in (("astigmatism_0", 0.0), ("astigmatism_45", np.pi / 4)):
            # C12 along phi12 and along phi12 + 90 deg (the same component with the opposite sign)
            up = crops(angles, _stack(recipe, pattern, angles, layers, m0.replace(C12=ASTIGMATISM_STEP_A, phi12=phi), cache))
            down = crops(angles, _stack(recipe, pattern, angles, layers,
                                        m0.replace(C12=ASTIGMATISM_STEP_A, phi12=phi + np.pi / 2), cache))
            derivs[label] = {n: (up[n] - down[n]) / (2 * ASTIGMATISM_STEP_A) for n in centres}
            names.append(label)
    h, w = recipe.crop_shape()
    x = np.arange(w)[None, :] * recipe.pixel_size
    y = np.arange(h)[:, None] * recipe.pixel_size
    x0, y0 = (w - 1) / 2 * recipe.pixel_size, (h - 1) / 2 * recipe.pixel_size
    if "shift" in nuisances or "magnification" in nuisances:
        dx = {n: _crop_series(recipe, nominal[index[n]], period0, fwhm, "dx") for n in centres}
        dy = {n: _crop_series(recipe, nominal[index[n]], period0, fwhm, "dy") for n in centres}
        if "shift" in nuisances:
            derivs["shift_x"], derivs["shift_y"] = dx, dy
            names += ["shift_x", "shift_y"]
        if "magnification" in nuisances:
            derivs["magnification_x"] = {n: (x - x0) * dx[n] for n in centres}
            derivs["magnification_y"] = {n: (y - y0) * dy[n] for n in centres}
            names += ["magnification_x", "magnification_y"]
    if "source_size" in nuisances:
        derivs["source_size"] = {n: _crop_series(recipe, nominal[index[n]], period0, fwhm, "dfwhm") for n in centres}
        names.append("source_size")

    pixel_area = recipe.pixel_size**2
    out = []
    for n in centres:
        intensity = base[n]
        if np.any(intensity <= 0):
            raise ValueError("the ABF image has non-positive pixels: no Poisson model there.")
        j = np.stack([derivs[p][n].ravel() for p in names])  # d I / d parameter
        matrix = dose * pixel_area * (j / intensity.ravel()) @ j.T  # (d lambda)^2 / lambda, lambda = dose * area * I
        out.append(Fisher(matrix, tuple(names), axes))
    return out


# ---- public ----------------------------------------------------------------------------------------------------

def fisher_information(pattern: str, angles, thickness_nm: float, dose: float,
                       nuisance: Iterable[str] | str = DEFAULT_NUISANCE, config: str = "small",
                       cache: SimulationCache | None = None) -> Fisher:
    """The :class:`Fisher` information of one dataset crop (arguments as :func:`tilt_crb`).

    >>> f = fisher_information("a-b-c-", (6, 4, 3), 1.1, 1e4, config="smoke")  # doctest: +SKIP
    >>> f.names  # doctest: +SKIP
    ('alpha', 'beta', 'gamma', 'thickness', 'defocus')
    """
    recipe = _recipe(config)
    g, nuisances = _check(recipe, pattern, angles, dose, nuisance)
    return _fishers(recipe, pattern, g, [thickness_nm], nuisances, float(dose), cache or SimulationCache())[0]


def tilt_crb_thicknesses(pattern: str, angles, thicknesses_nm: Sequence[float], dose: float,
                         nuisance: Iterable[str] | str = DEFAULT_NUISANCE, config: str = "small",
                         cache: SimulationCache | None = None) -> list[dict[str, float]]:
    """:func:`tilt_crb` at several thicknesses from one set of runs (exit planes): one dict per thickness.

    >>> tilt_crb_thicknesses("a-b-c-", (6, 4, 3), [1.1, 1.7], 1e4, config="smoke")  # doctest: +SKIP
    """
    recipe = _recipe(config)
    g, nuisances = _check(recipe, pattern, angles, dose, nuisance)
    thicknesses = list(thicknesses_nm)
    if not thicknesses:
        raise ValueError("thicknesses_nm is empty.")
    return [f.bounds() for f in _fishers(recipe, pattern, g, thicknesses, nuisances, float(dose),
                                          cache or SimulationCache())]


def tilt_crb(pattern: str, angles, thickness_nm: float, dose: float,
             nuisance: Iterable[str] | str = DEFAULT_NUISANCE, config: str = "small",
             cache: SimulationCache | None = None) -> dict[str, float]:
    """Cramer-Rao bound [deg] of the tilt angles from one ``stem_abf_tilt/<config>`` crop.

    ``angles`` (alpha, beta, gamma) [deg] of ``pattern`` (one of the config's), ``thickness_nm`` (rounded to
    whole [1-10] layers), ``dose`` [e/A^2]; ``nuisance``: the unknown parameters besides the angles, any of
    :data:`NUISANCES`. Returns the bound of each of :data:`COMBINATIONS`. About 7 multislice runs (+4 with
    astigmatism) the first time, cached in ``cache`` (default :class:`SimulationCache`). A run's cache key names its
    exit planes (the layers around each thickness asked for): :func:`tilt_crb_thicknesses` with one list of thicknesses
    reuses the runs of an earlier call with the same list (the card's: 4.4, 8.8, 15.5 nm), not those of another.

    >>> tilt_crb("a-b-c-", (6, 4, 3), 1.1, 1e4, config="smoke")["alpha"]  # doctest: +SKIP
    >>> tilt_crb("a-b-c-", (6, 4, 3), 8.8, -1.0)
    Traceback (most recent call last):
    ...
    ValueError: dose must be a positive finite number of e/A^2, got -1.0.
    """
    return tilt_crb_thicknesses(pattern, angles, [thickness_nm], dose, nuisance, config, cache)[0]


def _dose_label(dose: float) -> str:
    return f"{dose:.0e}".replace("e+0", "e").replace("e+", "e") if dose >= 1e3 else f"{dose:g}"


def _nuisance_label(nuisances: Sequence[str]) -> str:
    return " + ".join(nuisances) if nuisances else "none"


def crb_table(config: str = "small", doses: Sequence[float] = (1e3, 1e4, 1e5),
              nuisance_sets: Sequence[Sequence[str]] = (DEFAULT_NUISANCE,
                                                        ("thickness", "defocus", "shift", "magnification")),
              patterns: Sequence[str] | None = None, thicknesses_nm: Sequence[float] = (4.4, 8.8, 15.5),
              angles: dict[str, tuple[float, float, float]] | None = None,
              cache: SimulationCache | None = None) -> list[str]:
    """Markdown lines: one table per pattern and thickness, rows :data:`COMBINATIONS`, columns dose x nuisance set.

    Each (pattern, nuisance set) is computed once at one dose (bounds scale as dose^-1/2) and once for
    every thickness (exit planes). ``angles``: pattern -> the point (default :data:`REPRESENTATIVE_ANGLES`).

    >>> print("\\n".join(crb_table("smoke", [1e4], [["thickness"]], thicknesses_nm=[1.1])))  # doctest: +SKIP
    """
    recipe = _recipe(config)
    patterns = list(patterns or recipe.patterns)
    doses = [float(d) for d in doses]
    if not doses:
        raise ValueError("doses is empty.")
    points = {**REPRESENTATIVE_ANGLES, **(angles or {})}
    cache = cache or SimulationCache()
    layers = _layers(recipe, thicknesses_nm)
    lines = [f"Cramer-Rao bound [deg] of the tilt angles from one {recipe.crop_shape()[0]} x {recipe.crop_shape()[1]} px "
             f"crop of stem_abf_tilt/{recipe.name} (Poisson noise, static multislice, ABF "
             f"{recipe.microscope.abf_detector[0]:g}-{recipe.microscope.abf_detector[1]:g} mrad); columns: dose "
             f"[e/A^2], unknown nuisances.", ""]
    for pattern in patterns:
        if pattern not in recipe.patterns:
            raise ValueError(f"pattern {pattern!r} is not a pattern of stem_abf_tilt/{recipe.name}; use one of "
                             f"{', '.join(recipe.patterns)}.")
        if pattern not in points:
            raise ValueError(f"no representative angles for {pattern}; pass angles={{{pattern!r}: (a, b, g)}}.")
        results = [tilt_crb_thicknesses(pattern, points[pattern], thicknesses_nm, 1.0, s, config, cache)
                   for s in nuisance_sets]
        for k, n in enumerate(layers):
            g = points[pattern]
            lines += [f"**{pattern} at ({g[0]:g}, {g[1]:g}, {g[2]:g}) deg, {recipe.thickness_nm(n):.2f} nm**", "",
                      "| bound [deg] | " + " | ".join(f"{_dose_label(d)}, {_nuisance_label(s)}" for d in doses for s in nuisance_sets) + " |",
                      "| --- |" + " --- |" * (len(doses) * len(nuisance_sets))]
            for name in COMBINATIONS:
                cells = [f"{r[k][name] / np.sqrt(d):#.3g}" for d in doses for r in results]
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
            lines.append("")
    return lines

"""Register a 4D-STEM scan across a LaAlO3/SrTiO3 interface to the lattice, from its ADF signal.

A microscopist places CBED patterns on the lattice with the annular dark-field (ADF) image
recorded at the same time: the columns it shows fix where the scan landed.
:func:`fit_scan_offset` fits the ADF of a raster of lines with Gaussian columns at the
positions of the nominal interface (TiO2-terminated SrTiO3, LaAlO3 film planes c/2
apart; one brightness per column kind, a common width and a background, solved by least
squares) over the scan's offset: ``dx`` of the scan start from the terminating TiO2 plane
and ``y0`` of line 0 from the A columns. :func:`register_scan` then interpolates every
line's patterns onto the model's positions (a cubic spline along x, which needs a scan
denser than the model's: ``InterfaceScan.oversample``) and rolls the lines so that line 0
is the one nearest the A columns. With at least seven lines per cell their average is the
cell average whatever y0 is (the probe passes no spatial frequency above 2 alpha / lambda,
1.6 / A at 200 kV and 20 mrad), so y is not interpolated.

The offset must be known to within half a plane spacing (~0.9 A) beforehand, as from a
survey image: ``max_dx``.

Example:
    >>> import numpy as np
    >>> x, y = np.linspace(-0.8, 6.7, 19), np.arange(8) * 3.905 / 8
    >>> adf = column_image(x + 0.2, y + 1.0, sigma=0.45)  # a scan 0.2 A and 1.0 A off
    >>> fit = fit_scan_offset(adf, x, y)
    >>> round(fit.dx, 2), round(fit.y0, 2)
    (0.2, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stem_datasets.physics.structures import COMPOSITIONS, LAO_FILM_C

A_SUBSTRATE = COMPOSITIONS["SrTiO3"].lattice_constant
# (kind, plane x from the terminating TiO2 plane, y of the column within the cell) for one period in y
KINDS = ("Sr", "Ti-O", "La", "Al-O", "O")


def interface_columns(a: float = A_SUBSTRATE, c: float = LAO_FILM_C, planes: tuple[int, int] = (4, 6)) -> list[tuple[str, float, float]]:
    """Projected columns (kind, x, y) of the nominal interface, ``planes`` = (substrate, film) planes kept.

    TiO2 (Ti-O at y = a/2, O at 0) and SrO (Sr at 0, O at a/2) planes a/2 apart below the
    terminating TiO2 plane (x = 0); LaO (La at 0) and AlO2 (Al-O at a/2) planes c/2 apart above.

    >>> interface_columns(planes=(1, 1))
    [('Ti-O', 0.0, 1.9525), ('O', 0.0, 0.0), ('La', 1.875, 0.0), ('O', 1.875, 1.9525)]
    """
    columns = []
    for m in range(planes[0]):
        x = -m * a / 2
        columns += [("Ti-O", x, a / 2), ("O", x, 0.0)] if m % 2 == 0 else [("Sr", x, 0.0), ("O", x, a / 2)]
    for n in range(1, planes[1] + 1):
        x = n * c / 2
        columns += [("La", x, 0.0), ("O", x, a / 2)] if n % 2 == 1 else [("Al-O", x, a / 2), ("O", x, 0.0)]
    return columns


def _basis(x: np.ndarray, y: np.ndarray, sigma: float, a: float, c: float) -> np.ndarray:
    """(points, kinds + 1): each kind's Gaussian columns at the points (x, y), and a constant."""
    gx, gy = np.meshgrid(x, y)  # (lines, positions)
    basis = np.zeros((gx.size, len(KINDS) + 1))
    for kind, cx, cy in interface_columns(a, c):
        dy = (gy - cy + a / 2) % a - a / 2  # periodic in y
        basis[:, KINDS.index(kind)] += np.exp(-((gx - cx) ** 2 + dy ** 2) / (2 * sigma ** 2)).ravel()
    basis[:, -1] = 1.0
    return basis


def column_image(x: np.ndarray, y: np.ndarray, sigma: float = 0.45, a: float = A_SUBSTRATE, c: float = LAO_FILM_C,
                 brightness: dict[str, float] | None = None) -> np.ndarray:
    """A model ADF (len(y), len(x)) of the nominal interface at lattice coordinates x, y [A] (for tests)."""
    weights = brightness or {"Sr": 0.6, "Ti-O": 0.4, "La": 1.0, "Al-O": 0.3, "O": 0.1}
    coefficients = np.array([weights[k] for k in KINDS] + [0.05])
    return (_basis(np.asarray(x, float), np.asarray(y, float), sigma, a, c) @ coefficients).reshape(len(y), len(x))


@dataclass(frozen=True)
class ScanOffset:
    """Where a scan sits on the lattice: dx [A] of its x = 0 from the terminating TiO2 plane, y0 [A] of line 0
    from the A columns (in [0, a)), the fitted column width [A] and the fit's relative rms residual."""

    dx: float
    y0: float
    sigma: float
    relative_rms: float


def _misfit(adf: np.ndarray, x, y, dx, y0, sigma, a, c) -> float:
    basis = _basis(x + dx, y + y0, sigma, a, c)
    coefficients, *_ = np.linalg.lstsq(basis, adf.ravel(), rcond=None)
    return float(np.sum((basis @ coefficients - adf.ravel()) ** 2))


def fit_scan_offset(adf, x, y, a: float = A_SUBSTRATE, c: float = LAO_FILM_C, max_dx: float = 0.6,
                    sigma: float = 0.45) -> ScanOffset:
    """The offset (dx, y0) that puts the nominal interface's columns on the ADF of a raster.

    ``adf`` is (lines, positions) at nominal positions ``x`` (along the scan, from where the
    scan believes the terminating TiO2 plane is) and ``y`` (lines) [A]. A grid search over
    |dx| <= ``max_dx`` and y0 in [0, a), then a local refinement of (dx, y0, sigma).
    """
    from scipy.optimize import minimize

    adf, x, y = np.asarray(adf, float), np.asarray(x, float), np.asarray(y, float)
    if adf.shape != (len(y), len(x)) or len(x) < 4:
        raise ValueError(f"adf must be (lines, positions) = ({len(y)}, {len(x)}) with at least 4 positions, got {adf.shape}.")
    if not np.all(np.isfinite(adf)):
        raise ValueError("the ADF signal contains NaN or inf; registration needs a finite image.")
    if np.ptp(adf) <= 0:
        raise ValueError("the ADF signal is flat: no columns to register the scan to.")
    grid = [(_misfit(adf, x, y, dx, y0, sigma, a, c), dx, y0)
            for dx in np.arange(-max_dx, max_dx + 1e-9, 0.05) for y0 in np.arange(0.0, a, a / 32)]
    _, dx0, y00 = min(grid)
    start = np.array([dx0, y00, sigma])
    result = minimize(lambda p: _misfit(adf, x, y, p[0], p[1], abs(p[2]), a, c), x0=start, method="Nelder-Mead",
                      options={"xatol": 1e-3, "fatol": 1e-12, "maxiter": 400,
                               "initial_simplex": [start, start + [0.05, 0, 0], start + [0, 0.05, 0], start + [0, 0, 0.05]]})
    dx, y0, width = result.x
    return ScanOffset(dx=float(dx), y0=float(y0 % a), sigma=float(abs(width)),
                      relative_rms=float(np.sqrt(result.fun / adf.size) / adf.std()))


@dataclass(frozen=True)
class RegisteredScan:
    """Patterns on the model's positions: ``cbed`` (lines, positions, ky, kx), ``lines_y`` the y of each
    (rolled) line from the A columns [A], and the fitted ``offset``."""

    cbed: np.ndarray
    lines_y: np.ndarray
    offset: ScanOffset

    def cell_average(self) -> np.ndarray:
        """The patterns averaged over the lines (positions, ky, kx)."""
        return self.cbed.mean(axis=0)


def register_scan(cbed, adf, x, y, model_x, a: float = A_SUBSTRATE, c: float = LAO_FILM_C,
                  max_dx: float = 0.6) -> RegisteredScan:
    """Fit the scan's offset from ``adf`` and resample ``cbed`` (lines, positions, ky, kx) onto ``model_x``.

    ``x`` and ``y`` are the raster's nominal positions [A] (``y`` evenly spaced over one cell);
    ``model_x`` the positions [A] from the terminating TiO2 plane the model reads, which the
    registered scan must cover.
    """
    from scipy.interpolate import CubicSpline

    cbed = np.asarray(cbed, np.float32)
    x, y, model_x = (np.asarray(v, float) for v in (x, y, model_x))
    if cbed.shape[:2] != (len(y), len(x)):
        raise ValueError(f"cbed must be (lines, positions, ky, kx) with (lines, positions) = ({len(y)}, {len(x)}), got {cbed.shape}.")
    offset = fit_scan_offset(adf, x, y, a, c, max_dx)
    true_x = x + offset.dx
    if model_x.min() < true_x.min() - 1e-6 or model_x.max() > true_x.max() + 1e-6:
        raise ValueError(f"the registered scan covers x = {true_x.min():.2f} to {true_x.max():.2f} A from the interface, "
                         f"not the model's {model_x.min():.2f} to {model_x.max():.2f} A: scan past both ends.")
    resampled = np.maximum(CubicSpline(true_x, cbed, axis=1)(model_x), 0.0).astype(np.float32)
    spacing = a / len(y)
    roll = int(round(offset.y0 / spacing)) % len(y)
    lines_y = (y + offset.y0) % a
    # line j of the registered scan is the raw line nearest y = j * spacing
    order = (np.arange(len(y)) - roll) % len(y)
    return RegisteredScan(cbed=resampled[order], lines_y=lines_y[order], offset=offset)

"""Gaussian-process surrogate that expands a coarse grid of multislice images to any angle.

A multi-output scikit-learn ``GaussianProcessRegressor`` (Matern nu=1.5 with one length
scale per tilted angle, a white-noise term for frozen-phonon noise, random optimizer
restarts) maps the tilt angles to every pixel of the one-period images, as in the seed
paper (Methods 3.1). The output may be a whole stack (every thickness and detector at
once): all outputs share the kernel hyper-parameters. The centred training outputs are
first written in their own principal components (an exact change of basis: n training
images span at most n directions), so the GP fits n coefficients instead of every pixel;
only the hyper-parameter search sees the difference (its log-determinant term counts n
outputs, not the pixel count). :meth:`TiltSurrogate.on_grid` evaluates the predicted images
straight on a resampled pixel grid (:class:`GridPrediction`), ~100x faster than
``imaging.resample_periodic`` of :meth:`TiltSurrogate.predict`'s images, to ~1e-6 of the range.

Example:
    >>> import numpy as np
    >>> grid = np.array([[a, 0.0, c] for a in (-10, 0, 10) for c in (-10, 0, 10)])
    >>> images = np.stack([np.full((2, 2), 0.5 + 0.01 * a + 0.001 * c) for a, _, c in grid])
    >>> gp = TiltSurrogate("a-b0c-", n_restarts=1).fit(grid, images)
    >>> mean, std = gp.predict(np.array([[10.0, 0.0, 0.0]]))  # a training point comes back
    >>> round(float(mean[0, 0, 0]), 3)
    0.6
"""

from __future__ import annotations

import numpy as np
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from stem_datasets.physics.glazer import parse_pattern
from stem_datasets.simulation.imaging import fourier_matrix, nyquist_padded


class TiltSurrogate:
    """GP from (alpha, beta, gamma) [deg] to an image, for one pattern and thickness.

    Predictions are refused outside the fitted range widened by ``margin_deg`` on each
    tilted axis (the seed paper found the posterior reliable to 11.25 deg from a
    +-10 deg grid, a 1.25 deg margin).
    """

    def __init__(self, pattern: str, n_restarts: int = 5, margin_deg: float = 1.25, seed: int = 0):
        self.pattern = parse_pattern(pattern)
        self.axes = [n for n, tilted in enumerate(self.pattern.tilted) if tilted]
        self.n_restarts = int(n_restarts)
        self.margin_deg = float(margin_deg)
        self.seed = int(seed)
        self.gp: GaussianProcessRegressor | None = None

    def _inputs(self, angles: np.ndarray) -> np.ndarray:
        angles = np.asarray(angles, dtype=float)
        if angles.ndim != 2 or angles.shape[1] != 3:
            raise ValueError(f"angles must have shape (n, 3) = (alpha, beta, gamma), got {angles.shape}.")
        if not np.all(np.isfinite(angles)):
            raise ValueError("angles contain NaN or infinite values.")
        fixed = [n for n in range(3) if n not in self.axes]
        if fixed and np.any(angles[:, fixed] != 0):
            raise ValueError(f"pattern {self.pattern.symbol!r} has no tilt about axes {fixed}; those angles must be 0.")
        return angles[:, self.axes]

    def fit(self, angles: np.ndarray, images: np.ndarray) -> "TiltSurrogate":
        """Fit to multislice ``images`` (n, ...) simulated at ``angles`` (n, 3)."""
        x = self._inputs(angles)
        images = np.asarray(images, dtype=np.float64)
        if images.ndim < 2 or len(images) != len(x):
            raise ValueError(f"images must be (n, ...) with n = {len(x)}, got {images.shape}.")
        if not np.all(np.isfinite(images)):
            raise ValueError("training images contain NaN or infinite values.")
        self.shape = images.shape[1:]
        y = images.reshape(len(images), -1)
        self.mean_ = y.mean(axis=0)
        _, singular, self.basis_ = np.linalg.svd(y - self.mean_, full_matrices=False)
        coefficients = (y - self.mean_) @ self.basis_.T
        self.pixel_norm_ = np.sqrt(np.sum(self.basis_**2, axis=0))
        self.scale_ = float(np.std(coefficients)) or 1.0
        self.gp = self._regressor(self._kernel())
        self.gp.fit(x, coefficients / self.scale_)
        self.low_ = x.min(axis=0) - self.margin_deg
        self.high_ = x.max(axis=0) + self.margin_deg
        return self

    def _kernel(self):
        return ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
            length_scale=np.full(len(self.axes), 10.0), length_scale_bounds=(0.5, 200.0), nu=1.5
        ) + WhiteKernel(1e-4, (1e-10, 1e-1))

    def _regressor(self, kernel) -> GaussianProcessRegressor:
        return GaussianProcessRegressor(kernel, normalize_y=False, n_restarts_optimizer=self.n_restarts, random_state=self.seed)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The fitted state as plain arrays (a cache entry: no pickle); :meth:`from_arrays` restores it."""
        if self.gp is None:
            raise RuntimeError("TiltSurrogate.to_arrays called before fit.")
        gp = self.gp
        return {
            "pattern": np.array(self.pattern.symbol), "n_restarts": np.array(self.n_restarts),
            "margin_deg": np.array(self.margin_deg), "seed": np.array(self.seed), "shape": np.array(self.shape),
            "mean": self.mean_, "basis": self.basis_, "pixel_norm": self.pixel_norm_, "scale": np.array(self.scale_),
            "low": self.low_, "high": self.high_, "theta": gp.kernel_.theta, "x_train": gp.X_train_,
            "y_train": gp.y_train_, "alpha": gp.alpha_, "cholesky": gp.L_, "y_mean": gp._y_train_mean,
            "y_std": gp._y_train_std, "log_marginal_likelihood": np.array(gp.log_marginal_likelihood_value_),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "TiltSurrogate":
        """The surrogate :meth:`to_arrays` wrote, predicting exactly as the fitted one (no refit).

        >>> grid = np.array([[a, 0.0, c] for a in (-10, 0, 10) for c in (-10, 0, 10)])
        >>> gp = TiltSurrogate("a-b0c-", n_restarts=1).fit(grid, np.random.default_rng(0).random((9, 2, 2)))
        >>> again = TiltSurrogate.from_arrays(gp.to_arrays())
        >>> bool(np.array_equal(again.predict(grid[:2])[0], gp.predict(grid[:2])[0]))
        True
        """
        out = cls(str(arrays["pattern"]), int(arrays["n_restarts"]), float(arrays["margin_deg"]), int(arrays["seed"]))
        out.shape = tuple(int(n) for n in arrays["shape"])
        out.mean_, out.basis_, out.pixel_norm_ = arrays["mean"], arrays["basis"], arrays["pixel_norm"]
        out.scale_, out.low_, out.high_ = float(arrays["scale"]), arrays["low"], arrays["high"]
        kernel = out._kernel().clone_with_theta(arrays["theta"])
        gp = out._regressor(out._kernel())
        gp.kernel_, gp.X_train_, gp.y_train_ = kernel, arrays["x_train"], arrays["y_train"]
        gp.alpha_, gp.L_, gp._y_train_mean, gp._y_train_std = arrays["alpha"], arrays["cholesky"], arrays["y_mean"], arrays["y_std"]
        gp.log_marginal_likelihood_value_ = float(arrays["log_marginal_likelihood"])
        gp.n_features_in_ = gp.X_train_.shape[1]
        out.gp = gp
        return out

    def check_range(self, angles: np.ndarray) -> np.ndarray:
        """Tilted-axis inputs of ``angles``, or ValueError if any lies outside the fit."""
        if self.gp is None:
            raise RuntimeError("TiltSurrogate.predict called before fit.")
        x = self._inputs(angles)
        outside = np.any((x < self.low_ - 1e-9) | (x > self.high_ + 1e-9), axis=1)
        if np.any(outside):
            raise ValueError(
                f"{int(outside.sum())} angle triples lie outside the fitted range "
                f"{self.low_.tolist()} .. {self.high_.tolist()} deg (fit range +- {self.margin_deg} deg), "
                f"e.g. {np.asarray(angles)[outside][0].tolist()}; the GP is not reliable there."
            )
        return x

    def predict_coefficients(self, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean in principal components (n, k) and posterior std (n,): the images are
        ``coefficients @ basis_ + mean_`` with per-pixel std ``std * pixel_norm_`` (flattened pixels)."""
        x = self.check_range(angles)
        mean, std = self.gp.predict(x, return_std=True)
        coefficients = np.asarray(mean).reshape(len(x), -1) * self.scale_
        return coefficients, np.asarray(std).reshape(len(x), -1)[:, 0] * self.scale_  # the same for every coefficient

    def predict(self, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean images (n, ...) and per-pixel posterior std (n, ...)."""
        coefficients, sigma = self.predict_coefficients(angles)
        n = len(coefficients)
        images = coefficients @ self.basis_ + self.mean_
        return (images.reshape(n, *self.shape).astype(np.float32),
                (sigma[:, None] * self.pixel_norm_).reshape(n, *self.shape).astype(np.float32))

    def on_grid(
        self, angles: np.ndarray, periods_xy: np.ndarray, pixel_size: float, shape: tuple[int, int],
        start_xy: tuple[float, float] = (0.0, 0.0),
    ) -> "GridPrediction":
        """The posterior at ``angles`` (n, 3) straight on a pixel grid: ``imaging.resample_periodic`` of the
        predicted one-period images (the last two axes; x period ``periods_xy[:, 0]``, y period ``[:, 1]``),
        without forming them (:class:`GridPrediction`). The products are float32: errors ~1e-7 of the
        images' largest value (~1e-6 of the range of ABF images, whose contrast is tens of percent)."""
        return GridPrediction(self, angles, periods_xy, pixel_size, shape, start_xy)

    def _grid_basis(self) -> tuple[np.ndarray, np.ndarray]:
        """Once per fit: the Nyquist-padded basis with the mean as its last row (L, k + 1, p) per image L of a
        stack, float32; rms pixel_norm (L,)."""
        if getattr(self, "_grid_cache", None) is None or self._grid_cache[0] is not self.basis_:
            *lead, ny, nx = self.shape
            images = int(np.prod(lead, dtype=int))
            rows = np.concatenate([self.basis_, self.mean_[None]]).reshape(-1, images, ny, nx)
            basis = nyquist_padded(rows).reshape(len(rows), images, -1).transpose(1, 0, 2)
            norm = np.sqrt(np.mean(self.pixel_norm_.reshape(images, -1) ** 2, axis=1))
            self._grid_cache = (self.basis_, np.ascontiguousarray(basis, dtype=np.float32), norm)
        return self._grid_cache[1:]

    @property
    def kernel_(self) -> str:
        """The fitted kernel, as text."""
        return str(self.gp.kernel_) if self.gp is not None else "unfitted"


_BLAS = None


def _one_blas_thread():
    """Context: BLAS on one thread. The fast path's products are small; on a shared, busy machine
    waking a second BLAS thread costs more than the product (2-20x slower)."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


class GridPrediction:
    """GP images on a resampled pixel grid (:meth:`TiltSurrogate.on_grid`), made on demand.

    ``resample_periodic`` is separable and linear, so a grid image is
    ``Ry (mean + c @ basis) Rx^T`` with one pair of small real matrices per angle
    (:func:`~stem_datasets.simulation.imaging.fourier_matrix`): per image, a k-term sum on the
    one-period grid and two small float32 matrix products; no FFT, no complex numbers.

    >>> from stem_datasets.simulation.imaging import resample_periodic
    >>> grid = np.array([[0.0, 0.0, c] for c in (-10, -5, 0, 5, 10)])
    >>> rng = np.random.default_rng(0)
    >>> images = np.stack([np.cos(2 * np.pi * (np.arange(8) / 8 + c / 40))[:, None] + rng.random((8, 6)) * 0.01 for c in grid[:, 2]])
    >>> gp = TiltSurrogate("a0a0c-", n_restarts=0).fit(grid, images)
    >>> on = gp.on_grid(np.array([[0.0, 0.0, 2.0]]), np.array([[5.5, 7.8]]), 0.15, (20, 30), (-0.9, -0.6))
    >>> old = resample_periodic(gp.predict(np.array([[0.0, 0.0, 2.0]]))[0][0], (5.5, 7.8), 0.15, (20, 30), (-0.9, -0.6))
    >>> bool(np.abs(on.image(0) - old).max() < 1e-5 * np.ptp(old)), on.image(0).shape
    (True, (20, 30))
    """

    def __init__(
        self, surrogate: TiltSurrogate, angles: np.ndarray, periods_xy: np.ndarray, pixel_size: float,
        shape: tuple[int, int], start_xy: tuple[float, float] = (0.0, 0.0),
    ):
        angles = np.atleast_2d(np.asarray(angles, dtype=float))
        periods_xy = np.asarray(periods_xy, dtype=np.float64).reshape(-1, 2)
        if len(periods_xy) != len(angles):
            raise ValueError(f"need one (x, y) period per angle triple, got {periods_xy.shape} for {len(angles)}.")
        with _one_blas_thread():
            coefficients, self.sigma = surrogate.predict_coefficients(angles)
            self.coefficients = np.column_stack([coefficients, np.ones(len(coefficients))]).astype(np.float32)  # 1: the mean
            self.lead = tuple(surrogate.shape[:-2])
            self._entries = {tuple(int(v) for v in e): k for k, e in enumerate(np.ndindex(*self.lead))}
            self._basis, self._norm = surrogate._grid_basis()
            ny, nx = surrogate.shape[-2:]
            self.ry = fourier_matrix(ny, periods_xy[:, 1], pixel_size, shape[0], start_xy[1]).astype(np.float32)
            self.rx_t = np.ascontiguousarray(
                fourier_matrix(nx, periods_xy[:, 0], pixel_size, shape[1], start_xy[0]).transpose(0, 2, 1), dtype=np.float32)
        self.period_shape = (ny + 1, nx + 1)

    def __len__(self) -> int:
        return len(self.coefficients)

    def _flat(self, index: tuple[int, ...]) -> int:
        try:
            return self._entries[index]
        except KeyError:
            raise IndexError(f"stack entry {index} is not in a stack of shape {self.lead}.") from None

    def image(self, i: int, *index: int) -> np.ndarray:
        """Image (H, W) float32 of angle ``i``, stack entry ``index`` (e.g. detector, thickness)."""
        k = self._flat(index)
        period = (self.coefficients[i] @ self._basis[k]).reshape(self.period_shape)
        return (self.ry[i] @ period) @ self.rx_t[i]

    def images(self, *index: int) -> np.ndarray:
        """Images (n, H, W) float32 of every angle at stack entry ``index``."""
        k = self._flat(index)
        with _one_blas_thread():
            periods = (self.coefficients @ self._basis[k]).reshape(len(self), *self.period_shape)
            return np.matmul(np.matmul(self.ry, periods), self.rx_t)

    def stack(self, i: int) -> np.ndarray:
        """Every image (..., H, W) of angle ``i`` (the surrogate's stack, e.g. detector x thickness)."""
        with _one_blas_thread():
            periods = np.matmul(self.coefficients[i], self._basis).reshape(-1, *self.period_shape)
            rows = np.matmul(self.ry[i], periods)  # (L, H, nx + 1)
            out = rows.reshape(-1, rows.shape[-1]) @ self.rx_t[i]
        return out.reshape(*self.lead, self.ry.shape[1], self.rx_t.shape[2])

    def rms_std(self, i: int, *index: int) -> float:
        """Root-mean-square posterior std over the one-period pixels of angle ``i``, entry ``index``."""
        return float(self.sigma[i] * self._norm[self._flat(index)])

"""Gaussian-process surrogate that expands a coarse grid of multislice images to any angle.

A multi-output scikit-learn ``GaussianProcessRegressor`` (Matern nu=1.5 with one length
scale per tilted angle, a white-noise term for frozen-phonon noise, random optimizer
restarts) maps the tilt angles to every pixel of the one-period images, as in the seed
paper (Methods 3.1). The output may be a whole stack (every thickness and detector at
once): all outputs share the kernel hyper-parameters. The centred training outputs are
first written in their own principal components (an exact change of basis: n training
images span at most n directions), so the GP fits n coefficients instead of every pixel;
only the hyper-parameter search sees the difference (its log-determinant term counts n
outputs, not the pixel count).

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

from stem_datasets.glazer import parse_pattern


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

    def predict(self, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean images (n, ...) and per-pixel posterior std (n, ...)."""
        x = self.check_range(angles)
        mean, std = self.gp.predict(x, return_std=True)
        mean = np.asarray(mean).reshape(len(x), -1)
        sigma = np.asarray(std).reshape(len(x), -1)[:, :1] * self.scale_  # the same for every coefficient
        images = (mean * self.scale_) @ self.basis_ + self.mean_
        return (images.reshape(len(x), *self.shape).astype(np.float32),
                (sigma * self.pixel_norm_).reshape(len(x), *self.shape).astype(np.float32))

    @property
    def kernel_(self) -> str:
        """The fitted kernel, as text."""
        return str(self.gp.kernel_) if self.gp is not None else "unfitted"

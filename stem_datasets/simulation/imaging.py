"""Resampling one simulated projected period onto a fixed pixel grid, tiled periodically.

A multislice scan over exactly one period (``endpoint=False``) samples a periodic image,
so its discrete Fourier series is the band-limited interpolant: evaluating it on any
grid resamples and tiles in one exact step (no edge effects, no interpolation kernel).
The same series is separable: :func:`fourier_matrix` gives per axis the real matrix that
evaluates it, so many images of one period go through two small products each.

Example:
    >>> import numpy as np
    >>> y, x = np.mgrid[0:8, 0:6]
    >>> period = np.cos(2 * np.pi * x / 6) + np.sin(2 * np.pi * y / 8)
    >>> big = resample_periodic(period, period_xy=(6.0, 8.0), pixel_size=0.5, shape=(32, 24))
    >>> bool(np.allclose(big[::2, ::2][:8, :6], period, atol=1e-6))
    True
"""

from __future__ import annotations

import numpy as np
from scipy.stats import poisson


def resample_periodic(
    image: np.ndarray, period_xy: tuple[float, float], pixel_size: float, shape: tuple[int, int],
    start_xy: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Evaluate the Fourier series of a one-period ``image`` (rows y, columns x).

    ``period_xy`` is the physical (x, y) size of the period [A]; the output has
    ``shape`` (rows, columns) pixels of ``pixel_size`` A, pixel (0, 0) at ``start_xy`` [A]
    from the period's origin.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D (y, x), got shape {image.shape}.")
    if not np.all(np.isfinite(image)):
        raise ValueError("image contains NaN or infinite values.")
    if pixel_size <= 0 or any(p <= 0 for p in period_xy):
        raise ValueError(f"pixel_size and period must be positive, got {pixel_size}, {period_xy}.")
    ny, nx = image.shape
    coefficients = np.fft.fft2(image) / image.size
    ky = np.fft.fftfreq(ny, d=1.0 / ny)
    kx = np.fft.fftfreq(nx, d=1.0 / nx)
    y = (start_xy[1] + np.arange(shape[0]) * pixel_size) / period_xy[1]
    x = (start_xy[0] + np.arange(shape[1]) * pixel_size) / period_xy[0]
    ey = np.exp(2j * np.pi * np.outer(y, ky))
    ex = np.exp(2j * np.pi * np.outer(x, kx))
    return np.real(ey @ coefficients @ ex.T).astype(np.float32)


def poisson_image(clean: np.ndarray, dose: float, pixel_size: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson counts of an intensity image (fraction of the probe) at ``dose`` e-/A^2, back as a fraction.

    Counts per pixel have mean ``dose * pixel_size**2 * clean``. They are drawn by inverting the
    Poisson CDF at one uniform number per pixel, so the random stream does not depend on the
    image (numpy's own sampler takes a value-dependent number of draws per pixel): a ~1e-6
    difference between two builds' clean images moves a pixel by at most about one count.

    >>> noisy = poisson_image(np.full((64, 64), 0.5), 1e4, 0.15, np.random.default_rng(0))
    >>> round(float(noisy.mean()), 2), round(float(noisy.std() / np.sqrt(0.5 / (1e4 * 0.15**2))), 1)  # Poisson std
    (0.5, 1.0)
    """
    if not (np.isfinite(dose) and dose > 0):
        raise ValueError(f"dose must be a positive number of electrons per A^2, got {dose}.")
    electrons = dose * pixel_size**2
    expected = np.clip(np.asarray(clean, dtype=np.float64), 0, None) * electrons
    counts = np.maximum(poisson.ppf(rng.random(expected.shape), expected), 0)  # ppf(0) is -1
    return (counts / electrons).astype(np.float32)


def fourier_matrix(n: int, periods: np.ndarray, pixel_size: float, count: int, start: float = 0.0) -> np.ndarray:
    """Real matrices (m, count, n + 1) that evaluate :func:`resample_periodic`'s Fourier series along one axis.

    ``n`` samples of one period per period in ``periods`` (m,) [A], evaluated at ``count``
    positions ``start + i pixel_size`` [A]. :func:`resample_periodic` is separable:
    ``Re(Ey C Ex^T) = Re(Ay) f Re(Ax)^T - Im(Ay) f Im(Ax)^T`` with ``A = E DFT / n``; the
    real part is a Dirichlet kernel and, for even ``n``, the imaginary part is rank one (the
    unpaired Nyquist term ``exp(-i pi n u)``): ``a (-1)^j``. Column ``n`` holds ``a`` (zeros
    for odd ``n``), to be applied to the extra sample of :func:`nyquist_padded` images.

    >>> rng = np.random.default_rng(1)
    >>> image = rng.random((6, 5))
    >>> ry, rx = fourier_matrix(6, np.array([7.3]), 0.4, 9, -1.1), fourier_matrix(5, np.array([5.2]), 0.4, 11, 0.3)
    >>> fast = ry[0] @ nyquist_padded(image) @ rx[0].T
    >>> bool(np.allclose(fast, resample_periodic(image, (5.2, 7.3), 0.4, (9, 11), (0.3, -1.1)), atol=1e-6))
    True
    """
    periods = np.atleast_1d(np.asarray(periods, dtype=np.float64))
    if n < 1 or count < 1 or pixel_size <= 0 or np.any(~(periods > 0)):
        raise ValueError(f"n, count, pixel_size and periods must be positive, got {n}, {count}, {pixel_size}, {periods}.")
    # Re(A)[i, j] = sum_k w_k cos(2 pi k (u_i - j/n)) / n over k = 0 .. n//2 (w = 2 for the paired k) = T(u) @ W:
    # T = [cos 2 pi k u | sin 2 pi k u] from powers of exp(2 pi i u) (one complex exponential per position).
    k = np.arange(n // 2 + 1)
    weight = np.where((k == 0) | (2 * k == n), 1.0, 2.0)
    phase = 2 * np.pi * np.outer(k, np.arange(n)) / n
    w = np.zeros((2 * len(k), n + 1))
    w[: len(k), :n] = weight[:, None] * np.cos(phase)
    w[len(k):, :n] = weight[:, None] * np.sin(phase)
    if n % 2 == 0:
        w[-1, n] = -1.0  # Im(A) = -sin(pi n u) (-1)^j: the Nyquist column
    u = (start + np.arange(count) * pixel_size)[None, :] / periods[:, None]  # (m, count) in periods
    z = np.exp(2j * np.pi * u)
    t = np.empty((*u.shape, 2 * len(k)))
    power = np.ones_like(z)
    for m in k:
        t[:, :, m], t[:, :, len(k) + m] = power.real, power.imag
        power = power * z
    return (t.reshape(-1, len(w)) @ (w / n)).reshape(*u.shape, n + 1)


def nyquist_padded(images: np.ndarray) -> np.ndarray:
    """Images (..., ny, nx) padded to (..., ny + 1, nx + 1) for :func:`fourier_matrix`: zeros, and in the
    corner the (linear) Nyquist term ``-sum (-1)^(j + k) f[j, k]`` (zero unless both sizes are even).

    >>> nyquist_padded(np.ones((2, 2)))
    array([[ 1.,  1.,  0.],
           [ 1.,  1.,  0.],
           [ 0.,  0., -0.]])
    """
    images = np.asarray(images)
    *lead, ny, nx = images.shape
    out = np.zeros((*lead, ny + 1, nx + 1), dtype=np.result_type(images.dtype, np.float32))
    out[..., :ny, :nx] = images
    if ny % 2 == 0 and nx % 2 == 0:
        sy = np.where(np.arange(ny) % 2 == 0, 1.0, -1.0)
        sx = np.where(np.arange(nx) % 2 == 0, 1.0, -1.0)
        out[..., ny, nx] = -np.einsum("...jk,j,k->...", images, sy, sx)
    return out


def column_contrast(image: np.ndarray, xy: np.ndarray, sigma_px: float, mode: str = "reflect") -> np.ndarray:
    """Laplacian-of-Gaussian contrast (scale ``sigma_px``, times sigma^2) of ``image`` at the columns ``xy`` (n, 2)
    [px], oriented as most of them are: positive for the usual column, bright (HAADF) or dark (ABF).

    ``mode``: how the filter extends the image past its edges (scipy.ndimage).

    >>> yy, xx = np.mgrid[0:30, 0:30]
    >>> image = np.exp(-((xx - 10) ** 2 + (yy - 15) ** 2) / 8.0) + 0.3 * np.exp(-((xx - 20) ** 2 + (yy - 15) ** 2) / 8.0)
    >>> bright = column_contrast(image, np.array([[10, 15], [20, 15]]), 2.0)
    >>> dark = column_contrast(-image, np.array([[10, 15], [20, 15]]), 2.0)
    >>> bool(np.allclose(bright, dark)), bool(bright[0] > bright[1] > 0)
    (True, True)
    """
    from scipy.ndimage import gaussian_laplace, map_coordinates

    xy = np.asarray(xy, float).reshape(-1, 2)
    contrast = -gaussian_laplace(np.asarray(image, float), sigma_px, mode=mode) * sigma_px**2
    at = map_coordinates(contrast, [xy[:, 1], xy[:, 0]], order=1, mode="nearest")
    return at * (np.sign(at.sum()) or 1.0)

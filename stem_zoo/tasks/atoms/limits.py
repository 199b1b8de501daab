"""What an image at a given dose can determine: the Cramer-Rao bound of a column's position
(:func:`position_crb`) and whether a column stands out of the noise at all (:func:`detection_snr`).

For Poisson counts lambda_i (electrons per pixel: the noise-free image as a fraction of the
probe times dose x pixel area), the Fisher information of a column's position (x, y) is
I = sum_i grad(lambda_i) grad(lambda_i)^T / lambda_i, where grad is the change of pixel i's
count when that column moves. Moving a column moves its own intensity: the gradient is the
image's gradient over the pixels nearer this column than any other (its Voronoi cell), the
background included (a light column's dip in ABF counts). The bound on the rms 2-D position
error of an unbiased estimator is sqrt(trace(I^-1)). It ignores that neighbours' tails reach
into the cell and that the column's profile is not known in advance, so it is a floor: no
method reaches it, the gap says how much is left.

For an isolated Gaussian column of N counts and width s on no background the bound is
s / sqrt(N) per axis (the classic result):
    >>> yy, xx = np.mgrid[0:41, 0:41]
    >>> clean = 1e-3 + np.exp(-((xx - 20) ** 2 + (yy - 20) ** 2) / (2 * 2.0 ** 2))  # fraction of the probe
    >>> crb = position_crb(clean, np.array([[20.0, 20.0]]), dose=1e4, pixel_size=0.2)
    >>> n = (clean - 1e-3).sum() * 1e4 * 0.04  # counts in the column
    >>> bool(abs(crb[0] / (np.sqrt(2) * 2.0 * 0.2 / np.sqrt(n) * 100) - 1) < 0.02)
    True
"""

from __future__ import annotations

import numpy as np


def position_crb(clean: np.ndarray, xy: np.ndarray, dose: float, pixel_size: float) -> np.ndarray:
    """Cramer-Rao bound [pm] of each column's rms 2-D position error at ``dose`` e/A^2.

    ``clean``: the noise-free image (H, W) as a fraction of the probe; ``xy`` (n, 2): the columns [px].
    """
    from scipy.spatial import cKDTree

    clean = np.asarray(clean, float)
    counts = np.clip(clean, 1e-12, None) * dose * pixel_size**2
    gy, gx = np.gradient(counts)
    rows, cols = np.indices(clean.shape)
    xy = np.asarray(xy, float).reshape(-1, 2)
    _, owner = cKDTree(xy).query(np.c_[cols.ravel(), rows.ravel()])
    owner = owner.reshape(clean.shape)
    info = np.zeros((len(xy), 2, 2))
    for k, (a, b) in enumerate(((gx, gx), (gx, gy), (gy, gy))):
        values = np.bincount(owner.ravel(), weights=(a * b / counts).ravel(), minlength=len(xy))
        i, j = ((0, 0), (0, 1), (1, 1))[k]
        info[:, i, j] = info[:, j, i] = values
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = np.trace(np.linalg.pinv(info), axis1=1, axis2=2)  # px^2
    return np.sqrt(variance) * pixel_size * 100.0


def detection_snr(clean: np.ndarray, xy: np.ndarray, dose: float, pixel_size: float, sigma_A: float = 0.4) -> np.ndarray:
    """Signal-to-noise ratio of each column at ``xy`` (n, 2) [px] for a matched peak detector at ``dose`` e/A^2.

    The signal is the column's Laplacian-of-Gaussian contrast (scale ``sigma_A``, the one
    ``stem_atom_columns`` decides by whether an image shows a column) in the noise-free image
    ``clean`` (fraction of the probe), oriented as most of the given columns are (bright or
    dark); the noise is the standard deviation of the same filter applied to the image's
    Poisson noise (variance clean / (dose x pixel area) per pixel). A detector that sees one
    column at a time finds columns under SNR ~3 no better than noise peaks (the Rose criterion
    asks 5); a network can do better on a lattice, where columns repeat.

    >>> yy, xx = np.mgrid[0:41, 0:41]
    >>> clean = 0.02 + 0.2 * np.exp(-((xx - 20) ** 2 + (yy - 20) ** 2) / (2 * 2.0 ** 2))
    >>> snr = [float(detection_snr(clean, np.array([[20.0, 20.0]]), dose, 0.2)[0]) for dose in (1e3, 4e3)]
    >>> round(snr[1] / snr[0], 2)  # the SNR grows as the square root of the dose
    2.0
    """
    from scipy import ndimage

    from stem_datasets.simulation.imaging import column_contrast
    from stem_zoo.micrograph import check_image, check_pixel_size

    check_pixel_size(pixel_size)
    clean = check_image(clean).astype(float)
    xy = np.asarray(xy, float)
    if xy.ndim != 2 or xy.shape[1] != 2 or not np.all(np.isfinite(xy)):
        raise ValueError(f"xy must be finite (x, y) column positions of shape (n, 2) [px], got shape {xy.shape}.")
    if not (np.isfinite(dose) and dose > 0 and np.isfinite(sigma_A) and sigma_A > 0):
        raise ValueError(f"dose [e/A^2] and sigma_A [A] must be positive numbers, got {dose!r} and {sigma_A!r}.")
    sigma = sigma_A / pixel_size
    half = int(np.ceil(4 * sigma))
    delta = np.zeros((2 * half + 1,) * 2)
    delta[half, half] = 1.0
    kernel = -ndimage.gaussian_laplace(delta, sigma) * sigma**2
    at = column_contrast(clean, xy, sigma, mode="nearest")
    variance = np.clip(clean, 0.0, None) / (dose * pixel_size**2)
    noise = np.sqrt(ndimage.convolve(variance, kernel**2, mode="nearest"))
    with np.errstate(invalid="ignore", divide="ignore"):
        return at / ndimage.map_coordinates(noise, [xy[:, 1], xy[:, 0]], order=1, mode="nearest")

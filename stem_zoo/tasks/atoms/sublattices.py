"""Relative column classes: columns grouped by their intensity within one image, as atomap users do.

A column's class cannot be read as an atomic number from one image: the signal of a column
grows with Z and with the number of atoms along the beam (the HAADF signal of a 10-atom Si
column matches that of a ~2-atom Au column), and ABF contrast depends on thickness and
defocus. What an image does determine is which columns look alike. :func:`group_columns`
measures each column's intensity, a weighted mean over a disc (weights 1 - (r / radius)^2, so
that it does not jump with the sub-pixel position; the image oriented so that columns are
maxima, minus its 10th percentile), fits Gaussian mixtures of 1 to ``max_groups`` components
to the logarithms of those values (floored at 2% of the brightest columns', the 90th
percentile: dim columns differ by ratios, as bright ones do), each component at least
``min_spread`` (3%) wide so that sampling noise between identical columns is not a group,
keeps the mixture with the lowest BIC (scikit-learn), and numbers the groups from the dimmest
(1) to the brightest. Group 3 of one image and group 3 of another have
nothing in common but their rank.

Example (two sublattices of Gaussian columns, one twice as bright):
    >>> yy, xx = np.mgrid[0:60, 0:60]
    >>> xy = np.array([(x, y) for x in range(6, 60, 8) for y in range(6, 60, 8)], float)
    >>> bright = (xy[:, 0] + xy[:, 1]) % 16 == 12
    >>> image = sum((2.0 if b else 1.0) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 4.0) for (x, y), b in zip(xy, bright))
    >>> groups = group_columns(image, xy, radius_px=2.0)
    >>> int(groups.max()), bool(np.all(groups[bright] == 2) and np.all(groups[~bright] == 1))
    (2, True)
"""

from __future__ import annotations

import numpy as np

MAX_GROUPS = 4
GROUP_NAMES = tuple(f"sublattice {k}" for k in range(1, MAX_GROUPS + 1))


def column_intensities(image: np.ndarray, xy: np.ndarray, radius_px: float) -> np.ndarray:
    """Mean of ``image`` (columns as maxima) within ``radius_px`` of each column, minus the image's 10th percentile."""
    image = np.asarray(image, float)
    h, w = image.shape
    r = int(np.ceil(radius_px))
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    xy = np.asarray(xy, float).reshape(-1, 2)
    rows = np.round(xy[:, 1])[:, None, None].astype(int) + dy
    cols = np.round(xy[:, 0])[:, None, None].astype(int) + dx
    r2 = ((cols - xy[:, 0, None, None]) ** 2 + (rows - xy[:, 1, None, None]) ** 2) / radius_px**2
    weight = np.clip(1.0 - r2, 0.0, None) * ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w))
    values = image[np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)]
    mean = np.sum(values * weight, axis=(1, 2)) / np.maximum(weight.sum(axis=(1, 2)), 1e-12)
    return mean - np.percentile(image, 10)


def group_columns(image: np.ndarray, xy: np.ndarray, radius_px: float, max_groups: int = MAX_GROUPS,
                  min_per_group: int = 3, min_spread: float = 0.03) -> np.ndarray:
    """Group index 1..k of each column (1 the dimmest), k <= ``max_groups`` chosen by BIC; all 1 below 2 columns.

    ``image`` must be oriented (columns bright: HAADF as is, ABF inverted). A mixture whose
    smallest group has fewer than ``min_per_group`` columns is not considered.
    """
    from sklearn.mixture import GaussianMixture

    values = column_intensities(image, xy, radius_px)
    n = len(values)
    if n < 2 * min_per_group:
        return np.ones(n, np.int32)
    scale = float(np.percentile(values, 90))
    if scale <= 0:
        return np.ones(n, np.int32)
    features = np.log(np.maximum(values / scale, 0.02))[:, None]
    best, best_bic = np.zeros(n, int), np.inf
    for k in range(1, min(max_groups, n // min_per_group) + 1):
        mixture = GaussianMixture(k, n_init=2, random_state=0, reg_covar=min_spread**2).fit(features)
        labels = mixture.predict(features)
        if k > 1 and np.bincount(labels, minlength=k).min() < min_per_group:
            continue
        bic = mixture.bic(features)
        if bic < best_bic:
            order = np.argsort(np.argsort(mixture.means_[:, 0]))  # rank of each component's mean
            best, best_bic = order[labels], bic
    return (best + 1).astype(np.int32)

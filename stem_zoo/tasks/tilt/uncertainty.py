"""The tilt model's uncertainty: decoding its Gaussian head, carrying stds through label maps, calibrating them.

The head predicts one std per quantity of :data:`STD_BASIS` (alpha + beta, beta - alpha, gamma):
those are what the image determines, their errors are nearly independent, and every orbit map
and step to a neighbouring B column permutes and flips them (:func:`basis_permutation`).

Example:
    >>> import numpy as np
    >>> means, stds = decode_outputs(np.zeros((1, 6)))
    >>> means.tolist(), [round(float(v), 3) for v in stds[0]]
    ([[0.0, 0.0, 0.0]], [2.147, 2.147, 2.147])
"""

from __future__ import annotations

import numpy as np

from stem_zoo.tasks.tilt.metrics import ANGLES, align_to_orbit

STD_BASIS = ("alpha_plus_beta", "beta_minus_alpha", "gamma")  # the quantities whose std the head predicts
TO_STD_BASIS = np.array([[1.0, 1.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # (alpha, beta, gamma) -> STD_BASIS
STD_FLOOR_DEG = 0.02  # deg: keeps the likelihood finite; far below any bound at the datasets' doses
STD_OFFSET = 2.0  # softplus(0 + 2) = 2.1 deg at initialization, about the spread of untrained errors


def std_scale(entry=None) -> np.ndarray:
    """The calibration factors of the std per quantity of :data:`STD_BASIS` (an entry's ``uncertainty``), else ones."""
    scale = (getattr(entry, "uncertainty", None) or {}).get("std_scale") if entry is not None else None
    return np.ones(3) if scale is None else np.asarray(scale, float)


def decode_outputs(raw, entry=None) -> tuple[np.ndarray, np.ndarray | None]:
    """(means (n, 3) of the canonical (alpha, beta, gamma), stds (n, 3) of :data:`STD_BASIS` or None) [deg].

    ``raw`` is the model's output (n, 6) (or (..., 6)); a three-output model (the paper's head)
    gives stds None. The stds are multiplied by the entry's calibration (:func:`std_scale`).
    """
    raw = np.asarray(raw, np.float64)
    if raw.shape[-1] == 3:
        return raw, None
    if raw.shape[-1] != 6:
        raise ValueError(f"tilt_dcnn outputs are 3 (angles) or 6 (angles and std parameters), got shape {raw.shape}.")
    stds = STD_FLOOR_DEG + np.logaddexp(0.0, raw[..., 3:] + STD_OFFSET)
    return raw[..., :3], stds * std_scale(entry)


def angle_stds(stds: np.ndarray) -> np.ndarray:
    """Stds of (alpha, beta, gamma) from those of :data:`STD_BASIS` (independent errors of alpha +- beta)."""
    stds = np.asarray(stds, float)
    half = 0.5 * np.hypot(stds[..., 0], stds[..., 1])
    return np.stack([half, half, stds[..., 2]], axis=-1)


def basis_permutation(transforms: np.ndarray) -> np.ndarray:
    """|B T B^-1| for label maps T (..., 3, 3) of (alpha, beta, gamma), B = :data:`TO_STD_BASIS`.

    Every orbit map and neighbouring-column step is a signed permutation of :data:`STD_BASIS`,
    so this is the permutation that carries the stds along (a ValueError otherwise).
    """
    mapped = TO_STD_BASIS @ np.asarray(transforms, float) @ np.linalg.inv(TO_STD_BASIS)
    permutation = np.abs(np.round(mapped, 9))
    if not np.allclose(mapped, np.round(mapped)) or not np.allclose(permutation.sum(axis=-1), 1.0):
        raise ValueError("the label map does not permute (alpha + beta, beta - alpha, gamma); its std cannot follow it.")
    return permutation


COVERAGE_Z = {"68": 1.0, "95": 1.959964}  # two-sided Gaussian intervals: 68.27% and 95%
RELIABILITY_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)  # nominal coverages of the reliability curve
CALIBRATED = ("alpha", "beta", "gamma", "alpha_plus_beta", "beta_minus_alpha")


def aligned_in_basis(true, means, stds, patterns) -> tuple[np.ndarray, np.ndarray]:
    """(angle errors (n, 3), stds (n, 3) of :data:`STD_BASIS`), the means aligned to their labels' orbits and the stds
    carried along."""
    true = np.asarray(true, float)
    names = [p.decode() if isinstance(p, bytes) else str(p) for p in patterns]
    aligned, transforms = align_to_orbit(true, means, names, return_transforms=True)
    return aligned - true, np.einsum("nij,nj->ni", basis_permutation(transforms), np.asarray(stds, float))


def scored_errors(true, means, stds, patterns) -> tuple[dict, dict]:
    """({quantity: errors}, {quantity: stds}) of :data:`CALIBRATED`, the means aligned to their labels' orbits."""
    error, basis_stds = aligned_in_basis(true, means, stds, patterns)
    errors = {**{name: error[:, k] for k, name in enumerate(ANGLES)},
              "alpha_plus_beta": error @ TO_STD_BASIS[0], "beta_minus_alpha": error @ TO_STD_BASIS[1]}
    angle = angle_stds(basis_stds)
    sigmas = {**{name: angle[:, k] for k, name in enumerate(ANGLES)},
              "alpha_plus_beta": basis_stds[:, 0], "beta_minus_alpha": basis_stds[:, 1]}
    return errors, sigmas


def uncertainty_metrics(true, means, stds, patterns) -> dict:
    """Per quantity: coverage of the 68% and 95% Gaussian intervals, mean std, RMSE and RMS z-score [deg], and the
    observed coverage of the central interval at each of :data:`RELIABILITY_LEVELS` (``reliability``).

    >>> true = np.zeros((4, 3)); means = np.array([[0.5, 0.5, 0.5], [-1.5, 1.5, 2.5], [0.1, 0.1, 0.1], [2, 2, 2]])
    >>> m = uncertainty_metrics(true, means, np.ones((4, 3)), ["a-b-c-"] * 4)
    >>> m["gamma"]["coverage_68"], m["gamma"]["mean_std_deg"], m["alpha_plus_beta"]["coverage_95"]
    (0.5, 1.0, 0.75)
    """
    if patterns is None:
        raise ValueError("uncertainty_metrics needs each example's Glazer pattern (to align predictions to their orbits).")
    from scipy.stats import norm

    errors, sigmas = scored_errors(true, means, stds, patterns)
    thresholds = norm.ppf(0.5 + 0.5 * np.asarray(RELIABILITY_LEVELS))
    out = {}
    for name in CALIBRATED:
        z = np.abs(errors[name]) / sigmas[name]
        out[name] = {**{f"coverage_{level}": round(float(np.mean(z <= threshold)), 4) for level, threshold in COVERAGE_Z.items()},
                     "mean_std_deg": round(float(np.mean(sigmas[name])), 4),
                     "rmse_deg": round(float(np.sqrt(np.mean(errors[name] ** 2))), 4),
                     "rms_z": round(float(np.sqrt(np.mean(z**2))), 4),
                     "reliability": [round(float(np.mean(z <= t)), 4) for t in thresholds]}
    return out


def fit_std_scale(true, means, stds, patterns) -> np.ndarray:
    """Factors for the stds of :data:`STD_BASIS` that put 68.27% of the |error| / std below 1 (on a calibration split).

    The quantile, not the RMS z-score: a few crops whose label lies across the canonical fold
    (alpha + beta near 0) have large errors and would inflate every std.
    """
    error, basis_stds = aligned_in_basis(true, means, stds, patterns)
    return np.quantile(np.abs(error @ TO_STD_BASIS.T) / basis_stds, 0.6827, axis=0)

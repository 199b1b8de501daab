"""Tilt metrics: predictions aligned to their label's orbit, RMSE/MAE per angle and of the determinable combinations.

Example:
    >>> import numpy as np
    >>> m = angle_metrics(np.array([[4.0, 3.0, 5.0]]), np.array([[-3.0, -4.0, -5.0]]), ["a-b-c-"])
    >>> m["rmse_deg"], m["rmse_alpha_plus_beta_deg"]
    (0.0, 0.0)
"""

from __future__ import annotations

import numpy as np

ANGLES = ("alpha", "beta", "gamma")
SIGN_THRESHOLD_DEG = 1.0  # signs of smaller angles are not scored


def align_to_orbit(true: np.ndarray, pred: np.ndarray, patterns, return_transforms: bool = False):
    """Each prediction replaced by the member of its orbit (the shift and the [1-10] mirror) nearest its label.

    Equivalent triples give one image (:mod:`stem_datasets.physics.glazer`), so a prediction is scored as
    the triple of its orbit closest to the (canonical) label: near alpha + beta = 0, where the
    canonical rule switches, a prediction just across the switch is not counted as a sign error.
    ``return_transforms``: also the (n, 3, 3) label map applied to each prediction.

    >>> align_to_orbit(np.array([[4.0, 3.0, 5.0]]), np.array([[-3.0, -4.0, -5.0]]), ["a-b-c-"]).tolist()
    [[4.0, 3.0, 5.0]]
    """
    from stem_datasets.physics.glazer import equivalent_transforms

    true, pred = np.asarray(true, float), np.asarray(pred, float)
    out = pred.copy()
    transforms = np.repeat(np.eye(3)[None], len(pred), axis=0)
    for pattern in set(patterns):
        rows = np.array([p == pattern for p in patterns])
        group = equivalent_transforms(pattern)
        orbit = np.einsum("gij,nj->gni", group, pred[rows])  # (g, n, 3)
        nearest = np.argmin(np.sum((orbit - true[rows][None]) ** 2, axis=2), axis=0)
        out[rows] = orbit[nearest, np.arange(rows.sum())]
        transforms[rows] = group[nearest]
    return (out, transforms) if return_transforms else out


def angle_metrics(true: np.ndarray, pred: np.ndarray, patterns=None) -> dict:
    """RMSE/MAE per angle and overall, magnitude error and sign accuracy [deg].

    With ``patterns`` (one Glazer symbol per example) the predictions are first aligned to their
    labels' orbits (:func:`align_to_orbit`) and the determinable combinations alpha + beta and
    beta - alpha are scored too (``rmse_alpha_plus_beta_deg``, ``rmse_beta_minus_alpha_deg``).
    """
    true, pred = np.asarray(true, float), np.asarray(pred, float)
    if true.shape != pred.shape or true.ndim != 2 or true.shape[1] != 3:
        raise ValueError(f"predictions {pred.shape} and labels {true.shape} must both be (n, 3).")
    if patterns is not None:
        pred = align_to_orbit(true, pred, [p.decode() if isinstance(p, bytes) else str(p) for p in patterns])
    error = pred - true
    out = {"n": int(len(true)), "rmse_deg": float(np.sqrt(np.mean(error**2))), "mae_deg": float(np.mean(np.abs(error)))}
    for k, name in enumerate(ANGLES):
        out[f"rmse_{name}_deg"] = float(np.sqrt(np.mean(error[:, k] ** 2)))
        out[f"mae_{name}_deg"] = float(np.mean(np.abs(error[:, k])))
    out["magnitude_mae_deg"] = float(np.mean(np.abs(np.abs(pred) - np.abs(true))))
    scored = np.abs(true) >= SIGN_THRESHOLD_DEG
    out["sign_accuracy"] = round(float(np.mean(np.sign(pred[scored]) == np.sign(true[scored]))), 4) if scored.any() else float("nan")
    if patterns is not None:
        for name, v in (("alpha_plus_beta", (1.0, 1.0, 0.0)), ("beta_minus_alpha", (-1.0, 1.0, 0.0))):
            out[f"rmse_{name}_deg"] = float(np.sqrt(np.mean((error @ np.array(v)) ** 2)))
    return out


def leaderboard(rows, splits, dataset: str, config: str) -> str:
    """Markdown: RMSE [deg] / sign accuracy per split, one row per (label, {split: metrics})."""
    from stem_zoo.benchmarking import split_table

    def cell(m: dict) -> str:
        return f"{m['rmse_deg']:.2f} / {m.get('sign_accuracy', float('nan')):.2f}" if "rmse_deg" in m else "-"

    return split_table(f"RMSE [deg] / sign accuracy on `{dataset}/{config}`", rows, splits, cell)

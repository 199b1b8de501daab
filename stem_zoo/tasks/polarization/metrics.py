"""Polarization metrics: RMSE of Px, of Py and of the vector [pm], magnitude and angle errors, per split and group.

Example:
    >>> m = polarization_metrics([[30.0, 0.0], [0.0, 2.0]], [[27.0, 4.0], [0.0, 2.0]])
    >>> m["rmse_px_pm"], m["rmse_py_pm"], m["rmse_pm"], m["magnitude_error_pm"], m["n_angle"]
    (2.1213, 2.8284, 3.5355, -1.3527, 1)
    >>> round(m["angle_mae_deg"], 2)  # only the first cell has |P_true| > 5 pm
    8.43
"""

from __future__ import annotations

import numpy as np

from stem_zoo.tasks.polarization.model import MIN_ANGLE_MAGNITUDE_PM, eval_input

def polarization_metrics(true, pred, min_magnitude_pm: float = MIN_ANGLE_MAGNITUDE_PM) -> dict:
    """Errors of predicted polarization vectors (n, 2) against the truth [pm]; angles in degrees.

    ``rmse_px_pm``, ``rmse_py_pm``: per component; ``rmse_pm``: of the vector, sqrt(mean
    |P_pred - P_true|^2); ``mae_vector_pm``: mean |P_pred - P_true|; ``magnitude_error_pm``:
    mean of |P_pred| - |P_true| (a bias), ``magnitude_mae_pm`` its mean absolute value;
    ``angle_mae_deg``: mean absolute difference of the directions (wrapped to +-180 deg) over
    the ``n_angle`` cells with |P_true| > ``min_magnitude_pm`` (NaN if none).
    """
    true, pred = np.asarray(true, np.float64), np.asarray(pred, np.float64)
    if true.shape != pred.shape or true.ndim != 2 or true.shape[1] != 2:
        raise ValueError(f"predictions {pred.shape} and labels {true.shape} must both be (n, 2) vectors (Px, Py).")
    if not len(true):
        raise ValueError("no examples to score.")
    error = pred - true
    magnitude_true, magnitude_pred = np.hypot(*true.T), np.hypot(*pred.T)
    scored = magnitude_true > min_magnitude_pm
    angle = np.degrees(np.arctan2(pred[:, 1], pred[:, 0]) - np.arctan2(true[:, 1], true[:, 0]))
    angle = (angle + 180.0) % 360.0 - 180.0
    r = lambda v: round(float(v), 4)  # noqa: E731
    return {
        "n": int(len(true)),
        "rmse_px_pm": r(np.sqrt(np.mean(error[:, 0] ** 2))),
        "rmse_py_pm": r(np.sqrt(np.mean(error[:, 1] ** 2))),
        "rmse_pm": r(np.sqrt(np.mean(np.sum(error**2, axis=1)))),
        "mae_vector_pm": r(np.mean(np.hypot(*error.T))),
        "magnitude_error_pm": r(np.mean(magnitude_pred - magnitude_true)),
        "magnitude_mae_pm": r(np.mean(np.abs(magnitude_pred - magnitude_true))),
        "angle_mae_deg": r(np.mean(np.abs(angle[scored]))) if scored.any() else float("nan"),
        "n_angle": int(scored.sum()),
    }


def _group_value(value, by: str, features=None) -> str:
    from stem_zoo.tasks.atoms.metrics import dose_bin

    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, bytes):
        return value.decode()
    if features is not None and by in features and hasattr(features[by], "int2str"):
        return features[by].int2str(int(value))
    if by == "dose":
        return dose_bin(float(value))
    if isinstance(value, float):
        return f"{round(value, 1 if by == 'mistilt_mrad' else 2):g}"
    return str(value)


def _as_dataset(examples):
    import tensorflow as tf

    if hasattr(examples, "map"):
        return examples
    examples = list(examples)
    if not examples:
        raise ValueError("no examples to score.")
    return tf.data.Dataset.from_tensor_slices({k: np.stack([np.asarray(e[k]) for e in examples]) for k in examples[0]})


def predictions(model, examples, entry, by: str | None = None, batch_size: int = 256):
    """(true (n, 2), predicted (n, 2), values of ``by`` (n,) or None, seconds predicting) of dataset examples."""
    import time

    import tensorflow as tf

    from stem_zoo.benchmarking import as_predictor

    predict, _ = as_predictor(model)
    ds = _as_dataset(examples)
    if by is not None and by not in ds.element_spec:
        raise ValueError(f"the examples have no feature {by!r}; they have {', '.join(ds.element_spec)}.")
    ds = ds.map(lambda e: (eval_input(e, entry), e[entry.label], e[by] if by else tf.constant(0)),
                num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
    trues, preds, values, seconds = [], [], [], 0.0
    for inputs, labels, groups in ds.as_numpy_iterator():
        start = time.perf_counter()
        out = np.asarray(predict(inputs), np.float64).reshape(len(inputs), -1)
        seconds += time.perf_counter() - start
        trues.append(labels)
        preds.append(out)
        values.append(groups)
    if not trues:
        raise ValueError("no examples to score (is the entry's subset empty in this split?).")
    return (np.concatenate(trues).astype(np.float64), np.concatenate(preds), np.concatenate(values) if by else None,
            seconds)


def score_split(model, examples, entry, by: str | None = None, features=None,
                batch_size: int = 256) -> tuple[dict, dict | None]:
    """(metrics of a split, {value of ``by``: metrics} or None): the benchmark hook.

    ``examples``: a ``tf.data.Dataset`` (or iterable) of the dataset's example dicts (the
    entry's subset, e.g. centred windows only); ``by`` a feature to group by (``pattern``,
    ``composition_sm``, ``mistilt_mrad``, ``dose``, ...; ``features`` = the builder's
    ``info.features`` names class labels). Metrics: :func:`polarization_metrics`, plus
    ``windows_per_s``.
    """
    true, pred, values, seconds = predictions(model, examples, entry, by, batch_size)
    metrics = polarization_metrics(true, pred)
    metrics["windows_per_s"] = round(len(true) / seconds, 1) if seconds else float("nan")
    if not by:
        return metrics, None
    names = np.array([_group_value(v, by, features) for v in values])
    grouped = {name: polarization_metrics(true[names == name], pred[names == name])
               for name in sorted(set(names.tolist()), key=_sort_key)}
    return metrics, grouped


def _sort_key(name: str):
    try:
        return (0, float(name.split("..")[0]), name)
    except ValueError:
        return (1, 0.0, name)


def _cell(metrics: dict) -> str:
    """RMSE Px / Py [pm], angle error [deg]."""
    if "rmse_px_pm" not in metrics:
        return "-"
    angle = metrics.get("angle_mae_deg", float("nan"))
    return f"{metrics['rmse_px_pm']:.1f} / {metrics['rmse_py_pm']:.1f}, {angle:.0f} deg"


def leaderboard(rows, splits, dataset: str, config: str) -> str:
    """Markdown: RMSE of Px / Py [pm] and mean angle error [deg] per split, one row per model."""
    from stem_zoo.benchmarking import split_table

    return split_table(f"RMSE Px / Py [pm], mean angle error (|P| > {MIN_ANGLE_MAGNITUDE_PM:g} pm) on "
                       f"`{dataset}/{config}`", rows, splits, _cell)


def grouped_table(record: dict) -> str:
    """Markdown: RMSE Px / Py [pm] and angle error per value of the ``by`` feature (n windows in brackets)."""
    from stem_zoo.benchmarking import group_table

    return group_table(record, "RMSE Px / Py [pm], angle error", _cell, key=_sort_key)

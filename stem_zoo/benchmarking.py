"""Score any model on every published split of a dataset config.

Works with a Keras model or any callable mapping a batch of crops (n, H, W, 1) to angles
(n, 3). Ten lines benchmark a new architecture:

    import keras, stem_zoo
    from stem_zoo.registry import get_entry
    spec = get_entry("tilt_dcnn").input                     # same crops as the reference
    inputs = keras.Input((*spec.crop_shape, 1))
    x = keras.layers.Conv2D(16, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))   # train it first, of course
    result = stem_zoo.benchmark(model, task="tilt_dcnn", config="smoke", name="my_net")
    print(result["leaderboard"])

Example:
    >>> m = angle_metrics(np.array([[1.0, -2.0, 3.0]]), np.array([[1.5, -2.0, -3.0]]))
    >>> round(m["rmse_deg"], 3), m["sign_accuracy"]
    (3.476, 0.6667)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np

from stem_zoo.registry import MODELS, get_entry

ANGLES = ("alpha", "beta", "gamma")
SIGN_THRESHOLD_DEG = 1.0  # signs of smaller angles are not scored


def angle_metrics(true: np.ndarray, pred: np.ndarray) -> dict:
    """RMSE/MAE per angle and overall, magnitude error and sign accuracy [deg]."""
    true, pred = np.asarray(true, float), np.asarray(pred, float)
    if true.shape != pred.shape or true.ndim != 2 or true.shape[1] != 3:
        raise ValueError(f"predictions {pred.shape} and labels {true.shape} must both be (n, 3).")
    error = pred - true
    out = {"n": int(len(true)), "rmse_deg": float(np.sqrt(np.mean(error**2))), "mae_deg": float(np.mean(np.abs(error)))}
    for k, name in enumerate(ANGLES):
        out[f"rmse_{name}_deg"] = float(np.sqrt(np.mean(error[:, k] ** 2)))
        out[f"mae_{name}_deg"] = float(np.mean(np.abs(error[:, k])))
    out["magnitude_mae_deg"] = float(np.mean(np.abs(np.abs(pred) - np.abs(true))))
    scored = np.abs(true) >= SIGN_THRESHOLD_DEG
    out["sign_accuracy"] = round(float(np.mean(np.sign(pred[scored]) == np.sign(true[scored]))), 4) if scored.any() else float("nan")
    return out


def class_metrics(true: np.ndarray, probabilities: np.ndarray, classes: tuple[str, ...]) -> dict:
    """Accuracy, per-class recall, confusion matrix, and within-one-class accuracy when there
    are more than two (ordinal) classes.

    ``confusion[i][j]`` counts examples of true class i predicted as j.

    >>> m = class_metrics(np.array([0, 1, 2]), np.eye(3)[[0, 2, 2]], ("a", "b", "c"))
    >>> m["accuracy"], m["within_one_accuracy"], m["recall"]["b"]
    (0.6667, 1.0, 0.0)
    """
    true = np.asarray(true).astype(int).ravel()
    probabilities = np.asarray(probabilities, float)
    if probabilities.ndim != 2 or len(probabilities) != len(true) or probabilities.shape[1] != len(classes):
        raise ValueError(f"probabilities {probabilities.shape} must be (n, {len(classes)}) for {len(true)} labels.")
    pred = probabilities.argmax(axis=1)
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    np.add.at(confusion, (true, pred), 1)
    recall = {c: round(float(confusion[i, i] / confusion[i].sum()), 4) for i, c in enumerate(classes) if confusion[i].sum()}
    metrics = {"n": int(len(true)), "accuracy": round(float(np.mean(pred == true)), 4)}
    if len(classes) > 2:  # with two classes every prediction is within one
        metrics["within_one_accuracy"] = round(float(np.mean(np.abs(pred - true) <= 1)), 4)
    return {**metrics, "recall": recall, "confusion": confusion.tolist()}


def task_metrics(entry, true: np.ndarray, pred: np.ndarray) -> dict:
    """The metrics of an entry's task: class metrics for classifiers, angle metrics otherwise."""
    if entry.is_classifier:
        return class_metrics(true, pred, tuple(entry.outputs))
    return angle_metrics(true, pred)


def _as_predictor(model) -> tuple[Callable[[np.ndarray], np.ndarray], int | None]:
    if hasattr(model, "predict_on_batch") and hasattr(model, "count_params"):
        return (lambda x: np.asarray(model.predict_on_batch(x))), int(model.count_params())
    if callable(model):
        return (lambda x: np.asarray(model(x))), None
    raise TypeError("model must be a Keras model or a callable mapping a batch of inputs to outputs (n, k).")


def benchmark(
    model,
    dataset: str | None = None,
    config: str = "small",
    splits: tuple[str, ...] | None = None,
    task: str | None = None,
    name: str | None = None,
    batch_size: int = 64,
    data_dir: str | None = None,
    out_dir: str | Path | None = None,
    by: str | None = None,
) -> dict:
    """Metrics on every split, images/s and parameter count; JSON and markdown if ``out_dir``.

    ``by`` names a dataset feature (e.g. ``"thickness_nm"``): the record then also holds
    ``by_feature[split][value]`` metrics for each of its values, and the markdown a table of them.

    ``task`` names the zoo model whose inputs, labels and example subset to use (default:
    the model's own entry, else the first zoo model on ``dataset``: a model that is not from
    the zoo needs ``task`` or ``dataset``); ``dataset`` defaults to the task's.
    """
    from stem_zoo import data

    zoo = getattr(model, "zoo", None)
    entry = get_entry(task) if task else (zoo.entry if zoo else _first_entry(dataset))
    dataset = dataset or entry.dataset
    if entry.dataset != dataset:
        raise ValueError(f"task {entry.id!r} is defined on {entry.dataset}, not {dataset}.")
    scorer = getattr(entry.architecture(), "score_split", None)  # a task scored from whole examples (atom columns)
    predict, n_params = _as_predictor(model) if scorer is None else (None, _parameter_count(model))
    builder = data.load_builder(dataset, config, data_dir)
    splits = splits or tuple(s for s in builder.info.splits if s != "train")
    results, grouped = {}, {}
    for split in splits:
        if scorer is not None:  # the architecture scores the split itself: (metrics, {value: metrics} if by)
            results[split], groups = scorer(model, data.examples(builder, split, entry), entry, by=by,
                                            features=builder.info.features)
            if by:
                grouped[split] = groups
            continue
        trues, preds, groups, seconds, count = [], [], [], 0.0, 0
        for inputs, labels, *extra in data.eval_pipeline(builder, split, entry, batch_size, keep=(by,) if by else ()):
            batch = inputs.numpy()
            start = time.perf_counter()
            out = predict(batch)
            seconds += time.perf_counter() - start
            count += len(batch)
            trues.append(labels.numpy())
            preds.append(np.asarray(out).reshape(len(batch), -1))
            if by:
                groups.append(extra[0][by].numpy())
        true, pred = np.concatenate(trues), np.concatenate(preds)
        metrics = task_metrics(entry, true, pred)
        metrics["images_per_s"] = round(count / seconds, 1) if seconds else float("nan")
        results[split] = metrics
        if by:
            values = np.concatenate(groups)
            values = np.round(values, 2) if values.dtype.kind == "f" else values
            grouped[split] = {_group_name(v): {"n": int(np.sum(values == v)), **task_metrics(entry, true[values == v], pred[values == v])}
                              for v in np.unique(values)}
    record = {
        "model": name or (zoo.entry.id if zoo else getattr(model, "name", "model")),
        "task": entry.id,
        "dataset": f"{dataset}/{config}:{builder.info.version}",
        "parameters": n_params,
        "splits": results,
    }
    record["leaderboard"] = leaderboard(record, dataset, config)
    if by:
        record["by_feature"] = {"feature": by, **grouped}
        record["leaderboard"] += "\n" + grouped_table(record)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"benchmark_{record['model']}.json").write_text(json.dumps(record, indent=1))
        (out / f"leaderboard_{record['model']}.md").write_text(record["leaderboard"])
    return record


def _parameter_count(model) -> int | None:
    return int(model.count_params()) if hasattr(model, "count_params") else None


def _group_name(value) -> str:
    return value.decode() if isinstance(value, bytes) else f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)


def grouped_table(record: dict) -> str:
    """Markdown: one row per value of the ``by`` feature, one column per split (RMSE or accuracy)."""
    own = getattr(get_entry(record["task"]).architecture(), "grouped_table", None)  # a task's own table
    if own is not None:
        return own(record)
    grouped = {k: v for k, v in record["by_feature"].items() if k != "feature"}
    metric = "rmse_deg" if any("rmse_deg" in m for g in grouped.values() for m in g.values()) else "accuracy"
    return group_table(record, metric, lambda m: f"{m[metric]:.3g}",
                       key=lambda v: (float(v) if _is_number(v) else 0.0, v))


def group_table(record: dict, what: str, cell, key=None) -> str:
    """Markdown: one row per value of the ``by`` feature, one column per split, ``cell(metrics)`` (n) in each."""
    grouped = {k: v for k, v in record["by_feature"].items() if k != "feature"}
    values = sorted({v for g in grouped.values() for v in g}, key=key)
    lines = [f"{what} by `{record['by_feature']['feature']}` (n in brackets)", "",
             "| value | " + " | ".join(grouped) + " |", "| --- | " + " | ".join("---" for _ in grouped) + " |"]
    for value in values:
        cells = [f"{cell(g[value])} ({g[value]['n']})" if value in g else "-" for g in grouped.values()]
        lines.append(f"| {value} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_entry(dataset: str | None):
    """The first zoo model on ``dataset`` (its task), or a clear error listing the choices.

    >>> _first_entry(None)
    Traceback (most recent call last):
    ...
    ValueError: benchmark needs task=<zoo id> (...) or dataset=<name> (...) for a model that is not from the zoo.
    """
    for entry in MODELS.values():
        if entry.dataset == dataset:
            return entry
    tasks = ", ".join(sorted(MODELS))
    datasets = ", ".join(sorted({e.dataset for e in MODELS.values()}))
    if dataset is None:
        raise ValueError(f"benchmark needs task=<zoo id> ({tasks}) or dataset=<name> ({datasets}) for a model that "
                         "is not from the zoo.")
    raise ValueError(f"No zoo model is defined on {dataset!r}; pass task=<zoo id> naming one that is ({tasks}); "
                     f"datasets with zoo models: {datasets}.")


def leaderboard(record: dict, dataset: str, config: str) -> str:
    """Markdown table: this result beside the reference models' card numbers (same task)."""
    task = record["task"]
    rows = [("**" + record["model"] + "** (this run)", record["splits"])]
    for entry in MODELS.values():
        if entry.id == task and entry.dataset_config == config and entry.metrics and entry.id != record["model"]:
            rows.append((f"{entry.id} (card)", entry.metrics))
    splits = list(record["splits"])
    own = getattr(get_entry(task).architecture(), "leaderboard", None)  # a task's own table (e.g. detection F1)
    if own is not None:
        return own(rows, splits, dataset, config)
    if get_entry(task).is_classifier:
        return _class_leaderboard(rows, splits, dataset, config)

    def cell(m: dict) -> str:
        return f"{m['rmse_deg']:.2f} / {m.get('sign_accuracy', float('nan')):.2f}" if "rmse_deg" in m else "-"

    return split_table(f"RMSE [deg] / sign accuracy on `{dataset}/{config}`", rows, splits, cell)


def _class_leaderboard(rows, splits, dataset: str, config: str) -> str:
    ordinal = any("within_one_accuracy" in m for _, metrics in rows for m in metrics.values())

    def cell(m: dict) -> str:
        return (f"{m['accuracy']:.3f}" + (f" / {m['within_one_accuracy']:.3f}" if ordinal else "")) if "accuracy" in m else "-"

    return split_table(f"Accuracy{' / within-one-class accuracy' if ordinal else ''} on `{dataset}/{config}`",
                       rows, splits, cell)


def split_table(title: str, rows, splits, cell) -> str:
    """Markdown: ``title``, then one row per (label, {split: metrics}) with ``cell(metrics)`` per split ("-" if absent)."""
    lines = [title, "", "| model | " + " | ".join(splits) + " |", "| --- | " + " | ".join("---" for _ in splits) + " |"]
    for label, metrics in rows:
        lines.append(f"| {label} | " + " | ".join(cell(metrics.get(s, {})) for s in splits) + " |")
    return "\n".join(lines) + "\n"

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

Versions: a run records the dataset version it scored (``record["dataset"]``, e.g.
``stem_abf_tilt/small:2.0.0``). The leaderboard shows a reference's card numbers of that version
as ``tilt_dcnn (card)``, and those measured on any other version in rows of their own, marked
``tilt_dcnn (card, dataset 1.0.0)``, with a note under the table. A zoo model benchmarked on
another version than its entry's ``dataset_version`` gets a :class:`DatasetVersionWarning`,
and the same line heads its leaderboard and is kept in ``record["warnings"]``.

Example:
    >>> m = class_metrics(np.array([0, 1]), np.eye(2)[[0, 0]], ("rough", "intermixed"))
    >>> m["accuracy"], m["recall"]
    (0.5, {'rough': 1.0, 'intermixed': 0.0})
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from stem_zoo.registry import MODELS, get_entry
from stem_zoo.task import task_hook, task_of



class DatasetVersionWarning(UserWarning):
    """A zoo model is benchmarked on another version of its dataset than the one it was trained on."""


def version_warning(entry, version: str) -> str | None:
    """The warning line for benchmarking ``entry``'s weights on ``version`` of its dataset, or None if trained on it.

    >>> from stem_zoo.registry import get_entry
    >>> print(version_warning(get_entry("tilt_dcnn"), "2.0.0"))
    tilt_dcnn was trained on stem_abf_tilt 3.0.0 but is benchmarked on stem_abf_tilt 2.0.0: its scores here are not its card's 3.0.0 numbers, and the card's 3.0.0 numbers are not scores on 2.0.0.
    >>> version_warning(get_entry("tilt_dcnn"), "3.0.0") is None
    True
    """
    if str(version) == entry.dataset_version:
        return None
    return (f"{entry.id} was trained on {entry.dataset} {entry.dataset_version} but is benchmarked on {entry.dataset} "
            f"{version}: its scores here are not its card's {entry.dataset_version} numbers, and the card's "
            f"{entry.dataset_version} numbers are not scores on {version}.")


def class_metrics(true: np.ndarray, probabilities: np.ndarray, classes: tuple[str, ...], ordinal: bool = True) -> dict:
    """Accuracy, per-class recall, confusion matrix, the calibration of the top probability, and
    within-one-class accuracy when the classes are ``ordinal`` and more than two.

    ``confusion[i][j]`` counts examples of true class i predicted as j. ``expected_calibration_error``
    is the gap between the top probability and the accuracy over 10 equal-width bins of that
    probability, weighted by their counts; ``reliability`` lists (bin centre, mean top probability,
    accuracy, count) for a reliability plot.

    >>> m = class_metrics(np.array([0, 1, 2]), np.eye(3)[[0, 2, 2]], ("a", "b", "c"))
    >>> m["accuracy"], m["within_one_accuracy"], m["recall"]["b"], m["expected_calibration_error"]
    (0.6667, 1.0, 0.0, 0.3333)
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
    if ordinal and len(classes) > 2:  # with two classes every prediction is within one
        metrics["within_one_accuracy"] = round(float(np.mean(np.abs(pred - true) <= 1)), 4)
    ece, reliability = calibration_error(true, probabilities)
    return {**metrics, "recall": recall, "confusion": confusion.tolist(), "expected_calibration_error": ece,
            "reliability": reliability}


def calibration_error(true: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> tuple[float, list[list[float]]]:
    """(expected calibration error of the top probability, reliability rows) over ``bins`` equal-width bins.

    >>> calibration_error(np.array([0, 0, 1, 1]), np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]))[0]
    0.3
    """
    top = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(true).ravel()
    index = np.minimum((top * bins).astype(int), bins - 1)
    ece, rows = 0.0, []
    for b in range(bins):
        inside = index == b
        if inside.any():
            gap = abs(float(top[inside].mean()) - float(correct[inside].mean()))
            ece += gap * inside.sum() / len(top)
            rows.append([round((b + 0.5) / bins, 3), round(float(top[inside].mean()), 4),
                         round(float(correct[inside].mean()), 4), int(inside.sum())])
    return round(float(ece), 4), rows


def task_metrics(entry, true: np.ndarray, pred: np.ndarray, patterns=None) -> dict:
    """The metrics of an entry's task: its task's ``metrics`` hook, else class metrics for classifiers
    (e.g. tilt angles orbit-aligned, with the determinable combinations, where ``patterns``, the values of the task's
    ``METRICS_FEATURE``, are known)."""
    own = task_hook(entry, "metrics", required=not entry.is_classifier)
    if own:
        return own(true, pred, patterns)
    ordinal = all(isinstance(v, (int, np.integer)) for v in entry.label_values) if entry.label_values else True
    return class_metrics(true, pred, tuple(entry.outputs), ordinal=ordinal)


def decode_predictions(entry, raw: np.ndarray, model_entry=None) -> tuple[np.ndarray, np.ndarray | None]:
    """(point predictions, stds or None) of a task's raw model outputs.

    A model with more outputs than the task's (a Gaussian head: means, then std parameters) is
    decoded by the task's architecture (``decode_outputs``), with the calibration of
    ``model_entry`` (a zoo model's own entry; None: uncalibrated).
    """
    raw = np.asarray(raw)
    decode = task_hook(entry, "decode_outputs")
    if entry.is_classifier or decode is None or raw.shape[-1] == len(entry.outputs):
        return raw, None
    return decode(raw, model_entry)


def split_metrics(entry, true: np.ndarray, pred: np.ndarray, stds: np.ndarray | None = None, patterns=None) -> dict:
    """:func:`task_metrics`, plus the task's ``uncertainty_metrics`` (coverage of its intervals) where ``stds`` are given."""
    metrics = task_metrics(entry, true, pred, patterns)
    scorer = task_hook(entry, "uncertainty_metrics")
    if stds is not None and scorer is not None:
        metrics["calibration"] = scorer(true, pred, stds, patterns)
    return metrics


def as_predictor(model, check: Callable | None = None,
                 expects: str = "a batch of inputs to outputs (n, k)") -> tuple[Callable[[np.ndarray], np.ndarray], int | None]:
    """(batch -> NumPy outputs, parameter count or None) of a Keras model or any callable: the one adapter every task
    uses. ``check(model)`` vets a Keras model's shapes first (a clear ValueError); ``expects`` completes the TypeError.

    >>> predict, n = as_predictor(lambda x: x * 2)
    >>> predict(np.ones(2)).tolist(), n
    ([2.0, 2.0], None)
    """
    if hasattr(model, "predict_on_batch") and hasattr(model, "output_shape"):
        if check is not None:
            check(model)
        n_params = int(model.count_params()) if hasattr(model, "count_params") else None
        return (lambda x: np.asarray(model.predict_on_batch(x))), n_params
    if callable(model):
        return (lambda x: np.asarray(model(x))), None
    raise TypeError(f"model must be a zoo id, a Keras model or a callable mapping {expects}.")


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
    by: str | tuple[str, ...] | None = None,
) -> dict:
    """Metrics on every split, images/s and parameter count; JSON and markdown if ``out_dir``.

    ``by`` names a dataset feature (e.g. ``"thickness_nm"``): the record then also holds
    ``by_feature[split][value]`` metrics for each of its values, and the markdown a table of them.
    A tuple of features (e.g. ``("dose", "pattern")``) groups by their values together, named
    ``"10000/a-b-c-"`` (the values joined by "/").

    ``task`` names the zoo model whose inputs, labels and example subset to use (default:
    the model's own entry, else the first zoo model on ``dataset``: a model that is not from
    the zoo needs ``task`` or ``dataset``); ``dataset`` defaults to the task's.

    A zoo model (``model.zoo``) scored on another version of its dataset than its entry's
    ``dataset_version`` is not an error (old weights on a new release is a fair question), but it
    warns (:class:`DatasetVersionWarning`, naming both versions), and the record keeps the line in
    ``warnings`` and heads its leaderboard with it; ``trained_on`` names the version it was trained on.
    """
    from stem_zoo import data

    zoo = getattr(model, "zoo", None)
    entry = get_entry(task) if task else (zoo.entry if zoo else _first_entry(dataset))
    dataset = dataset or entry.dataset
    if entry.dataset != dataset:
        raise ValueError(f"task {entry.id!r} is defined on {entry.dataset}, not {dataset}.")
    scorer = task_hook(entry, "score_split")  # a task scored from whole examples (atom columns)
    predict, n_params = as_predictor(model) if scorer is None else (None, _parameter_count(model))
    builder = data.load_builder(dataset, config, data_dir)
    version = str(builder.info.version)
    own_dataset = zoo is not None and zoo.entry.dataset == dataset
    mismatch = version_warning(zoo.entry, version) if own_dataset else None  # zoo weights on another version
    if mismatch:
        warnings.warn(mismatch, DatasetVersionWarning, stacklevel=2)
    splits = splits or tuple(s for s in builder.info.splits if s != "train")
    # The dataset feature a task's metrics also read (tilt: each example's Glazer pattern, to align to its orbit).
    context = getattr(task_of(entry), "METRICS_FEATURE", None)
    context = context if context in (getattr(builder.info, "features", None) or {}) else None
    results, grouped = {}, {}
    for split in splits:
        if scorer is not None:  # the architecture scores the split itself: (metrics, {value: metrics} if by)
            results[split], groups = scorer(model, data.examples(builder, split, entry), entry, by=by,
                                            features=builder.info.features)
            if by:
                grouped[split] = groups
            continue
        trues, preds, groups, patterns, seconds, count = [], [], [], [], 0.0, 0
        by_features = (by,) if isinstance(by, str) else tuple(by or ())
        keep = tuple(dict.fromkeys([*by_features, *((context,) if context else ())]))
        for inputs, labels, *extra in data.eval_pipeline(builder, split, entry, batch_size, keep=keep):
            batch = inputs.numpy()
            start = time.perf_counter()
            out = predict(batch)
            seconds += time.perf_counter() - start
            count += len(batch)
            trues.append(labels.numpy())
            preds.append(np.asarray(out).reshape(len(batch), -1))
            if by:
                groups.append(np.stack([_group_names(extra[0][f].numpy()) for f in by_features], axis=1))
            if context:
                patterns.append(extra[0][context].numpy())
        true, pred = np.concatenate(trues), np.concatenate(preds)
        pred, stds = decode_predictions(entry, pred, zoo.entry if zoo else None)
        pattern = np.concatenate(patterns) if context else None
        metrics = split_metrics(entry, true, pred, stds, pattern)
        metrics["images_per_s"] = round(count / seconds, 1) if seconds else float("nan")
        results[split] = metrics
        if by:
            values = np.array(["/".join(row) for row in np.concatenate(groups)])
            grouped[split] = {
                str(v): {"n": int(np.sum(values == v)), **split_metrics(
                    entry, true[values == v], pred[values == v], None if stds is None else stds[values == v],
                    None if pattern is None else pattern[values == v])}
                for v in np.unique(values)
            }
    record = {
        "model": name or (zoo.entry.id if zoo else getattr(model, "name", "model")),
        "task": entry.id,
        "dataset": f"{dataset}/{config}:{version}",
        **({"trained_on": f"{dataset}/{zoo.entry.dataset_config}:{zoo.entry.dataset_version}"} if own_dataset else {}),
        "parameters": n_params,
        "splits": results,
        **({"warnings": [mismatch]} if mismatch else {}),
    }
    record["leaderboard"] = leaderboard(record, dataset, config)
    if by:
        record["by_feature"] = {"feature": by if isinstance(by, str) else "/".join(by), **grouped}
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


def _group_names(values: np.ndarray) -> np.ndarray:
    """Each value's group name: floats rounded to 0.01, bytes decoded."""
    values = np.round(values, 2) if values.dtype.kind == "f" else values
    return np.array([_group_name(v) for v in values], dtype=object)


def grouped_table(record: dict) -> str:
    """Markdown: one row per value of the ``by`` feature, one column per split (RMSE or accuracy)."""
    own = task_hook(get_entry(record["task"]), "grouped_table")  # a task's own table
    if own is not None:
        return own(record)
    grouped = {k: v for k, v in record["by_feature"].items() if k != "feature"}
    metric = _headline([m for g in grouped.values() for m in g.values()])
    return group_table(record, metric, lambda m: f"{m[metric]:.3g}" if metric in m else "-")


def _headline(metrics: list[dict]) -> str:
    """The metric a generic table shows: accuracy for classifiers, else the first RMSE, else n."""
    names = [k for m in metrics for k, v in m.items() if isinstance(v, (int, float))]
    return "accuracy" if "accuracy" in names else next((k for k in names if k.startswith("rmse")), "n")


def group_table(record: dict, what: str, cell, key=None) -> str:
    """Markdown: one row per value of the ``by`` feature, one column per split, ``cell(metrics)`` (n) in each; rows
    sorted by ``key`` (default: numbers by value, before names)."""
    grouped = {k: v for k, v in record["by_feature"].items() if k != "feature"}
    key = key or (lambda v: (float(v) if is_number(v) else 0.0, v))
    values = sorted({v for g in grouped.values() for v in g}, key=key)
    lines = [f"{what} by `{record['by_feature']['feature']}` (n in brackets)", "",
             "| value | " + " | ".join(grouped) + " |", "| --- | " + " | ".join("---" for _ in grouped) + " |"]
    for value in values:
        cells = [f"{cell(g[value])} ({g[value]['n']})" if value in g else "-" for g in grouped.values()]
        lines.append(f"| {value} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def is_number(text: str) -> bool:
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
    """Markdown table: this result beside the reference models' card numbers (same task).

    A card's numbers sit unmarked beside the run only if they were measured on the run's dataset
    version (``record["dataset"]``, ``name/config:version``); those of other versions get rows of
    their own, marked ``(card, dataset X.Y.Z)``, after them, and a note under the table says so:
    the same split name holds other examples (and labels) in another version. ``record["warnings"]``
    lines head the table.

    >>> record = {"model": "my_net", "task": "tilt_dcnn", "dataset": "stem_abf_tilt/small:2.0.0",
    ...           "splits": {"test_multislice": {"rmse_deg": 5.9, "sign_accuracy": 0.8}}}
    >>> print(leaderboard(record, "stem_abf_tilt", "small"))  # doctest: +NORMALIZE_WHITESPACE, +ELLIPSIS
    RMSE [deg] / sign accuracy on `stem_abf_tilt/small`
    <BLANKLINE>
    | model | test_multislice |
    | --- | --- |
    | **my_net** (this run) | 5.90 / 0.80 |
    | tilt_dcnn (card, dataset 3.0.0) | ... |
    <BLANKLINE>
    Rows marked `(card, dataset X)` were measured on `stem_abf_tilt/small` X, not on this run's 2.0.0: ...
    """
    task = record["task"]
    version = record["dataset"].rpartition(":")[2]
    rows, marked = [("**" + record["model"] + "** (this run)", record["splits"])], []
    for entry in MODELS.values():
        if entry.id == task and entry.dataset_config == config and entry.id != record["model"]:
            for measured_on, metrics in entry.metrics_by_version().items():
                if measured_on == version:
                    rows.append((f"{entry.id} (card)", metrics))
                else:
                    marked.append((f"{entry.id} (card, dataset {measured_on})", metrics))
    rows += marked
    splits = list(record["splits"])
    own = task_hook(get_entry(task), "leaderboard")  # a task's own table (e.g. detection F1)
    if own is not None:
        table = own(rows, splits, dataset, config)
    elif get_entry(task).is_classifier:
        table = _class_leaderboard(rows, splits, dataset, config)
    else:  # a regression task without its own table: its first RMSE
        metric = _headline([m for _, metrics in rows for m in metrics.values()])
        table = split_table(f"`{metric}` on `{dataset}/{config}`", rows, splits,
                            lambda m: f"{m[metric]:.3g}" if metric in m else "-")
    head = [f"**Warning:** {line}" for line in record.get("warnings", ())]
    note = (f"\nRows marked `(card, dataset X)` were measured on `{dataset}/{config}` X, not on this run's {version}: "
            "another version's split of the same name holds other examples (and may label them differently), so "
            "those numbers do not rank against this run.\n") if marked else ""
    return "\n".join([*head, *([""] if head else []), table]) + note


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

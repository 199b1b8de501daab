"""Scoring atomic-column detection: one-to-one matching, precision/recall/F1, localization RMSE, per class.

Conventions (the same for every method, in :func:`count_detections`):

* A predicted column matches a true one within ``radius_A`` (0.5 A), one to one, with the
  smallest total distance (Hungarian algorithm on the pairs within the radius,
  :func:`match_columns`). Detection counts a match whatever the classes.
* A true column of class 0 is one the detector does not show (``stem_atom_columns`` >= 2.1.0:
  e.g. O beside Sr on HAADF): it is never required, and a predicted column that matches only
  it (within ``radius_A``, after the shown columns are matched) is not a false positive.
* Columns within ``border_px`` (2 px) of the image's edge are left out of the score on both
  sides: the matching uses every column, then a matched pair counts if its true column is
  inside, and an unmatched true or predicted column counts if it is inside. (An edge column
  cut by the frame is neither required nor penalized.)
* ``rmse_pm`` is the root mean squared distance between matched columns, in pm.
* Per true class: ``detection_recall`` (a true column found, whatever its predicted class) and
  ``rmse_pm``.
* Predicted classes are groups within one image (``locate_atoms`` reports relative sublattices,
  :mod:`stem_zoo.tasks.atoms.sublattices`), so ``class_accuracy`` is the *grouping purity*: in
  each image every predicted group is given the true class most of its matched columns have,
  and the fraction of matched columns whose class that is counts. Splitting one true class into
  two groups (B and N of hBN, both "light") costs nothing; merging two classes into one group
  costs the smaller one. A method that predicts the true classes themselves scores at least
  its plain accuracy.
* Over many images the counts are summed (micro-averages); groups (``by``) partition them.

Example (0.2 A/px: the match radius is 2.5 px; errors of 0.5 and 1 px are 10 and 20 pm):
    >>> true = np.array([[10.0, 10.0], [20.0, 10.0], [30.0, 10.0]])
    >>> pred = np.array([[10.5, 10.0], [29.0, 10.0], [40.0, 40.0]])
    >>> counts = count_detections(true, [3, 2, 1], pred, [3, 2, 1], pixel_size=0.2, shape=(64, 64))
    >>> m = summarize([counts])
    >>> m["tp"], m["fp"], m["fn"], m["f1"], m["rmse_pm"], m["class_accuracy"]
    (2, 1, 1, 0.6667, 15.81, 1.0)
    >>> merged = count_detections(true, [3, 2, 1], pred, [1, 1, 1], pixel_size=0.2, shape=(64, 64))
    >>> summarize([merged])["class_accuracy"]  # one group for a heavy and an intermediate column
    0.5
"""

from __future__ import annotations

import math
import time

import numpy as np

from stem_zoo.tasks.atoms.locate import UNCLASSIFIED, AtomColumns
from stem_zoo.micrograph import standardize
from stem_zoo.tasks.atoms.spec import CLASSES, DEFAULT_INPUT, DETECTORS, MULTIPLE, oriented

MATCH_RADIUS_A = 0.5
BORDER_PX = 2.0
_GROUND_TRUTH = ("image", "mask", "columns_xy", "columns_class")


def match_columns(true_xy, pred_xy, radius_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true index, predicted index, distance [px]) of the one-to-one matches within ``radius_px``.

    Minimal total distance over the pairs within the radius (KD-tree candidates, then
    ``scipy.optimize.linear_sum_assignment``).

    >>> match_columns([[0, 0], [3, 0]], [[2.9, 0], [0.2, 0], [9, 9]], radius_px=0.5)
    (array([0, 1]), array([1, 0]), array([0.2, 0.1]))
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial import cKDTree

    true, pred = _xy(true_xy), _xy(pred_xy)
    empty = (np.zeros(0, int), np.zeros(0, int), np.zeros(0))
    if not len(true) or not len(pred):
        return empty
    pairs = cKDTree(true).sparse_distance_matrix(cKDTree(pred), radius_px, output_type="ndarray")
    if not len(pairs):
        return empty
    rows, row_index = np.unique(pairs["i"], return_inverse=True)
    cols, col_index = np.unique(pairs["j"], return_inverse=True)
    forbidden = 1e6 * (radius_px + 1.0)
    cost = np.full((len(rows), len(cols)), forbidden)
    cost[row_index, col_index] = pairs["v"]
    r, c = linear_sum_assignment(cost)
    ok = cost[r, c] <= radius_px
    order = np.argsort(rows[r[ok]], kind="stable")
    return rows[r[ok]][order], cols[c[ok]][order], np.round(cost[r, c][ok][order], 12)


def _xy(points) -> np.ndarray:
    points = np.asarray(points, float)
    if points.size == 0:
        return np.zeros((0, 2))
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"column positions must be (n, 2) arrays of (x, y), got shape {points.shape}.")
    return points


def inside(xy, shape: tuple[int, int], border_px: float = BORDER_PX) -> np.ndarray:
    """Whether each (x, y) lies at least ``border_px`` from the edges of an image of ``shape`` (rows, cols)."""
    xy = _xy(xy)
    h, w = shape
    return ((xy[:, 0] >= border_px) & (xy[:, 0] <= w - 1 - border_px)
            & (xy[:, 1] >= border_px) & (xy[:, 1] <= h - 1 - border_px))


def count_detections(true_xy, true_class, pred_xy, pred_class, pixel_size: float, shape: tuple[int, int],
                     radius_A: float = MATCH_RADIUS_A, border_px: float = BORDER_PX,
                     n_classes: int = len(CLASSES)) -> dict:
    """Additive counts of one image (see the module notes); ``pred_class`` None: positions only.

    Positions are in pixels of the image (``shape`` = rows, cols; ``pixel_size`` A/px);
    true classes are indices 1..n_classes-1, 0 for a column the detector does not show (a don't-care);
    predicted ones any group index >= 1 of this image (-1 unclassified).
    """
    true, pred = _xy(true_xy), _xy(pred_xy)
    t_class = np.asarray(true_class, int).reshape(-1)
    if len(t_class) != len(true):
        raise ValueError("each column position needs one class.")
    hidden = true[t_class == 0]
    true, t_class = true[t_class > 0], t_class[t_class > 0]
    classified = pred_class is not None
    p_class = np.asarray(pred_class, int).reshape(-1) if classified else np.full(len(pred), UNCLASSIFIED)
    if len(p_class) != len(pred):
        raise ValueError("each column position needs one class.")
    if classified and np.any(p_class < 1):
        raise ValueError("predicted classes must be group indices >= 1 (or pred_class=None for positions only).")
    ti, pi, distance = match_columns(true, pred, radius_A / pixel_size)
    t_in, p_in = inside(true, shape, border_px), inside(pred, shape, border_px)
    unmatched_pred = np.ones(len(pred), bool)
    unmatched_pred[pi] = False
    if len(hidden):  # a prediction on a column the image does not show is neither right nor wrong
        free = np.flatnonzero(unmatched_pred)
        unmatched_pred[free[match_columns(hidden, pred[free], radius_A / pixel_size)[1]]] = False
    scored = t_in[ti]  # a matched pair counts where its true column is inside
    ti, pi, distance = ti[scored], pi[scored], distance[scored]
    counted_pred = p_in & unmatched_pred
    counted_pred[pi] = True
    error_pm2 = (distance * pixel_size * 100.0) ** 2
    k = n_classes
    counts = {
        "images": 1,
        "tp": int(len(ti)),
        "fn": int(np.sum(t_in)) - int(len(ti)),
        "fp": int(np.sum(p_in & unmatched_pred)),
        "sse_pm2": float(error_pm2.sum()),
        "true_per_class": np.bincount(t_class[t_in], minlength=k)[:k],
        "tp_per_class": np.bincount(t_class[ti], minlength=k)[:k],
        "sse_per_class_pm2": np.bincount(t_class[ti], weights=error_pm2, minlength=k)[:k],
        "classified": classified,
    }
    if classified:
        confusion = np.zeros((k, int(p_class.max(initial=0)) + 1), int)
        np.add.at(confusion, (t_class[ti], p_class[pi]), 1)
        counts["grouped"] = int(confusion.max(axis=0).sum())  # each group counted as its majority true class
    return counts


def pixel_confusion(mask: np.ndarray, probabilities: np.ndarray, n_classes: int = len(CLASSES)) -> np.ndarray:
    """(classes x classes) pixel counts of true class (rows) vs argmax class (columns)."""
    pred = np.argmax(probabilities, axis=-1).ravel()
    true = np.asarray(mask, int).ravel()
    return np.bincount(true * n_classes + pred, minlength=n_classes**2)[: n_classes**2].reshape(n_classes, n_classes)


def add_counts(a: dict, b: dict) -> dict:
    """The sum of two images' (or groups') counts."""
    out = {}
    for key in set(a) | set(b):
        if key == "classified":
            out[key] = a.get(key, True) and b.get(key, True)
        elif key in a and key in b:
            out[key] = a[key] + b[key]
        else:
            out[key] = a.get(key, b.get(key))
    return out


def summarize(counts: list[dict], classes: tuple[str, ...] = CLASSES) -> dict:
    """Metrics of summed counts: precision, recall, F1, RMSE [pm], class accuracy, per class, pixel IoU."""
    if not counts:
        return {"n": 0}
    total = counts[0]
    for c in counts[1:]:
        total = add_counts(total, c)
    tp, fp, fn = total["tp"], total["fp"], total["fn"]
    out = {"n": int(total["images"]), "n_true": tp + fn, "n_pred": tp + fp, "tp": tp, "fp": fp, "fn": fn,
           "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn), "f1": _ratio(2 * tp, 2 * tp + fp + fn),
           "rmse_pm": _rmse(total["sse_pm2"], tp)}
    classified = total.get("classified", False) and "grouped" in total
    if classified:
        out["class_accuracy"] = _ratio(total["grouped"], tp)
    per_class = {}
    for k, name in enumerate(classes):
        if k == 0:
            continue
        n_true, found = int(total["true_per_class"][k]), int(total["tp_per_class"][k])
        metrics = {"n_true": n_true, "detection_recall": _ratio(found, n_true),
                   "rmse_pm": _rmse(float(total["sse_per_class_pm2"][k]), found)}
        if n_true:
            per_class[name] = metrics
    out["per_class"] = per_class
    if "pixel_confusion" in total:
        pixels = total["pixel_confusion"]
        union = pixels.sum(0) + pixels.sum(1) - np.diag(pixels)
        iou = {name: _ratio(int(pixels[k, k]), int(union[k])) for k, name in enumerate(classes) if union[k]}
        out["pixel_accuracy"] = _ratio(int(np.trace(pixels)), int(pixels.sum()))
        out["mean_iou"] = round(float(np.mean(list(iou.values()))), 4)
        out["iou"] = iou
    return out


def _ratio(a: float, b: float) -> float:
    return round(float(a) / float(b), 4) if b else float("nan")


def _rmse(sse: float, n: int) -> float:
    return round(math.sqrt(sse / n), 2) if n else float("nan")


# --- scoring a split ------------------------------------------------------------------------------------------------


class FcnLocator:
    """``locate`` for a Keras model or callable giving per-pixel class probabilities (see :func:`locate_atoms`)."""

    def __init__(self, model, input_spec, threshold: float = 0.5, min_separation_A: float = 1.0, refine: bool = True,
                 prior_sigma_A: float | None = None):
        from stem_zoo.tasks.atoms.locate import PRIOR_SIGMA_A, _probability_predictor

        self.model, self.spec, self.threshold, self.min_separation_A = model, input_spec, threshold, min_separation_A
        self.refine, self.prior_sigma_A = refine, PRIOR_SIGMA_A if prior_sigma_A is None else prior_sigma_A
        self.predict = _probability_predictor(model)
        self.name = getattr(getattr(model, "zoo", None), "entry", None)
        self.name = self.name.id if self.name else getattr(model, "name", "model")

    def locate(self, image, pixel_size: float, detector: str | None = None) -> AtomColumns:
        from stem_zoo.tasks.atoms.locate import locate_atoms

        return locate_atoms(image, self.model, pixel_size, self.threshold, self.min_separation_A,
                            model_pixel_size=self.spec.pixel_size, refine=self.refine, prior_sigma_A=self.prior_sigma_A,
                            detector=detector or "auto")

    def locate_batch(self, images: list[np.ndarray], pixel_sizes: list[float], detectors=None) -> list[AtomColumns]:
        """One network call for images already at the model's pixel size and of one shape; else one by one."""
        from stem_zoo.tasks.atoms.locate import GROUPS, fcn_column_table, read_columns

        shapes = {np.shape(i) for i in images}
        same_size = all(abs(p / self.spec.pixel_size - 1) < 1e-4 for p in pixel_sizes)
        detectors = list(detectors) if detectors is not None else [None] * len(images)
        if len(shapes) != 1 or not same_size:
            return [self.locate(i, p, d) for i, p, d in zip(images, pixel_sizes, detectors)]
        h, w = next(iter(shapes))
        bright = [standardize(oriented(i, d or "auto")) for i, d in zip(images, detectors)]
        batch = np.stack([np.pad(b, ((0, -h % MULTIPLE), (0, -w % MULTIPLE)), mode="reflect") for b in bright])[..., None]
        probabilities = self.predict(batch)[:, :h, :w]
        out = []
        for image, columns_bright, pixel_size, probs in zip(images, bright, pixel_sizes, probabilities):
            t = read_columns(probs, columns_bright, self.spec.pixel_size, self.threshold, self.min_separation_A,
                             self.refine, self.prior_sigma_A)
            table = fcn_column_table(t, t["x"], t["y"], pixel_size, pixel_size)
            out.append(AtomColumns(table, np.asarray(image, np.float32), float(pixel_size), probs, self.name, GROUPS))
        return out


def as_locator(model, entry=None, threshold: float = 0.5):
    """An object with ``locate(image, pixel_size, detector=None)``: the model if it has one (e.g.
    :class:`stem_zoo.tasks.atoms.locate.LoGBaseline`), else a :class:`FcnLocator` of the entry's input spec."""
    if hasattr(model, "locate"):
        return model

    zoo = getattr(model, "zoo", None)
    spec = zoo.entry.input if zoo else (entry.input if entry is not None else DEFAULT_INPUT)
    return FcnLocator(model, spec, threshold)


def score_examples(model, examples, entry=None, batch_size: int = 16, features=None,
                   radius_A: float = MATCH_RADIUS_A, border_px: float = BORDER_PX) -> list[dict]:
    """Per-example records of a model or locator on dataset examples, in their order.

    Each record: ``counts`` (:func:`count_detections`), ``features`` (the example's scalar
    features), ``seconds`` (locating time), ``pred_xy`` and ``true_xy`` [px], ``shape``, ``pixel_size``.

    ``examples``: a ``tf.data.Dataset`` or iterable of dicts with ``image`` (H, W[, 1]),
    ``pixel_size``, ``columns_xy``, ``columns_class`` (and ``mask``, ``detector``, ``dose``, ...,
    kept as the record's features; ``features`` = the builder's ``info.features`` names
    class labels). A locator with a ``detector`` argument gets each example's detector.
    """
    locator = as_locator(model, entry)
    feature_name = entry.input.feature if entry is not None else "image"
    iterator = examples.as_numpy_iterator() if hasattr(examples, "as_numpy_iterator") else iter(examples)
    records, batch = [], []
    for example in iterator:
        batch.append(example)
        if len(batch) == batch_size:
            records += _score_batch(locator, batch, feature_name, features, radius_A, border_px)
            batch = []
    if batch:
        records += _score_batch(locator, batch, feature_name, features, radius_A, border_px)
    return records


def _score_batch(locator, batch: list[dict], feature: str, features, radius_A: float, border_px: float) -> list[dict]:
    images = [np.asarray(e[feature], np.float32).reshape(np.shape(e[feature])[:2]) for e in batch]
    pixel_sizes = [float(e["pixel_size"]) for e in batch]
    meta = [_features(e, features) for e in batch]
    detectors = [m.get("detector") for m in meta]
    start = time.perf_counter()
    if hasattr(locator, "locate_batch"):
        results = locator.locate_batch(images, pixel_sizes, detectors)
    else:
        results = [locator.locate(i, p, detector=d) for i, p, d in zip(images, pixel_sizes, detectors)]
    seconds = (time.perf_counter() - start) / len(batch)
    records = []
    for example, image, result, m in zip(batch, images, results, meta):
        counts = count_detections(example["columns_xy"], example["columns_class"], result.xy,
                                  result["class_id"] if result.classified else None, float(example["pixel_size"]),
                                  image.shape, radius_A, border_px)
        if result.probabilities is not None and "mask" in example:
            counts["pixel_confusion"] = pixel_confusion(example["mask"], result.probabilities)
        shown = np.asarray(example["columns_class"]).reshape(-1) > 0
        records.append({"counts": counts, "features": m, "seconds": seconds, "pred_xy": result.xy,
                        "true_xy": _xy(example["columns_xy"])[shown], "shape": image.shape,
                        "pixel_size": float(example["pixel_size"])})
    return records


def _features(example: dict, features=None) -> dict:
    """The example's scalar features other than the image and ground truth, as plain Python values."""
    out = {}
    for key, value in example.items():
        if key in _GROUND_TRUTH or np.ndim(value) != 0:
            continue
        value = value.item() if hasattr(value, "item") else value
        if isinstance(value, bytes):
            value = value.decode()
        elif features is not None and key in features and hasattr(features[key], "int2str"):
            value = features[key].int2str(int(value))
        elif key == "detector" and isinstance(value, int) and 0 <= value < len(DETECTORS):
            value = DETECTORS[value]  # the dataset's ClassLabel order, when no feature info is given
        out[key] = value
    return out


def group_metrics(records: list[dict], by: str) -> dict:
    """{value: metrics} of the records grouped by a feature, or by ``"class"`` (of the true column).

    Floats are rounded to 2 decimals, except ``dose``, which is continuous (log-uniform in
    ``stem_atom_columns``): it is grouped in half decades, e.g. "1e3..3.2e3" (e/A^2).
    """
    if by == "class":
        overall = summarize([r["counts"] for r in records])
        return {name: {"n": m["n_true"], **m} for name, m in overall["per_class"].items()}
    missing = [r for r in records if by not in r["features"]]
    if missing:
        have = sorted(records[0]["features"]) if records else []
        raise ValueError(f"the examples have no feature {by!r}; they have {', '.join(have)} (or use by='class').")
    groups: dict[str, list[dict]] = {}
    for r in records:
        value = r["features"][by]
        name = dose_bin(value) if by == "dose" else _group_name(value)
        groups.setdefault(name, []).append(r["counts"])
    return {name: summarize(counts) for name, counts in sorted(groups.items(), key=lambda kv: _sort_key(kv[0]))}


def dose_bin(dose: float) -> str:
    """The half decade holding a dose, e.g. 2000 -> "1e3..3.2e3", 5000 -> "3.2e3..1e4".

    >>> dose_bin(2000.0), dose_bin(5000.0), dose_bin(1e5)
    ('1e3..3.2e3', '3.2e3..1e4', '1e5..3.2e5')
    """
    if not dose > 0:
        return str(dose)
    k = math.floor(2 * math.log10(dose) + 1e-9)
    return f"{_short(10 ** (k / 2))}..{_short(10 ** ((k + 1) / 2))}"


def _short(value: float) -> str:
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def _group_name(value) -> str:
    return f"{round(value, 2):g}" if isinstance(value, float) else str(value)


def _sort_key(name: str):
    try:
        return (0, float(name.split("..")[0]), name)
    except ValueError:
        return (1, 0.0, name)


def common_rmse(records_a: list[dict], records_b: list[dict], radius_A: float = MATCH_RADIUS_A,
                border_px: float = BORDER_PX) -> tuple[float, float, int]:
    """(RMSE of a, RMSE of b [pm], n): localization errors over the true columns that both methods matched.

    ``records_a`` and ``records_b`` are :func:`score_examples` records of the same examples in
    the same order. Each method's RMSE over its own matches favours the method that finds
    only the easy columns; this compares them on the same columns.
    """
    if len(records_a) != len(records_b):
        raise ValueError("the two methods were scored on different numbers of examples.")
    errors_a, errors_b = [], []
    for a, b in zip(records_a, records_b):
        if not np.array_equal(a["true_xy"], b["true_xy"]):
            raise ValueError("the two methods' records are not of the same examples in the same order.")
        radius, keep = radius_A / a["pixel_size"], inside(a["true_xy"], a["shape"], border_px)
        ta, pa, da = match_columns(a["true_xy"], a["pred_xy"], radius)
        tb, pb, db = match_columns(b["true_xy"], b["pred_xy"], radius)
        common = np.intersect1d(ta[keep[ta]], tb[keep[tb]])
        errors_a.append(da[np.isin(ta, common)] * a["pixel_size"] * 100.0)
        errors_b.append(db[np.isin(tb, common)] * b["pixel_size"] * 100.0)
    ea, eb = (np.concatenate(e) if e else np.zeros(0) for e in (errors_a, errors_b))
    return _rmse(float(np.sum(ea**2)), len(ea)), _rmse(float(np.sum(eb**2)), len(eb)), int(len(ea))


def score_split(model, examples, entry, by: str | None = None, features=None,
                batch_size: int = 16) -> tuple[dict, dict | None]:
    """(metrics of the split, {value: metrics} grouped by ``by`` or None): the benchmark hook of atom_fcn.

    ``model``: a Keras model or callable giving per-pixel probabilities (run at the entry's
    input spec), or a locator such as :class:`stem_zoo.tasks.atoms.locate.LoGBaseline`.
    """
    records = score_examples(model, examples, entry, batch_size, features)
    metrics = summarize([r["counts"] for r in records])
    seconds = sum(r["seconds"] for r in records)
    metrics["images_per_s"] = round(len(records) / seconds, 1) if seconds else float("nan")
    return metrics, (group_metrics(records, by) if by else None)


# --- tables ---------------------------------------------------------------------------------------------------------


def _cell(metrics: dict) -> str:
    """F1 / RMSE [pm]; "R" detection recall / RMSE for a per-class entry of a method without classes."""
    if "f1" in metrics:
        return f"{metrics['f1']:.3f} / {metrics['rmse_pm']:.1f}"
    if "detection_recall" in metrics:
        return f"R {metrics['detection_recall']:.3f} / {metrics['rmse_pm']:.1f}"
    return "-"


def leaderboard(rows, splits, dataset: str, config: str) -> str:
    """Markdown: detection F1 / localization RMSE [pm] per split, one row per model."""
    from stem_zoo.benchmarking import split_table

    return split_table(f"Column detection F1 / RMSE [pm] (match radius {MATCH_RADIUS_A} A) on `{dataset}/{config}`",
                       rows, splits, _cell)


def grouped_table(record: dict) -> str:
    """Markdown: F1 / RMSE [pm] per value of the ``by`` feature (n images, or true columns for classes, in brackets)."""
    from stem_zoo.benchmarking import group_table

    return group_table(record, "F1 / RMSE [pm]", _cell, key=_sort_key)

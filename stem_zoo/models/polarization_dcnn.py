"""``polarization_dcnn``: per-cell polarization (Px, Py) [pm] of BiFeO3 from one HAADF sub-image.

After Ghosh, Nelson et al., npj Comput. Mater. 7, 149 (2021): a small DCNN regresses the
projected displacement delta_FeBi of a window's Fe column from the mean of its four Bi
neighbours (``stem_bfo_polarization``'s ``polarization_pm``), in pm, in the image frame:
x along a row (to the right), y down the rows.

Architecture (:func:`build_polarization_dcnn`): 3 x 3 convolutions ("same" padding, batch
normalization before ReLU) of 32, 32 filters, 2 x 2 average pooling, 64, 64, pooling, 128,
then flatten (the layout relative to the window's centre matters: no global pooling), a
dense layer of 128 units with dropout and a linear dense layer of 2: 730,018 parameters for
24 x 24 px windows. Average rather than max pooling: the signal is a sub-pixel shift (25 pm
is a tenth of a 0.25 A pixel), which averaging passes on linearly.

Inputs are standardized outside the model, per window (zero mean, unit std:
:func:`standardize_windows`, :func:`standardize_tf`), the same in training, benchmarks and
:func:`stem_zoo.polarization.predict_polarization`.

Training (``stem-zoo train polarization_dcnn``): Huber loss with ``TrainSettings.huber_delta``
read in pm (default 25 pm, about one cell's |P|: quadratic for ordinary errors, linear for
gross outliers such as a window on a mislocated column), Adam with the learning rate halved
every ``decay_every_epochs`` (as ``tilt_dcnn``, without decaying the delta). Augmentation:
one of the 8 symmetries of the square (:func:`symmetry_tf`) applied to the window and to
its label vector together. Metrics (:func:`polarization_metrics`, the benchmark hook
:func:`score_split`): RMSE of Px, of Py and of the vector, magnitude error, angle error.

Example:
    >>> model = build_polarization_dcnn()
    >>> model.output_shape, model.count_params()
    ((None, 2), 730018)
    >>> m = polarization_metrics([[30.0, 0.0], [0.0, 2.0]], [[27.0, 4.0], [0.0, 2.0]])
    >>> m["rmse_px_pm"], m["rmse_py_pm"], m["rmse_pm"], m["magnitude_error_pm"], m["n_angle"]
    (2.1213, 2.8284, 3.5355, -1.3527, 1)
    >>> round(m["angle_mae_deg"], 2)  # only the first cell has |P_true| > 5 pm
    8.43
"""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
from keras import layers

from stem_zoo.registry import InputSpec

STANDARDIZE_EPS = 1e-6
MIN_ANGLE_MAGNITUDE_PM = 5.0  # the direction of smaller true vectors is not scored
# (filters) per 3 x 3 convolution; "pool" = 2 x 2 average pooling
PLAN = (32, 32, "pool", 64, 64, "pool", 128)
FC_UNITS = 128
DROPOUT = 0.25

DEFAULT_INPUT = InputSpec(
    crop_shape=(24, 24), pixel_size=0.25,
    normalization="stem_zoo.models.polarization_dcnn.standardize_windows: zero mean, unit std per window, "
                  "outside the model",
    crop_convention="24 x 24 px (6 A) windows at 0.25 A/px centred on an Fe column (stem_datasets.subimages: "
                    "the column on window pixel (12, 12)); label delta_FeBi (x, y) [pm], image frame (x along a "
                    "row, y down the rows); training applies one of the 8 symmetries of the square about that "
                    "pixel to window and label together",
    feature="image",
    lattice_constant=3.8206,  # A: the pseudo-cubic period of stem_bfo_polarization's BiFeO3 in projection
)


def build_polarization_dcnn(input_spec: InputSpec = DEFAULT_INPUT, fc_units: int = FC_UNITS,
                            dropout: float = DROPOUT) -> keras.Model:
    """The untrained network: standardized windows (None, h, w, channels) -> (Px, Py) [pm]."""
    inputs = keras.Input((*input_spec.crop_shape, input_spec.channels), name="window")
    x = inputs
    n_conv = n_pool = 0
    for step in PLAN:
        if step == "pool":
            n_pool += 1
            x = layers.AveragePooling2D(2, name=f"pool{n_pool}")(x)
            continue
        n_conv += 1
        x = layers.Conv2D(step, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
                          name=f"conv{n_conv}")(x)
        x = layers.BatchNormalization(name=f"bn{n_conv}")(x)
        x = layers.ReLU(name=f"relu{n_conv}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(fc_units, activation="relu", kernel_initializer="he_normal", name="fc1")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(2, name="polarization_pm")(x)
    return keras.Model(inputs, outputs, name="polarization_dcnn")


# --- normalization and augmentation ---------------------------------------------------------------------------------


def standardize_windows(windows) -> np.ndarray:
    """Each window (n, h, w[, 1]) to zero mean and unit std (numpy, float32); a constant window becomes zeros.

    >>> standardize_windows(np.array([[[1.0, 3.0]], [[5.0, 5.0]]])).tolist()
    [[[-1.0, 1.0]], [[0.0, 0.0]]]
    """
    windows = np.asarray(windows, np.float64)
    axes = tuple(range(1, windows.ndim))
    mean = windows.mean(axis=axes, keepdims=True)
    std = np.maximum(windows.std(axis=axes, keepdims=True), STANDARDIZE_EPS)
    return ((windows - mean) / std).astype(np.float32)


def standardize_tf(window):
    """Zero mean, unit std over one window (TensorFlow), as :func:`standardize_windows`."""
    import tensorflow as tf

    window = tf.cast(window, tf.float32)
    mean, variance = tf.nn.moments(window, axes=list(range(window.shape.rank)))
    return (window - mean) / tf.maximum(tf.sqrt(variance), STANDARDIZE_EPS)


def rotate_vector(vector, k: int, flip: bool) -> np.ndarray:
    """(Px, Py) after the window symmetry (k, flip) of :func:`symmetry_tf` (numpy; image frame, y down).

    A quarter turn counter-clockwise as seen on the screen takes (Px, Py) to (Py, -Px);
    the left-right flip that follows negates Px.

    >>> [rotate_vector([30.0, 10.0], k, False).tolist() for k in range(4)]
    [[30.0, 10.0], [10.0, -30.0], [-30.0, -10.0], [-10.0, 30.0]]
    >>> rotate_vector([30.0, 10.0], 1, True).tolist()
    [-10.0, -30.0]
    """
    px, py = np.asarray(vector, np.float64)
    for _ in range(int(k) % 4):
        px, py = py, -px
    return np.array([-px if flip else px, py])


def symmetry_tf(window, vector, k, flip):
    """One of the 8 symmetries of the square, the same for a window (h, h, c) and its vector (Px, Py).

    The window turns ``k`` quarter turns counter-clockwise as displayed (``tf.image.rot90``,
    like ``np.rot90``), then is mirrored left-right if ``flip``; the vector follows
    (:func:`rotate_vector`): a quarter turn takes (Px, Py) to (Py, -Px) with y pointing
    down the rows, the flip negates Px.

    The symmetries act about the window's reference pixel (h // 2, h // 2), where
    ``stem_datasets.subimages`` puts the column a window is centred on, not about the
    geometric middle: for an even h the window is padded by one replicated row and column at
    the bottom and right (an odd square whose middle is that pixel), transformed and cut
    back, so the centred column stays on its pixel and one edge row / column of the result
    repeats its neighbour.
    """
    import tensorflow as tf

    size = int(window.shape[0])
    if window.shape.rank != 3 or window.shape[1] != size:
        raise ValueError(f"symmetry_tf needs a square window (h, h, channels), got shape {window.shape}.")
    x = tf.pad(window, [[0, 1], [0, 1], [0, 0]], mode="SYMMETRIC") if size % 2 == 0 else window
    k = tf.cast(k, tf.int32) % 4
    x = tf.image.rot90(x, k)
    flip = tf.cast(flip, tf.bool)
    x = tf.cond(flip, lambda: tf.image.flip_left_right(x), lambda: x)
    x = x[:size, :size]
    angle = tf.cast(k, tf.float32) * (math.pi / 2)
    c, s = tf.round(tf.cos(angle)), tf.round(tf.sin(angle))
    vector = tf.cast(vector, tf.float32)
    px = c * vector[0] + s * vector[1]
    py = -s * vector[0] + c * vector[1]
    px = tf.where(flip, -px, px)
    return tf.ensure_shape(x, window.shape), tf.stack([px, py])


# --- stem_zoo.train hooks -------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="stem_zoo")
class Huber(keras.losses.Loss):
    """Huber loss [pm^2] with a fixed ``delta`` [pm], mean over (Px, Py).

    Keras' own ``keras.losses.Huber`` (3.15) leaves ``delta`` out of its config, so a saved
    model would come back with delta = 1; this one keeps it.
    """

    def __init__(self, delta: float = 25.0, name: str = "huber_pm", **kwargs):
        super().__init__(name=name, **kwargs)
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        error = keras.ops.abs(keras.ops.cast(y_pred, "float32") - keras.ops.cast(y_true, "float32"))
        quadratic = keras.ops.minimum(error, self.delta)
        return keras.ops.mean(0.5 * quadratic**2 + self.delta * (error - quadratic), axis=-1)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


@keras.saving.register_keras_serializable(package="stem_zoo")
class PolarizationRMSE(keras.metrics.Metric):
    """RMSE [pm] of one component (0: Px, 1: Py) or, with ``component=None``, of the vector (sqrt of mean |dP|^2)."""

    def __init__(self, component: int | None = None, name: str = "rmse_pm", **kwargs):
        super().__init__(name=name, **kwargs)
        self.component = component
        self.total = self.add_variable((), initializer="zeros", name="total")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        ops = keras.ops
        error = ops.cast(y_pred, "float32") - ops.cast(y_true, "float32")
        squared = ops.square(error[:, self.component]) if self.component is not None else ops.sum(ops.square(error), -1)
        self.total.assign_add(ops.sum(squared))
        self.count.assign_add(ops.cast(ops.shape(squared)[0], "float32"))

    def result(self):
        return keras.ops.sqrt(keras.ops.divide_no_nan(self.total, self.count))

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "component": self.component}


def training_setup(settings) -> tuple:
    """(loss, optimizer, metrics, callbacks) for ``stem_zoo.train``.

    Huber loss with delta = ``settings.huber_delta`` read in pm, Adam whose learning rate
    halves every ``settings.decay_every_epochs`` epochs (staircase); metrics: RMSE of Px, Py
    and of the vector [pm].
    """
    initial, every = float(settings.learning_rate), max(1, int(settings.decay_every_epochs))
    return (
        Huber(float(settings.huber_delta)),
        keras.optimizers.Adam(initial),
        [PolarizationRMSE(0, name="rmse_px_pm"), PolarizationRMSE(1, name="rmse_py_pm"),
         PolarizationRMSE(None, name="rmse_pm")],
        [keras.callbacks.LearningRateScheduler(lambda epoch, lr=None: initial * 0.5 ** (epoch // every))],
    )


def _window_size(entry) -> int:
    h, w = (int(v) for v in entry.input.crop_shape)
    if h != w:
        raise ValueError(f"polarization_dcnn reads square windows; the entry's crop is {h} x {w}.")
    return h


def train_inputs(ds, entry, seed: int):
    """(standardized window (h, h, 1), (Px, Py) [pm]) for training, reproducible per seed.

    Each example gets one of the 8 symmetries of the square, drawn per example from
    ``seed`` and its index, applied to the window and its label (:func:`symmetry_tf`); then
    the window is standardized (:func:`standardize_tf`).
    """
    import tensorflow as tf

    size = _window_size(entry)
    feature, label = entry.input.feature, entry.label
    shape = ds.element_spec[feature].shape
    if shape.rank == 3 and shape[0] is not None and tuple(shape[:2]) != (size, size):
        raise ValueError(f"the dataset's {feature!r} windows are {shape[0]} x {shape[1]} px, not the entry's "
                         f"{size} x {size}.")

    def one(index, example):
        seeds = tf.random.experimental.stateless_split(tf.stack([tf.cast(seed, tf.int64), index]), num=2)
        k = tf.random.stateless_uniform([], seed=seeds[0], maxval=4, dtype=tf.int32)
        flip = tf.random.stateless_uniform([], seed=seeds[1], maxval=2, dtype=tf.int32) > 0
        window = tf.ensure_shape(tf.cast(example[feature], tf.float32), (size, size, entry.input.channels))
        window, vector = symmetry_tf(window, example[label], k, flip)
        return standardize_tf(window), vector

    return ds.enumerate().map(one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def eval_input(example: dict, entry):
    """The un-augmented input of one example: its window, standardized."""
    return standardize_tf(example[entry.input.feature])


# --- metrics and stem_zoo.benchmarking hooks ------------------------------------------------------------------------


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
    from stem_zoo.atoms_metrics import dose_bin

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

    from stem_zoo.benchmarking import _as_predictor

    predict, _ = _as_predictor(model)
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


# --- stem-zoo report ------------------------------------------------------------------------------------------------


def report(entries, out_dir, config: str, data_dir: str | None = None) -> list[Path]:
    """``stem-zoo report``'s part: the benchmark by domain pattern and truth vs prediction over a wall field.

    A model without weights in its folder gets a one-paragraph report saying so (the
    registry lists a model from its ``config.json`` before it is trained).
    """
    from stem_zoo.hub import MODEL_FILE
    from stem_zoo.registry import FOLDERS

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for entry in entries:
        path = out / f"{entry.id}_{config}.md"
        if not (FOLDERS[entry.id] / MODEL_FILE).is_file():
            path.write_text(f"# {entry.id} on {entry.dataset}/{config}\n\nNot trained yet: "
                            f"{FOLDERS[entry.id] / MODEL_FILE} does not exist. Train it with `stem-zoo train "
                            f"{entry.id} --config {entry.dataset_config} --out runs/{entry.id}` and stage the run "
                            "with `stem_zoo.hub`.\n")
        else:
            write_zoo_report(entry, out, config, data_dir, path)
        paths.append(path)
    return paths


def write_zoo_report(entry, out: Path, config: str, data_dir: str | None, path: Path) -> Path:
    """Benchmark ``entry`` by pattern on ``<dataset>/<config>`` and draw truth vs prediction on one field."""
    import json

    from stem_zoo import data
    from stem_zoo.benchmarking import benchmark
    from stem_zoo.hub import load
    from stem_zoo.polarization_plots import comparison_figure

    model = load(entry.id)
    result = benchmark(model, config=config, data_dir=data_dir, out_dir=out, by="pattern")
    builder = data.load_builder(entry.dataset, config, data_dir)
    field = field_comparison(model, builder, entry)
    lines = [f"# {entry.id} on {entry.dataset}/{config}", "",
             f"Model source: `{model.zoo.source}`; {result['parameters']:,} parameters; "
             f"sub-images: {dict(entry.subset)}.", "", result["leaderboard"], ""]
    if field is not None:
        figure = out / f"{entry.id}_{config}_field.png"
        comparison_figure(field["xy"], field["true"], field["pred"], figure,
                          title=f"{entry.id}: {field['field']} ({field['pattern']}, split {field['split']}, "
                                f"noise draw 0)")
        lines += [f"## Truth and prediction over one field ({field['pattern']})", "",
                  f"Field `{field['field']}` of `{field['split']}`, {len(field['xy'])} windows: "
                  f"RMSE Px / Py {field['metrics']['rmse_px_pm']:.1f} / {field['metrics']['rmse_py_pm']:.1f} pm.", "",
                  f"![field]({figure.name})", ""]
    lines += holdout_section(model, out, f"{entry.id}_holdout")
    lines += ["```json", json.dumps({k: v for k, v in result.items() if k != "leaderboard"}, indent=1), "```", ""]
    path.write_text("\n".join(lines))
    return path


def field_labels(field: dict, result) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(matched windows, their true P, their predicted P) of a map (:class:`stem_zoo.polarization.PolarizationMap`)
    of a simulated field (``cells_xy`` [px], ``polarization_pm``, ``pixel_size``), labelled as the dataset labels them:
    a centred window by the Fe column within ``MATCH_RADIUS`` of its centre (others unmatched: the atom finder's
    misses and strays), a grid window by the nearest Fe column."""
    from scipy.spatial import cKDTree

    from stem_datasets.bfo_polarization import MATCH_RADIUS

    distance, index = cKDTree(field["cells_xy"]).query(result.xy)
    centred = result.sampling == "centred"
    matched = distance < MATCH_RADIUS / field["pixel_size"] if centred else np.ones(len(index), bool)
    return matched, field["polarization_pm"][index[matched]], result.P_pm[matched]


def holdout_section(model, out: Path, stem: str) -> list[str]:
    """Markdown and figures: the model's map of a freshly simulated two-domain field outside the dataset's draws
    (:func:`stem_datasets.bfo_polarization.holdout_field`, ~1 min of PRISM the first time, then cached)."""
    from stem_datasets.bfo_polarization import holdout_field
    from stem_datasets.cache import SimulationCache
    from stem_zoo.polarization import predict_polarization
    from stem_zoo.polarization_plots import comparison_figure

    field = holdout_field(cache=SimulationCache())
    result = predict_polarization(field["image"], model, pixel_size=field["pixel_size"])
    matched, truth, pred = field_labels(field, result)
    labelled = "lie on a true Fe column" if result.sampling == "centred" else "take their nearest Fe column's label"
    metrics = polarization_metrics(truth, pred)
    figures = result.figures(out, stem)
    comparison = comparison_figure(result.xy[matched], truth, pred, out / f"{stem}_comparison.png",
                                   shape=field["image"].shape, title=f"{stem}: truth / prediction / difference")
    return ["## A two-domain field outside the dataset's draws", "",
            "BiFeO3 [100]pc, 8 x 8 cells, 7.6 nm thick (no field of the dataset has it), 4% Sm (no split holds it), "
            "a 109 deg wall through the middle (a 90 deg turn in projection), defocus -20 A, 5e5 e-/A^2, a rotated "
            f"and drifting scan. {int(matched.sum())} of {len(result.xy)} {result.sampling} windows {labelled}: "
            f"RMSE Px / Py {metrics['rmse_px_pm']:.1f} / {metrics['rmse_py_pm']:.1f} pm, magnitude "
            f"error {metrics['magnitude_error_pm']:+.1f} pm, angle error {metrics['angle_mae_deg']:.1f} deg.", "",
            *[f"![{p.stem}]({p.name})" for p in (*figures, comparison)], ""]


def field_comparison(model, builder, entry, splits=("test_unseen_field", "validation", "test")) -> dict | None:
    """Truth and prediction at the window centres of one field (a domain wall if there is one), noise draw 0."""
    from stem_zoo import data

    for split in (s for s in splits if s in builder.info.splits):
        found: dict = {}
        for example in data.examples(builder, split, entry).as_numpy_iterator():
            if int(example.get("noise_draw", 0)) != 0:
                continue
            found.setdefault(example["field"].decode(), []).append(example)
        walls = [f for f, e in found.items() if e[0]["pattern"].decode().startswith("wall")]
        chosen = (walls or sorted(found))[:1]
        if not chosen:
            continue
        examples = found[chosen[0]]
        true, pred, _, _ = predictions(model, examples, entry)
        return {"split": split, "field": chosen[0], "pattern": examples[0]["pattern"].decode(),
                "xy": np.stack([e["centre_xy"] for e in examples]), "true": true, "pred": pred,
                "metrics": polarization_metrics(true, pred)}
    return None

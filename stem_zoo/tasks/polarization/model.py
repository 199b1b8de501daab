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
:func:`stem_zoo.micrograph.standardize` per window, its ``standardize_tf``), the same in training, benchmarks and
:func:`stem_zoo.tasks.polarization.predict.predict_polarization`.

Training (``stem-zoo train polarization_dcnn``): Huber loss with ``TrainSettings.huber_delta``
read in pm (default 25 pm, about one cell's |P|: quadratic for ordinary errors, linear for
gross outliers such as a window on a mislocated column), Adam with the learning rate halved
every ``decay_every_epochs`` (as ``tilt_dcnn``, without decaying the delta). Augmentation:
one of the 8 symmetries of the square (:func:`symmetry_tf`) applied to the window and to
its label vector together. Metrics: :mod:`stem_zoo.tasks.polarization.metrics`; its part of
``stem-zoo report``: :mod:`stem_zoo.tasks.polarization.report`.

Example:
    >>> model = build_polarization_dcnn()
    >>> model.output_shape, model.count_params()
    ((None, 2), 730018)
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers

from stem_zoo.micrograph import standardize_tf
from stem_zoo.registry import InputSpec

MIN_ANGLE_MAGNITUDE_PM = 5.0  # the direction of smaller true vectors is not scored
# (filters) per 3 x 3 convolution; "pool" = 2 x 2 average pooling
PLAN = (32, 32, "pool", 64, 64, "pool", 128)
FC_UNITS = 128
DROPOUT = 0.25

DEFAULT_INPUT = InputSpec(
    crop_shape=(24, 24), pixel_size=0.25,
    normalization="stem_zoo.micrograph.standardize: zero mean, unit std per window, "
                  "outside the model",
    crop_convention="24 x 24 px (6 A) windows at 0.25 A/px centred on an Fe column (stem_datasets.pipeline.subimages: "
                    "the column on window pixel (12, 12)); label delta_FeBi (x, y) [pm], image frame (x along a "
                    "row, y down the rows); training applies one of the 8 symmetries of the square about that "
                    "pixel to window and label together",
    feature="image",
    lattice_constant=3.9644,  # A: the pseudo-cubic period of stem_bfo_polarization 2.0.0's BiFeO3 (R3c, Palewicz 2007)
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
    ``stem_datasets.pipeline.subimages`` puts the column a window is centred on, not about the
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
    the window is standardized (:func:`stem_zoo.micrograph.standardize_tf`).
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

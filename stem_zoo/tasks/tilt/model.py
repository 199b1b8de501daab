"""``tilt_dcnn``: the octahedral-tilt regressor of Laanait, He & Borisevich (Methods 3.2, Fig. S2), with an uncertainty.

Ten convolution layers (batch normalization before ReLU, He initialization, L2 1e-4),
average pooling only (max pooling hurt in the paper), two fully connected layers with a
tanh before the linear output. The paper's head gives (alpha, beta, gamma) in degrees; the
Gaussian head (``uncertainty=True``, version 2) gives six numbers per crop: the mean of the
canonical (alpha, beta, gamma), then one raw number per quantity of :data:`STD_BASIS`,
(alpha + beta, beta - alpha, gamma), whose standard deviation is
``STD_FLOOR_DEG + softplus(raw + STD_OFFSET)`` (:func:`stem_zoo.tasks.tilt.uncertainty.decode_outputs`). The std lives in that
basis because alpha + beta and beta - alpha are what the image determines
(``stem_datasets.physics.glazer.DETERMINABLE``) and their errors are nearly independent (their
Cramer-Rao bounds combine to those of alpha and beta), and because every label map of the
orbit (shift, [1-10] mirror) and of a step to the neighbouring B column only permutes and
flips those three, so a std moves with its quantity. It is trained with the beta-NLL loss
(Seitzer et al., ICLR 2022, beta = 1/2: the Gaussian NLL with each example weighted by its
stopped std, which keeps the means learning where the std is large).

Every layer uses "valid" padding, so a window's prediction depends on its pixels only:
the same network evaluated densely over a whole micrograph (``stem_zoo.tasks.tilt.maps``) gives the
per-window numbers exactly. Inputs are normalized outside the model, the same way in
training, benchmarks and maps: :func:`stem_zoo.micrograph.local_standardize` over the
box around each pixel (the crop plus ``InputSpec.margin`` of context).

Its std is decoded and calibrated in :mod:`stem_zoo.tasks.tilt.uncertainty`; its part of
``stem-zoo report`` is :mod:`stem_zoo.tasks.tilt.report`.

Example:
    >>> from stem_zoo.registry import get_entry
    >>> model = build_tilt_dcnn(get_entry("tilt_dcnn").input)
    >>> model.output_shape
    (None, 6)
"""

from __future__ import annotations

import keras
from keras import layers

from stem_zoo.tasks.tilt.uncertainty import STD_FLOOR_DEG, STD_OFFSET, TO_STD_BASIS

# (filters, kernel) per convolution; "pool" = 2x2 average pooling, stride 2 (all "valid").
PLAN = [(32, 3), (32, 3), "pool", (64, 3), (64, 3), "pool", (128, 3), (128, 3), (128, 3), (128, 3),
        (256, 1), (256, 1)]
TRAIN_DOSE_RANGE = (5e2, 2e5)  # e-/A^2, log-uniform: around the evaluation doses 1e3 / 1e4 / 1e5
# Milder imperfections than stem_datasets.pipeline.augment's defaults (0.8 A source, 0.15 A line jitter): alpha + beta and gamma
# show as the splitting of the O columns along the beam (~0.17 A at 5 deg), which a 0.8 A source blur washes out; in a
# first run with the defaults the network learned beta - alpha only (gamma RMSE 5.5 deg after 4000 steps).
TRAIN_IMPERFECTIONS = {"source_size_fwhm_A": (0.0, 0.3), "line_jitter_A": 0.05}


def build_tilt_dcnn(input_spec, l2: float = 1e-4, fc_units: int = 256, uncertainty: bool = True) -> keras.Model:
    """The untrained network for crops of ``input_spec.crop_shape`` pixels (six outputs with ``uncertainty``, else three)."""
    regularizer = keras.regularizers.L2(l2)
    inputs = keras.Input((*input_spec.crop_shape, input_spec.channels), name="crop")
    x = inputs
    n_conv = n_pool = 0
    for step in PLAN:
        if step == "pool":
            n_pool += 1
            x = layers.AveragePooling2D(2, name=f"pool{n_pool}")(x)
            continue
        filters, kernel = step
        n_conv += 1
        x = layers.Conv2D(filters, kernel, use_bias=False, kernel_initializer="he_normal",
                          kernel_regularizer=regularizer, name=f"conv{n_conv}")(x)
        x = layers.BatchNormalization(epsilon=1e-3, momentum=0.9, name=f"bn{n_conv}")(x)
        x = layers.ReLU(name=f"relu{n_conv}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(fc_units, kernel_initializer="he_normal", kernel_regularizer=regularizer, name="fc1")(x)
    x = layers.Activation("tanh", name="tanh")(x)
    outputs = layers.Dense(6 if uncertainty else 3, kernel_regularizer=regularizer, name="fc2")(x)
    return keras.Model(inputs, outputs, name="tilt_dcnn")


@keras.saving.register_keras_serializable(package="stem_zoo")
class BetaGaussianNLL(keras.losses.Loss):
    """Gaussian negative log-likelihood of the labels in :data:`STD_BASIS`, each term weighted by its stopped std**(2 beta).

    ``y_pred`` is the model's six outputs; ``y_true`` the canonical (alpha, beta, gamma) [deg].
    """

    def __init__(self, beta: float = 0.5, name: str = "beta_gaussian_nll", **kwargs):
        super().__init__(name=name, **kwargs)
        self.beta = float(beta)

    def call(self, y_true, y_pred):
        ops = keras.ops
        basis = ops.convert_to_tensor(TO_STD_BASIS.T, dtype=y_pred.dtype)
        error = ops.matmul(ops.cast(y_true, y_pred.dtype) - y_pred[..., :3], basis)
        std = STD_FLOOR_DEG + ops.softplus(y_pred[..., 3:] + STD_OFFSET)
        nll = ops.log(std) + 0.5 * ops.square(error / std)
        weight = ops.stop_gradient(std ** (2 * self.beta))
        return ops.mean(weight * nll, axis=-1)

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}


@keras.saving.register_keras_serializable(package="stem_zoo")
class AngleRMSE(keras.metrics.RootMeanSquaredError):
    """RMSE [deg] of the predicted angles: the first three outputs (a Gaussian head's means)."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_true, y_pred[..., :3], sample_weight)


@keras.saving.register_keras_serializable(package="stem_zoo")
class AngleMAE(keras.metrics.MeanAbsoluteError):
    """MAE [deg] of the predicted angles: the first three outputs (a Gaussian head's means)."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_true, y_pred[..., :3], sample_weight)


class StaircaseDecay(keras.callbacks.Callback):
    """Halve the learning rate every ``every_epochs`` epochs (staircase), as the paper's schedule."""

    def __init__(self, initial_lr: float, every_epochs: int = 2, rate: float = 0.5):
        super().__init__()
        self.initial_lr, self.every, self.rate = initial_lr, every_epochs, rate

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate.assign(self.initial_lr * self.rate ** (epoch // self.every))


def training_setup(settings) -> tuple:
    """(loss, optimizer, metrics, callbacks) for ``stem_zoo.train``: beta-NLL, Adam halved every ``decay_every_epochs``."""
    return (
        BetaGaussianNLL(),
        keras.optimizers.Adam(settings.learning_rate, beta_1=0.9, beta_2=0.999),
        [AngleMAE(name="mae_deg"), AngleRMSE(name="rmse_deg")],
        [StaircaseDecay(settings.learning_rate, settings.decay_every_epochs)],
    )


def train_inputs(ds, entry, seed: int):
    """(input, angles) for training: the dataset's augmentation (fields with context, Poisson noise at a dose
    log-uniform in :data:`TRAIN_DOSE_RANGE`, :data:`TRAIN_IMPERFECTIONS`), then the local normalization."""
    import dataclasses

    import tensorflow as tf

    from stem_datasets.pipeline.augment import augment_dataset
    from stem_zoo.data import augment_spec
    from stem_zoo.micrograph import local_standardize_tf, normalization_window

    window = normalization_window(entry.input)
    spec = dataclasses.replace(augment_spec(entry.input), dose_range=TRAIN_DOSE_RANGE,  # the train split is noise-free
                               **TRAIN_IMPERFECTIONS)
    ds = augment_dataset(ds, spec, seed)
    return ds.map(lambda field, angles: (local_standardize_tf(field, window), angles), num_parallel_calls=tf.data.AUTOTUNE)


def eval_input(example: dict, entry):
    """The un-augmented input of one example: the reference crop of its field, normalized."""
    from stem_datasets.pipeline.augment import reference_crop
    from stem_zoo.data import augment_spec
    from stem_zoo.micrograph import local_standardize_tf, normalization_window

    field = reference_crop(example[entry.input.feature], augment_spec(entry.input))
    return local_standardize_tf(field, normalization_window(entry.input))

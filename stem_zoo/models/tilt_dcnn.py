"""``tilt_dcnn``: the octahedral-tilt regressor of Laanait, He & Borisevich (Methods 3.2, Fig. S2).

Ten convolution layers (batch normalization before ReLU, He initialization, L2 1e-4),
average pooling only (max pooling hurt in the paper), two fully connected layers with a
tanh before the linear output of (alpha, beta, gamma) in degrees.

Every layer uses "valid" padding, so a window's prediction depends on its pixels only:
the same network evaluated densely over a whole micrograph (``stem_zoo.maps``) gives the
per-window numbers exactly. Inputs are normalized outside the model, the same way in
training, benchmarks and maps: :func:`stem_zoo.normalization.local_standardize` over the
box around each pixel (the crop plus ``InputSpec.margin`` of context).

Example:
    >>> from stem_zoo.registry import get_entry
    >>> model = build_tilt_dcnn(get_entry("tilt_dcnn").input)
    >>> model.output_shape
    (None, 3)
"""

from __future__ import annotations

import keras
from keras import layers

# (filters, kernel) per convolution; "pool" = 2x2 average pooling, stride 2 (all "valid").
PLAN = [(32, 3), (32, 3), "pool", (64, 3), (64, 3), "pool", (128, 3), (128, 3), (128, 3), (128, 3),
        (256, 1), (256, 1)]


def build_tilt_dcnn(input_spec, l2: float = 1e-4, fc_units: int = 256) -> keras.Model:
    """The untrained network for crops of ``input_spec.crop_shape`` pixels."""
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
    outputs = layers.Dense(3, kernel_regularizer=regularizer, name="fc2")(x)
    return keras.Model(inputs, outputs, name="tilt_dcnn")


@keras.saving.register_keras_serializable(package="stem_zoo")
class DecayingHuber(keras.losses.Loss):
    """Huber loss whose delta [deg] is a variable, decayed with the learning rate by a callback."""

    def __init__(self, delta: float = 25.0, name: str = "decaying_huber", **kwargs):
        super().__init__(name=name, **kwargs)
        self.initial_delta = float(delta)
        self.delta = keras.Variable(float(delta), trainable=False, name="huber_delta")

    def call(self, y_true, y_pred):
        error = keras.ops.abs(y_true - y_pred)
        quadratic = keras.ops.minimum(error, self.delta)
        return keras.ops.mean(0.5 * quadratic**2 + self.delta * (error - quadratic), axis=-1)

    def get_config(self):
        return {**super().get_config(), "delta": self.initial_delta}


class StaircaseDecay(keras.callbacks.Callback):
    """Halve the learning rate and the Huber delta every ``every_epochs`` epochs (staircase)."""

    def __init__(self, loss: DecayingHuber, initial_lr: float, every_epochs: int = 2, rate: float = 0.5):
        super().__init__()
        self.loss, self.initial_lr, self.every, self.rate = loss, initial_lr, every_epochs, rate

    def on_epoch_begin(self, epoch, logs=None):
        factor = self.rate ** (epoch // self.every)
        self.model.optimizer.learning_rate.assign(self.initial_lr * factor)
        self.loss.delta.assign(self.loss.initial_delta * factor)


def training_setup(settings) -> tuple:
    """(loss, optimizer, metrics, callbacks) for ``stem_zoo.train``: Huber and Adam, decayed together."""
    loss = DecayingHuber(settings.huber_delta)
    return (
        loss,
        keras.optimizers.Adam(settings.learning_rate, beta_1=0.9, beta_2=0.999),
        [keras.metrics.MeanAbsoluteError(name="mae_deg"), keras.metrics.RootMeanSquaredError(name="rmse_deg")],
        [StaircaseDecay(loss, settings.learning_rate, settings.decay_every_epochs)],
    )


def train_inputs(ds, entry, seed: int):
    """(input, angles) for training: the dataset's augmentation (fields with context), then the local normalization."""
    import tensorflow as tf

    from stem_datasets.augment import augment_dataset
    from stem_zoo.data import augment_spec
    from stem_zoo.normalization import local_standardize_tf, normalization_window

    window = normalization_window(entry.input)
    ds = augment_dataset(ds, augment_spec(entry.input), seed)
    return ds.map(lambda field, angles: (local_standardize_tf(field, window), angles), num_parallel_calls=tf.data.AUTOTUNE)


def eval_input(example: dict, entry):
    """The un-augmented input of one example: the reference crop of its field, normalized."""
    from stem_datasets.augment import reference_crop
    from stem_zoo.data import augment_spec
    from stem_zoo.normalization import local_standardize_tf, normalization_window

    field = reference_crop(example[entry.input.feature], augment_spec(entry.input))
    return local_standardize_tf(field, normalization_window(entry.input))

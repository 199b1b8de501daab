"""``cbed_interface_cnn`` and ``cbed_step_cnn``: 3D-convolution classifiers of CBED stacks (Oxley et al. 2020).

A stack (probe position, ky, kx) goes through 3D convolutions with no pooling between
them (the relative positions of diffraction features matter; pooling after each layer
"dramatically reduced the network accuracy" in the seed paper), one average pooling,
two dense layers and a softmax; dropout 15% on every layer. The interface model has
two outputs (rough, intermixed), the step model nine (step at 0.1, ..., 0.9 of the
thickness; 0 and 1 would be flat, abrupt interfaces). Inputs are preprocessed outside the model
(:func:`stem_datasets.augment_cbed.preprocess_cbed`).

Example:
    >>> from stem_zoo.registry import get_entry
    >>> model = build_cbed_step_cnn(get_entry("cbed_step_cnn").input)
    >>> model.output_shape
    (None, 9)
"""

from __future__ import annotations

import keras
from keras import layers

CONV_FILTERS = (8, 16, 16, 32)  # 3 x 3 x 3 kernels, "same" padding, stride 1
POOL = (2, 4, 4)  # (positions, ky, kx)
DENSE_UNITS = (128, 64)
DROPOUT = 0.15


def build_cbed_cnn(input_spec, classes: int) -> keras.Model:
    """The untrained network for stacks of ``input_spec.crop_shape`` = (positions, ky, kx)."""
    inputs = keras.Input((*input_spec.crop_shape, input_spec.channels), name="cbed")
    x = inputs
    for n, filters in enumerate(CONV_FILTERS, start=1):
        x = layers.Conv3D(filters, 3, padding="same", activation="relu", kernel_initializer="he_normal", name=f"conv{n}")(x)
        x = layers.Dropout(DROPOUT, name=f"drop_conv{n}")(x)
    x = layers.AveragePooling3D(POOL, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    for n, units in enumerate(DENSE_UNITS, start=1):
        x = layers.Dense(units, activation="relu", name=f"fc{n}")(x)
        x = layers.Dropout(DROPOUT, name=f"drop_fc{n}")(x)
    outputs = layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="cbed_cnn")


def build_cbed_interface_cnn(input_spec) -> keras.Model:
    """Rough vs intermixed."""
    return build_cbed_cnn(input_spec, classes=2)


def build_cbed_step_cnn(input_spec) -> keras.Model:
    """Buried step depth, 9 classes (1-9 tenths of the thickness)."""
    return build_cbed_cnn(input_spec, classes=9)


def training_setup(settings) -> tuple:
    """(loss, optimizer, metrics, callbacks) for ``stem_zoo.train``.

    The seed used plain SGD (lr 0.01) for 300 epochs; Adam reaches its accuracy in tens of
    epochs, which is what a CPU run can afford. The rate halves when the validation loss
    has not improved for 4 epochs.
    """
    return (
        keras.losses.SparseCategoricalCrossentropy(),
        keras.optimizers.Adam(settings.learning_rate),
        [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=4, min_lr=1e-5)],
    )


def train_inputs(ds, entry, seed: int):
    """(input, label) for training: a random rotation and dose per stack (reproducible per seed), then sqrt and standardization."""
    import tensorflow as tf

    from stem_datasets.augment_cbed import CbedAugmentSpec, augment_cbed, preprocess_cbed

    spec = CbedAugmentSpec()
    return ds.enumerate().map(
        lambda i, e: (preprocess_cbed(augment_cbed(e[entry.input.feature], tf.stack([tf.cast(seed, tf.int64), i]), spec)),
                      e[entry.label]),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
    )


def eval_input(example: dict, entry):
    """The un-augmented input of one example: sqrt, standardized per stack."""
    from stem_datasets.augment_cbed import preprocess_cbed

    return preprocess_cbed(example[entry.input.feature])

"""``atom_fcn``: a fully convolutional U-Net giving a per-pixel class map of atomic columns.

After Ziatdinov et al., "Deep learning of atomically resolved scanning transmission electron
microscopy images" (ACS Nano 11, 12742, 2017): a network trained on simulated images maps a
micrograph to the probability, at every pixel, that it belongs to a column of each class
(background, light, intermediate, heavy: :data:`CLASSES`, as in ``stem_atom_columns``).
Columns are then found in the maps by :func:`stem_zoo.tasks.atoms.locate.columns_from_probabilities`.

Architecture: three down and three up levels (``FILTERS`` = 16, 32, 64 and 128 in the
bottleneck), two 3 x 3 convolutions per level (batch normalization before ReLU, "same"
padding), 2 x 2 max pooling down, 2 x 2 stride-2 transposed convolutions and skip
concatenation up, a 1 x 1 softmax over the classes: 483,908 parameters, a receptive field
of 100 px (20 A at 0.2 A/px; :data:`RECEPTIVE_FIELD_PX`). The input is (None, None, 1): any
image whose height and width are multiples of 8 (:data:`MULTIPLE`), at least 32 px
(:data:`MIN_SIDE_PX`); :func:`stem_zoo.tasks.atoms.locate.locate_atoms` pads to a multiple. Inputs have
their columns bright (negated where columns are dark: by the labels in training, :func:`train_examples`,
by the detector in ``locate_atoms``), and are standardized outside the model (zero mean, unit std per
image: :func:`stem_zoo.micrograph.standardize`).

Training (``stem-zoo train atom_fcn``): random crops of ``input.crop_shape`` with the same
random rot90 and flip applied to the image and its mask; loss: class-weighted per-pixel
cross-entropy plus a soft Dice term over the column classes, so that the column pixels
(10-20 % of an image) count; metrics: pixel accuracy and mean IoU. Benchmarks score column
detection (:func:`score_split`, :mod:`stem_zoo.tasks.atoms.metrics`), not pixels. The loss is a
registered custom class: a run's compiled ``model.keras`` loads in a new process after
``import stem_zoo.tasks.atoms.model`` (or with ``compile=False``, as
:func:`stem_zoo.hub.load` with ``task="atoms"`` does); staged zoo folders hold uncompiled models. The
shipped weights are an ensemble (``stem-zoo train atom_fcn --ensemble 3``): one model whose
maps are the mean of three such U-Nets trained with seeds 0, 1 and 2.

Example:
    >>> model = build_atom_fcn(DEFAULT_INPUT)
    >>> model.output_shape, model.count_params()
    ((None, None, None, 4), 483908)
    >>> model.predict_on_batch(np.zeros((1, 32, 40, 1), "float32")).shape
    (1, 32, 40, 4)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from stem_zoo.registry import InputSpec
from stem_zoo.micrograph import standardize_tf
from stem_zoo.tasks.atoms.spec import (CLASSES, DEFAULT_INPUT, DETECTORS, FILTERS, MIN_SIDE_PX, MULTIPLE,  # noqa: F401
                                      RECEPTIVE_FIELD_PX)


def build_atom_fcn(input_spec: InputSpec = DEFAULT_INPUT, filters: tuple[int, ...] = FILTERS) -> keras.Model:
    """The untrained U-Net: (None, None, channels) -> per-pixel softmax over :data:`CLASSES`."""
    inputs = keras.Input((None, None, input_spec.channels), name="image")
    x, skips = inputs, []
    for level, n in enumerate(filters[:-1], start=1):
        x = _double_conv(x, n, f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = _double_conv(x, filters[-1], "bottleneck")
    for level in range(len(filters) - 1, 0, -1):
        # A learned 2x upsampling (kernel = stride: no checkerboard overlap); a bilinear UpSampling2D cannot
        # take inputs of unknown size once tf.function has relaxed the shapes (keras ops.image.resize).
        x = layers.Conv2DTranspose(filters[level - 1], 2, strides=2, kernel_initializer="he_normal",
                                   name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level - 1]])
        x = _double_conv(x, filters[level - 1], f"dec{level}")
    outputs = layers.Conv2D(len(CLASSES), 1, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="atom_fcn")


def _double_conv(x, filters: int, name: str):
    for k in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
                          name=f"{name}_conv{k}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{k}")(x)
        x = layers.ReLU(name=f"{name}_relu{k}")(x)
    return x


# --- preprocessing --------------------------------------------------------------------------------------------------


# --- stem_zoo.train hooks -------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="stem_zoo")
class WeightedCrossEntropyDice(keras.losses.Loss):
    """Per-image class-weighted cross-entropy (mean over pixels) + ``dice_weight`` x (1 - soft Dice).

    The Dice term is the mean over the column classes (all but the first) of
    (2 sum(p y) + 1) / (sum p + sum y + 1) per image. Labels are class indices (b, h, w).
    """

    def __init__(self, class_weights=(1.0, 3.0, 3.0, 3.0), dice_weight: float = 1.0,
                 name: str = "weighted_ce_dice", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_weights = tuple(float(w) for w in class_weights)
        self.dice_weight = float(dice_weight)

    def call(self, y_true, y_pred):
        ops = keras.ops
        n = len(self.class_weights)
        y_pred = ops.cast(y_pred, "float32")
        labels = ops.cast(y_true, "int32")
        if len(labels.shape) == len(y_pred.shape):  # (b, h, w, 1)
            labels = ops.squeeze(labels, -1)
        onehot = ops.one_hot(labels, n)
        log_p = ops.log(ops.clip(y_pred, 1e-7, 1.0))
        weights = ops.convert_to_tensor(self.class_weights, "float32")
        ce = -ops.sum(onehot * log_p * weights, axis=-1)
        ce = ops.mean(ops.reshape(ce, (ops.shape(ce)[0], -1)), axis=-1)
        axes = tuple(range(1, len(y_pred.shape) - 1))
        intersection = ops.sum(onehot * y_pred, axis=axes)[:, 1:]
        total = ops.sum(onehot + y_pred, axis=axes)[:, 1:]
        dice = ops.mean((2.0 * intersection + 1.0) / (total + 1.0), axis=-1)
        return ce + self.dice_weight * (1.0 - dice)

    def get_config(self):
        return {**super().get_config(), "class_weights": list(self.class_weights), "dice_weight": self.dice_weight}


def training_setup(settings) -> tuple:
    """(loss, optimizer, metrics, callbacks) for ``stem_zoo.train``: Adam, weighted CE + Dice.

    The learning rate halves when the validation loss has not improved for 3 epochs.
    """
    return (
        WeightedCrossEntropyDice(),
        keras.optimizers.Adam(settings.learning_rate),
        [keras.metrics.SparseCategoricalAccuracy(name="pixel_accuracy"),
         keras.metrics.MeanIoU(num_classes=len(CLASSES), sparse_y_pred=False, name="mean_iou")],
        [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3, min_lr=1e-5)],
    )


def _columns_bright(example: dict, feature: str, label: str):
    """The example's image with its columns bright: negated where its labelled columns are darker than the rest.

    The labels decide, not the detector: ABF shows bulk columns dark, but a monolayer's bright at
    some defoci (4 of the 2d and 3 of the random-field ABF images of ``small`` 2.1.0); negating
    those by detector taught the network that dark pockets between bright columns are columns
    (it called the gaps of Au [110] light columns).
    """
    import tensorflow as tf

    image = tf.cast(example[feature], tf.float32)
    columns = tf.cast(tf.reshape(example[label], tf.shape(image)) > 0, tf.float32)
    inside = tf.reduce_sum(image * columns) / tf.maximum(tf.reduce_sum(columns), 1.0)
    outside = tf.reduce_sum(image * (1.0 - columns)) / tf.maximum(tf.reduce_sum(1.0 - columns), 1.0)
    return tf.where(inside < outside, -image, image)


def train_examples(ds, entry):
    """``stem_zoo.data.train_pipeline``'s hook: each training example's image with its columns bright (negated
    where its labelled columns are dark, as on most ABF images) and its mask; nothing else.

    Since ``stem_atom_columns`` 2.1.0 a mask labels what its own detector's image shows, so the
    blends of a scan's HAADF and ABF images that earlier training used (issue 11) have no label,
    and images with dark columns are no longer training inputs: the network is told which way
    columns point (``locate_atoms(..., detector=)``) instead of guessing it (it called the bright
    gaps between Au columns on ABF columns when it had to guess).
    """
    feature, label = entry.input.feature, entry.label
    return ds.map(lambda e: {feature: _columns_bright(e, feature, label), label: e[label]})


def train_inputs(ds, entry, seed: int):
    """(image crop (h, w, 1), mask crop (h, w)) for training, reproducible per seed.

    A random crop of ``entry.input.crop_shape`` and one of the 8 rotations/flips (only the 4 that
    keep the shape for a non-square crop), the same for image and mask; then
    :func:`standardize_tf` of the crop. Each sample's draws are seeded by ``seed`` and its
    position in ``ds``.
    """
    import tensorflow as tf

    h, w = (int(v) for v in entry.input.crop_shape)
    feature, label = entry.input.feature, entry.label
    shape = ds.element_spec[feature].shape
    if shape.rank == 3 and shape[0] is not None and (shape[0] < h or shape[1] < w):
        raise ValueError(f"the dataset's {feature!r} is {shape[0]} x {shape[1]} px, smaller than the crop {h} x {w}; "
                         "lower input.crop_shape in the entry.")
    quarter_turns = 4 if h == w else 2

    def one(index, example):
        seeds = tf.random.experimental.stateless_split(tf.stack([tf.cast(seed, tf.int64), index]), num=3)
        image = tf.cast(example[feature], tf.float32)
        mask = tf.cast(example[label], tf.float32)[..., None]
        both = tf.image.stateless_random_crop(tf.concat([image, mask], -1), (h, w, 2), seed=seeds[0])
        k = tf.random.stateless_uniform([], seed=seeds[1], maxval=quarter_turns, dtype=tf.int32)
        both = tf.image.rot90(both, k * (4 // quarter_turns))
        both = tf.image.stateless_random_flip_left_right(both, seed=seeds[2])
        both = tf.ensure_shape(both, (h, w, 2))
        return standardize_tf(both[..., :1]), tf.cast(tf.round(both[..., 1]), tf.int32)

    return ds.enumerate().map(one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def eval_input(example: dict, entry):
    """The whole image of one example, columns bright (by its labels) and standardized (height and width must be
    multiples of 8)."""
    image = example[entry.input.feature]
    shape = tuple(image.shape)
    if len(shape) == 3 and all(isinstance(s, int) for s in shape[:2]) and (shape[0] % MULTIPLE or shape[1] % MULTIPLE):
        raise ValueError(f"atom_fcn evaluates whole images, which must be multiples of {MULTIPLE} px; "
                         f"the dataset's are {shape[0]} x {shape[1]}.")
    return standardize_tf(_columns_bright(example, entry.input.feature, entry.label))

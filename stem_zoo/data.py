"""tf.data pipelines from the TFDS datasets, shaped for a model's input spec.

The subset of examples and the label indices come from the model's entry; how an example
becomes an input (augmentation, crop, normalization) from its architecture module's
``train_inputs`` and ``eval_input`` (e.g. :mod:`stem_zoo.tasks.tilt.model`).

Example:
    >>> from stem_zoo.registry import get_entry
    >>> spec = augment_spec(get_entry("tilt_dcnn").input)
    >>> spec.crop_shape, spec.margin, spec.field_shape()
    ((52, 74), (13, 18), (78, 110))
"""

from __future__ import annotations

from stem_zoo.micrograph import normalization_margin
from stem_zoo.registry import InputSpec, ModelEntry
from stem_zoo.task import task_hook


def augment_spec(input_spec: InputSpec):
    """The dataset augmentation for a model's crop, pixel size, lattice constant and normalization margin."""
    from stem_datasets.pipeline.augment import AugmentSpec

    return AugmentSpec(crop_shape=tuple(input_spec.crop_shape), pixel_size=input_spec.pixel_size,
                       lattice_constant=input_spec.lattice_constant, margin=normalization_margin(input_spec))


def load_builder(dataset: str, config: str, data_dir: str | None = None):
    """The prepared TFDS builder (built here if missing, never looked up on GCS)."""
    from stem_datasets import prepare

    return prepare(f"{dataset}/{config}", data_dir)


def _encoded(builder, feature: str, values) -> list[int]:
    connector = builder.info.features[feature]
    return [connector.str2int(v) if isinstance(v, str) else int(v) for v in values]


def examples(builder, split: str, entry: ModelEntry):
    """The examples of a split that an entry reads (e.g. only rough interfaces for the step model),
    in file order, with its label turned into the output index (``entry.label_values``)."""
    import tensorflow as tf

    ds = builder.as_dataset(split=split, shuffle_files=False)
    subset = dict(entry.subset)
    if entry.label_values:
        subset[entry.label] = entry.label_values
    for feature, values in subset.items():
        ds = ds.filter(lambda e, f=feature, a=tf.constant(_encoded(builder, feature, values), tf.int64):
                       tf.reduce_any(tf.equal(tf.cast(e[f], tf.int64), a)))
    if entry.label_values:
        values = tf.constant(_encoded(builder, entry.label, entry.label_values), tf.int64)
        ds = ds.map(lambda e: {**e, entry.label: tf.argmax(tf.cast(tf.equal(tf.cast(e[entry.label], tf.int64), values),
                                                                   tf.int32), output_type=tf.int64)})
    return ds


def train_pipeline(builder, entry: ModelEntry, batch_size: int, seed: int = 0, shuffle_buffer: int = 8192,
                   repeat: bool = False):
    """Shuffled, augmented (input, label) batches, reshuffled each epoch deterministically.

    ``repeat``: an endless stream (for a fixed number of steps per epoch). The passes are
    repeated before the model's ``train_inputs``, so every sample of the stream gets its own
    augmentation draw (``train_inputs`` seeds it with the sample's position in the stream);
    repeating after it would cycle through one pass's draws.
    A task may also have a ``train_examples(ds, entry)`` hook, run once on the split before
    shuffling (e.g. ``atom_fcn`` pairs each scan's HAADF and ABF examples).
    """
    import tensorflow as tf

    ds = examples(builder, "train", entry)  # the task's hooks say how its models read the dataset
    regroup = task_hook(entry, "train_examples")
    if regroup is not None:
        ds = regroup(ds, entry)
    ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = task_hook(entry, "train_inputs", required=True)(ds, entry, seed)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def eval_pipeline(builder, split: str, entry: ModelEntry, batch_size: int, drop_remainder: bool = False,
                  keep: tuple[str, ...] = ()):
    """Un-augmented (input, label) batches of one split; (input, label, {feature: values}) with ``keep``.

    ``drop_remainder=True`` gives batches of one static size (for feeding a distributed
    model); scores should keep every example (the default).
    ``keep`` names dataset features to pass along, e.g. ``("thickness_nm",)`` for scores by thickness.
    """
    import tensorflow as tf

    ds = examples(builder, split, entry)
    eval_input = task_hook(entry, "eval_input", required=True)
    prepare = lambda e: eval_input(e, entry)  # noqa: E731
    missing = [k for k in keep if k not in builder.info.features]
    if missing:
        raise ValueError(f"{builder.name} has no feature {missing}; it has {', '.join(builder.info.features)}.")
    if keep:
        ds = ds.map(lambda e: (prepare(e), e[entry.label], {k: e[k] for k in keep}), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda e: (prepare(e), e[entry.label]), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)

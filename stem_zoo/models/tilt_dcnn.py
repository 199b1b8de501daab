"""``tilt_dcnn``: the octahedral-tilt regressor of Laanait, He & Borisevich (Methods 3.2, Fig. S2).

Ten convolution layers (batch normalization before ReLU, He initialization, L2 1e-4),
average pooling only (max pooling hurt in the paper), two fully connected layers with a
tanh before the linear output of (alpha, beta, gamma) in degrees.

Every layer uses "valid" padding, so a window's prediction depends on its pixels only:
the same network evaluated densely over a whole micrograph (``stem_zoo.maps``) gives the
per-window numbers exactly. Inputs are normalized outside the model, the same way in
training, benchmarks and maps: :func:`stem_zoo.normalization.local_standardize` over the
box around each pixel (the crop plus ``InputSpec.margin`` of context).

Its part of ``stem-zoo report`` (:func:`report`): the benchmark on every split and by thickness,
and the tilt map of a stitched two-domain micrograph with its check.

Example:
    >>> from stem_zoo.registry import get_entry
    >>> model = build_tilt_dcnn(get_entry("tilt_dcnn").input)
    >>> model.output_shape
    (None, 3)
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
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


# --- stem-zoo report ------------------------------------------------------------------------------------------------


def report(entries, out_dir: str | Path, config: str, data_dir: str | None = None) -> list[Path]:
    """``stem-zoo report``'s part for the models of this module: one :func:`write_zoo_report` each."""
    return [write_zoo_report(config, out_dir, entry.id, data_dir) for entry in entries]


def write_zoo_report(config: str, out_dir: str | Path, model_id: str = "tilt_dcnn", data_dir: str | None = None) -> Path:
    """Benchmark ``model_id`` on ``stem_abf_tilt/<config>`` and map a stitched two-domain micrograph."""
    from stem_datasets.abf_tilt import get_recipe, stitched_domains
    from stem_zoo.benchmarking import benchmark
    from stem_zoo.hub import load
    from stem_zoo.maps import map_figure, predict_map, save_columns_csv

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = load(model_id)
    result = benchmark(model, config=config, data_dir=data_dir, out_dir=out, by="thickness_nm")
    limit_lines = physics_limit_section(model, config, data_dir, out)

    recipe = get_recipe(config)
    pattern = recipe.patterns[0]
    domains = ((6.0, -4.0, 8.0), (-6.0, 4.0, -3.0))
    layers = recipe.train_layers()[len(recipe.train_layers()) // 2]
    image, borders = stitched_domains(recipe, pattern, domains, shape=(200, 320), layers=layers)
    maps = predict_map(image, model, pixel_size=recipe.pixel_size)
    figure = out / f"{model_id}_{config}_two_domain_map.png"
    map_figure(maps, figure, title=f"{model_id}: stitched {pattern} domains {domains[0]} | {domains[1]} deg")
    np.save(out / f"{model_id}_{config}_two_domain_map.npy", maps.maps)
    save_columns_csv(maps, out / f"{model_id}_{config}_two_domain_columns.csv")
    check = two_domain_check(maps, borders[1] * recipe.pixel_size, domains)
    (out / f"{model_id}_{config}_two_domain_check.json").write_text(json.dumps(check, indent=1))

    lines = [
        f"# {model_id} on stem_abf_tilt/{config}", "",
        f"Model source: `{model.zoo.source}`; trained on `{model.zoo.entry.dataset}/{model.zoo.entry.dataset_config}`; "
        f"{result['parameters']:,} parameters.", "",
        result["leaderboard"], "",
        *limit_lines,
        "## Tilt map of a stitched two-domain micrograph", "",
        f"Two multislice images of {pattern} SrTiO3 ({recipe.thickness_nm(layers)} nm) with tilts {domains[0]} (left) and "
        f"{domains[1]} (right) deg, stitched at x = {borders[1]} px (a test pattern, not a simulated domain wall). "
        "One value per B column (windows averaged around their own column only); signs alternate between "
        "neighbouring B columns as the label convention says, magnitudes should not.", "",
        "| domain | truth |angle| [deg] | mean per-column |angle| [deg] | columns |",
        "| --- | --- | --- | --- |",
        *(f"| {side} | {check[side]['truth']} | {check[side]['mean_abs']} | {check[side]['columns']} |"
          for side in ("left", "right")),
        "",
        f"Largest magnitude error: {check['max_magnitude_error_deg']} deg. Border found at x = {check['border_found_A']} A "
        f"(true {check['border_true_A']} A): off by {check['border_error_cells']} projected cells (a sqrt2 = "
        f"{check['cell_A']} A).", "",
        f"![map]({figure.name})", "",
        "```json", json.dumps({k: v for k, v in result.items() if k != "leaderboard"}, indent=1), "```", "",
    ]
    path = out / f"{model_id}_{config}.md"
    path.write_text("\n".join(lines))
    return path


def physics_limit_section(model, config: str, data_dir: str | None, out: Path, dose: float = 1e4, limit: int = 8) -> list[str]:
    """Markdown: the MLE baseline and the bound on the first crops of test and test_multislice at ``dose``, the model beside."""
    from stem_zoo import data
    from stem_zoo.benchmarking import benchmark
    from stem_zoo.tilt_baseline import baseline_table, score_mle

    splits = ("test", "test_multislice")
    by_dose = benchmark(model, config=config, data_dir=data_dir, splits=splits, by="dose")
    builder = data.load_builder("stem_abf_tilt", config, data_dir)
    rows = [score_mle(builder, split, dose=dose, limit=limit) for split in splits]
    (out / f"{model.zoo.entry.id}_{config}_mle_baseline.json").write_text(json.dumps(rows, indent=1))
    return [
        "## Against the physical limit", "",
        f"The physics baseline (`stem_datasets.tilt_mle`: maximum-likelihood fit of the dataset's GP, with thickness, "
        f"crop shift and x/y magnification free) on the first {limit} crops of each split at {dose:g} e/A^2 with the "
        "nominal ABF range; the RMS Cramer-Rao bound of the same crops with the same unknowns (GP-made crops: under the "
        "GP, their exact model; multislice crops: `stem_datasets.limits.tilt_crb`, from multislice), and the efficiency "
        "bound / RMSE; predictions are aligned to their labels' orbits (the [1-10] mirror). The model's RMSE at the same "
        "dose (every crop of the split) beside it. The bound is local: where a quantity's signal is quadratic (alpha + "
        "beta near 0, a thin crystal, smoke's coarse GP) it is large and a fit kept inside the angle range does better, "
        "so an efficiency above 1 marks such crops, not a fit beyond the physics.", "",
        baseline_table(rows, {model.zoo.entry.id: by_dose}), "",
    ]


def two_domain_check(maps, border_A: float, domains, exclude_cells: float = 1.0) -> dict:
    """Per-column magnitudes on each side of a vertical border, and where the magnitudes change.

    Columns within ``exclude_cells`` projected cells (a sqrt2) of the border are left out of
    the side means. The border is placed where labelling columns by their nearer domain
    magnitude (|angles|, L2) makes the fewest errors.
    """
    cell = 2 * maps.lattice.column_step[1] * maps.pixel_size
    x = maps.columns["x_A"]
    values = np.abs(np.stack([maps.columns[n] for n in maps.output_names], axis=1)).astype(np.float64)
    truths = np.abs(np.asarray(domains, dtype=float))
    result: dict = {"cell_A": round(float(cell), 3), "border_true_A": round(float(border_A), 2)}
    for side, keep, truth in (("left", x < border_A - exclude_cells * cell, truths[0]),
                              ("right", x > border_A + exclude_cells * cell, truths[1])):
        mean = values[keep].mean(axis=0) if keep.any() else np.full(len(truth), np.nan)
        result[side] = {"truth": truth.round(2).tolist(), "mean_abs": mean.round(2).tolist(), "columns": int(keep.sum())}
    result["max_magnitude_error_deg"] = round(float(max(np.abs(np.subtract(result[s]["mean_abs"], result[s]["truth"])).max()
                                                        for s in ("left", "right"))), 2)
    right_like = np.linalg.norm(values - truths[1], axis=1) < np.linalg.norm(values - truths[0], axis=1)
    candidates = np.unique(x)
    errors = [np.sum(right_like & (x < c)) + np.sum(~right_like & (x >= c)) for c in candidates]
    best = candidates[int(np.argmin(errors))]
    below = x[x < best]
    found = 0.5 * (best + below.max()) if below.size else best
    result["border_found_A"] = round(float(found), 2)
    result["border_error_cells"] = round(float(abs(found - border_A) / cell), 2)
    return result

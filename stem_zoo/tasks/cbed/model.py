"""``cbed_interface_cnn`` and ``cbed_step_cnn``: 3D-convolution classifiers of CBED stacks (Oxley et al. 2020).

A stack (probe position, ky, kx) goes through 3D convolutions with no pooling between
them (the relative positions of diffraction features matter; pooling after each layer
"dramatically reduced the network accuracy" in the seed paper), one average pooling,
two dense layers and a softmax; dropout 15% on every layer. The interface model has
three outputs (rough, intermixed, abrupt), the step model nine (step at 0.1, ..., 0.9 of
the thickness; 0 and 1 would be flat, abrupt interfaces). Both read the patterns of a scan
registered to the lattice and averaged over one unit cell in y
(:mod:`stem_datasets.pipeline.scan_registration`) and are released with
calibrated probabilities (:mod:`stem_zoo.tasks.cbed.release`). Inputs are preprocessed outside the model
(:func:`stem_datasets.pipeline.augment_cbed.preprocess_cbed`). Their part of ``stem-zoo report``
(:func:`report`, one for both models): fresh simulations classified by both.

Example:
    >>> from stem_zoo.registry import get_entry
    >>> model = build_cbed_step_cnn(get_entry("cbed_step_cnn").input)
    >>> model.output_shape
    (None, 9)
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
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
    """Rough vs intermixed vs abrupt."""
    return build_cbed_cnn(input_spec, classes=3)


def build_cbed_step_cnn(input_spec) -> keras.Model:
    """Buried step depth, 9 classes (1-9 tenths of the thickness)."""
    return build_cbed_cnn(input_spec, classes=9)


def training_setup(settings) -> tuple:
    """(loss, optimizer, metrics, callbacks) for ``stem_zoo.train``.

    The seed used plain SGD (lr 0.01) for 300 epochs; Adam reaches its accuracy in tens of
    epochs, which is what a CPU run can afford. The rate halves when the validation loss
    has not improved for 4 epochs; training stops after 10 without improvement and keeps
    the weights of the epoch with the lowest validation loss.
    """
    return (
        keras.losses.SparseCategoricalCrossentropy(),
        keras.optimizers.Adam(settings.learning_rate),
        [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=4, min_lr=1e-5),
         keras.callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)],
    )


def train_inputs(ds, entry, seed: int):
    """(input, label) for training: a random rotation and dose per stack (reproducible per seed), then sqrt and standardization."""
    import tensorflow as tf

    from stem_datasets.pipeline.augment_cbed import CbedAugmentSpec, augment_cbed, preprocess_cbed

    spec = CbedAugmentSpec()
    return ds.enumerate().map(
        lambda i, e: (preprocess_cbed(augment_cbed(e[entry.input.feature], tf.stack([tf.cast(seed, tf.int64), i]), spec)),
                      e[entry.label]),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
    )


def eval_input(example: dict, entry):
    """The un-augmented input of one example: sqrt, standardized per stack."""
    from stem_datasets.pipeline.augment_cbed import preprocess_cbed

    return preprocess_cbed(example[entry.input.feature])


# --- stem-zoo report ------------------------------------------------------------------------------------------------


def report(entries, out_dir: str | Path, config: str, data_dir: str | None = None) -> list[Path]:
    """``stem-zoo report``'s part for the CBED classifiers: one report for both (fresh simulations, not ``config``)."""
    return [write_cbed_report(out_dir)]


def write_cbed_report(out_dir: str | Path, thickness_angstrom: float = 100.0, seed: int = 2026) -> Path:
    """Classify freshly simulated interfaces (not in any split) with the two CBED classifiers.

    Four abTEM runs at ``stem_cbed_interface/small`` settings (about a minute on 2 cores,
    cached afterwards): buried steps at 0.3 and 0.7 of the thickness, a 25%-intermixed and an
    abrupt interface, each scanned off the lattice (0.2 A in x, 1.1 A in y) and registered
    from its ADF as a user's scan is (:func:`stem_zoo.tasks.cbed.classify.classify_scan`);
    both models classify the registered cell average.
    Writes ``cbed_classifiers.md`` with a figure of the registered stacks and predictions.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stem_datasets.simulation.cache import SimulationCache
    from stem_datasets.builders.stem_cbed_interface.recipe import A, get_recipe
    from stem_datasets.simulation.simulate import simulate_4dstem
    from stem_datasets.physics.structures import lao_sto_interface, snap_interface_thickness
    from stem_zoo.tasks.cbed.classify import classify_scan, classify_stacks
    from stem_zoo.hub import load

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    recipe = get_recipe("small")
    scan = recipe.scan
    t = snap_interface_thickness(thickness_angstrom)
    offset = (0.2, 1.1)  # where the scan landed: x from the terminating TiO2 plane, y of line 0 from the A columns [A]
    cases = {
        "buried step at 0.3 t": (lao_sto_interface(t, step_fraction=0.3), "rough", 3),
        "buried step at 0.7 t": (lao_sto_interface(t, step_fraction=0.7), "rough", 7),
        "25% Ti on Al sites": (lao_sto_interface(t, intermix_fraction=0.25, seed=seed), "intermixed", None),
        "abrupt (flat, no Ti)": (lao_sto_interface(t), "abrupt", None),
    }
    interface_model, step_model = load("cbed_interface_cnn"), load("cbed_step_cnn")
    classes = tuple(interface_model.zoo.entry.outputs)
    figure, axes = plt.subplots(len(cases), scan.positions, figsize=(1.6 * scan.positions, 1.9 * len(cases)))
    rows = ["| structure | truth | predicted interface (p) | registered offset dx, y0 [A] | predicted step |",
            "| --- | --- | --- | --- | --- |"]
    for r, (name, (structure, truth, step)) in enumerate(cases.items()):
        microscope = recipe.microscope.replace(seed=seed + r)
        stacks = simulate_4dstem(structure, [t], microscope, scan, recipe.detector, SimulationCache(),
                                 offset=(offset[0], 3 * A + offset[1]))
        interface, registered = classify_scan(stacks.cbed[0], stacks.adf[0], scan.raw_x(A), scan.lines_y(A), interface_model)
        average = classify_stacks(registered.cell_average(), step_model)  # the same registration, read once
        predicted_interface = f"{interface.names[0]} ({interface.probabilities[0].max():.2f})"
        predicted_step = f"{average.names[0]} (p {average.probabilities[0].max():.2f})" + ("" if step is not None else ", not a step")
        rows.append(f"| {name} | {truth}{'' if step is None else f', step {step}'} | {predicted_interface} | "
                    f"{registered.offset.dx:.2f}, {registered.offset.y0:.2f} | {predicted_step} |")
        for p, ax in enumerate(axes[r]):
            ax.imshow(np.sqrt(registered.cbed[0, p]), cmap="magma")
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"x = {p * scan.step(A):.1f} A", fontsize=7)
        axes[r, 0].set_ylabel(f"{name}\n{predicted_interface}", fontsize=7)
    figure.suptitle(f"Registered CBED along line 0 (sqrt intensity), {t:.1f} A, {recipe.microscope.energy / 1e3:.0f} kV, "
                    f"{recipe.microscope.semiangle:.0f} mrad, {recipe.detector.pixels} px of {stacks.angular_sampling:.2f} mrad",
                    fontsize=9)
    figure.tight_layout()
    figure_path = out / "cbed_classifiers.png"
    figure.savefig(figure_path, dpi=110)
    plt.close(figure)
    step_test = step_model.zoo.entry.metrics["test"]
    interface_test = interface_model.zoo.entry.metrics["test"]
    recall = ", ".join(f"{c} {interface_test['recall'].get(c, float('nan')):.2f}" for c in classes)
    text = [
        "# The CBED classifiers on fresh simulations", "",
        f"Four LaAlO3/SrTiO3 cross-sections, {t:.1f} A thick, simulated now with abTEM at `stem_cbed_interface/small` "
        f"settings ({recipe.microscope.frozen_phonons} frozen-phonon configurations, phonon seeds not used by the dataset), "
        f"{scan.lines} lines of {len(scan.raw_x(A))} probe positions each, the scan {offset[0]} A and {offset[1]} A off the "
        "lattice; each registered from its ADF (`classify_scan`), then `cbed_interface_cnn` and `cbed_step_cnn` classify "
        "the registered lines' average over the cell. Models: "
        f"`{interface_model.zoo.source}`, `{step_model.zoo.source}`.", "",
        *rows, "",
        f"`cbed_interface_cnn` on its test split (structures it never saw): accuracy {interface_test['accuracy']:.3f}, "
        f"recall {recall}, expected calibration error {interface_test.get('expected_calibration_error', float('nan')):.3f}. "
        f"`cbed_step_cnn` places the step exactly in {step_test['accuracy']:.2f} and within one tenth in "
        f"{step_test.get('within_one_accuracy', float('nan')):.2f} of its test stacks (its card: the exact column is not a "
        "measurement of the step depth; within one tenth is what it claims).", "",
        f"![CBED stacks]({figure_path.name})", "",
    ]
    path = out / "cbed_classifiers.md"
    path.write_text("\n".join(text))
    return path

"""Release a CBED classifier: calibrate its probabilities on validation, benchmark it, package its folder.

Calibration is temperature scaling (Guo et al. 2017): the softmax of the last layer's logits
divided by one temperature T, fitted by the negative log-likelihood of the validation split.
Dividing the last Dense layer's kernel and bias by T does exactly that, so the packaged
model outputs calibrated probabilities wherever it runs, with no extra layer. An ensemble
(``stem-zoo train --ensemble``: the mean of its members' probabilities) gets one T for every
member, fitted on the mean of their tempered probabilities.

Example:
    >>> import numpy as np
    >>> p = np.array([[0.99, 0.01], [0.99, 0.01], [0.99, 0.01], [0.01, 0.99]])  # overconfident: one of three wrong
    >>> t = fit_temperature(p, np.array([0, 0, 1, 1]))
    >>> t > 1, np.round(tempered(p, t)[0], 2).tolist()
    (True, [0.75, 0.25])
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np

RELIABILITY_SPLITS = ("validation", "test", "test_unseen_thickness")


def tempered(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): probabilities at temperature T."""
    logits = np.log(np.clip(probabilities, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The T in [0.05, 20] that minimizes the negative log-likelihood of ``labels``.

    ``probabilities`` (n, classes), or (members, n, classes) of an ensemble that averages its
    members' tempered probabilities.
    """
    from scipy.optimize import minimize_scalar

    labels = np.asarray(labels).astype(int).ravel()
    members = np.asarray(probabilities)
    members = members[None] if members.ndim == 2 else members
    if members.ndim != 3 or members.shape[1] != len(labels) or not np.all(np.isfinite(members)):
        raise ValueError(f"fit_temperature needs finite probabilities (n, classes) or (members, n, classes) for "
                         f"{len(labels)} labels, got shape {np.shape(probabilities)}.")
    if labels.min(initial=0) < 0 or labels.max(initial=0) >= members.shape[2]:
        raise ValueError(f"labels must be class indices 0-{members.shape[2] - 1}, got {labels.min()}-{labels.max()}.")

    def nll(log_t: float) -> float:
        p = np.mean([tempered(m, np.exp(log_t)) for m in members], axis=0)
        return float(-np.mean(np.log(p[np.arange(len(labels)), labels] + 1e-12)))

    return float(np.exp(minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded").x))


def _members(model, layer: str = "probabilities") -> list:
    """The model itself if it ends in ``layer``, else its member models that do (an ensemble's)."""
    names = {sub.name for sub in model.layers}
    if layer in names:
        return [model]
    members = [sub for sub in model.layers if hasattr(sub, "layers") and layer in {s.name for s in sub.layers}]
    if not members:
        raise ValueError(f"{model.name} has no layer {layer!r}, nor members that do: not a stem_zoo CBED classifier.")
    return members


def member_probabilities(model, inputs) -> np.ndarray:
    """(members, n, classes): every member's probabilities (one member for a single model)."""
    return np.stack([np.asarray(m.predict_on_batch(inputs)) for m in _members(model)])


def apply_temperature(model, temperature: float, layer: str = "probabilities"):
    """Divide the softmax layer's kernel and bias (every member's, for an ensemble) by ``temperature`` (in place);
    returns the model."""
    for member in _members(model, layer):
        dense = member.get_layer(layer)
        dense.set_weights([w / temperature for w in dense.get_weights()])
    return model


def split_probabilities(model, builder, split: str, entry) -> tuple[np.ndarray, np.ndarray]:
    """(labels, probabilities (members, n, classes)) of every example of a split."""
    from stem_zoo import data

    labels, probabilities = [], []
    for inputs, truth in data.eval_pipeline(builder, split, entry, 256):
        probabilities.append(member_probabilities(model, inputs))
        labels.append(truth.numpy())
    return np.concatenate(labels), np.concatenate(probabilities, axis=1)


TI_BINS = (0.1, 0.2, 0.3, 0.4, 0.5)


def structure_table(model, builder, entry, splits: tuple[str, ...] = ("test", "test_unseen_thickness")) -> list[str]:
    """Markdown: the fraction of examples classified right, by structure (step depth, Ti fraction) and split."""
    from stem_zoo import data

    rows = {}
    for split in splits:
        labels, probabilities, steps, ti = [], [], [], []
        for inputs, truth, extra in data.eval_pipeline(builder, split, entry, 256, keep=("step_position", "intermix_fraction")):
            probabilities.append(np.asarray(model.predict_on_batch(inputs)))
            labels.append(truth.numpy())
            steps.append(extra["step_position"].numpy())
            ti.append(extra["intermix_fraction"].numpy())
        labels, predicted = np.concatenate(labels), np.concatenate(probabilities).argmax(axis=1)
        steps, ti = np.concatenate(steps), np.concatenate(ti)
        groups = {}
        if entry.id == "cbed_step_cnn":
            for k in sorted(set(steps)):  # the label's index (step_position k + 1)
                inside = steps == k
                groups[f"step {entry.label_values[k] if entry.label_values else k}: exact / within one"] = (
                    f"{np.mean(predicted[inside] == labels[inside]):.2f} / {np.mean(abs(predicted[inside] - labels[inside]) <= 1):.2f} "
                    f"({inside.sum()})")
        else:
            names = list(entry.label_values or entry.outputs)
            for k in sorted(set(steps[steps > 0])):
                inside = steps == k
                groups[f"rough, step {k}"] = f"{np.mean(predicted[inside] == labels[inside]):.2f} ({inside.sum()})"
            mixed = labels == names.index("intermixed")
            for low, high in zip(TI_BINS[:-1], TI_BINS[1:]):
                inside = mixed & (ti >= low - 0.02) & (ti < high - 0.02 if high < TI_BINS[-1] else ti <= high + 0.02)
                if inside.any():
                    groups[f"intermixed, Ti {low:.1f}-{high:.1f}"] = f"{np.mean(predicted[inside] == labels[inside]):.2f} ({inside.sum()})"
            abrupt = labels == names.index("abrupt")
            groups["abrupt"] = f"{np.mean(predicted[abrupt] == labels[abrupt]):.2f} ({abrupt.sum()})"
        for group, cell in groups.items():
            rows.setdefault(group, {})[split] = cell
    lines = ["| structure | " + " | ".join(splits) + " |", "|" + " --- |" * (len(splits) + 1)]
    lines += [f"| {group} | " + " | ".join(cells.get(s, "-") for s in splits) + " |" for group, cells in rows.items()]
    return lines


def reliability_figure(metrics: dict, path: str | Path, title: str) -> Path:
    """Accuracy against the top probability per split (``metrics[split]["reliability"]``), with the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="calibrated")
    for split in RELIABILITY_SPLITS:
        rows = metrics.get(split, {}).get("reliability")
        if rows:
            conf, acc, n = (np.array([r[i] for r in rows]) for i in (1, 2, 3))
            ax.plot(conf, acc, marker="o", label=f"{split} (ECE {metrics[split]['expected_calibration_error']:.3f})")
            for c, a, k in zip(conf, acc, n):
                ax.annotate(str(k), (c, a), fontsize=6, xytext=(2, -8), textcoords="offset points")
    ax.set(xlabel="top probability (bin mean)", ylabel="accuracy", xlim=(0, 1.02), ylim=(0, 1.02), title=title)
    ax.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)


def release(model_id: str, run_dir: str | Path, config: str = "small", data_dir: str | None = None,
            hub_revision: str = "v0.3.0", card_notes: str = "") -> Path:
    """Calibrate a training run of ``model_id`` on validation, benchmark every split (and by thickness class), and
    copy the packaged folder, with its reliability figure, into the shipped weights."""
    import keras

    from stem_zoo import data, hub
    from stem_zoo.benchmarking import benchmark
    from stem_zoo.registry import get_entry

    run = Path(run_dir)
    training = json.loads((run / "training.json").read_text())
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    old = get_entry(model_id)
    builder = data.load_builder(old.dataset, config, data_dir)
    labels, probabilities = split_probabilities(model, builder, "validation", old)
    temperature = fit_temperature(probabilities, labels)
    apply_temperature(model, temperature)
    version = str(builder.info.version)
    settings = training["settings"]
    entry = dataclasses.replace(
        old, dataset_config=config, dataset_version=version, metrics={}, metrics_version="", metrics_other_versions={},
        hub_revision=hub_revision,
        uncertainty={"kind": "class probabilities", "temperature": round(temperature, 4),
                     "calibrated_on": f"{old.dataset}/{config}:{version} validation",
                     "description": "temperature scaling: the last layer's logits divided by the temperature (folded "
                                    "into its weights), fitted by the validation negative log-likelihood"},
        training={"trainer": f"stem-zoo train {model_id} --config {config} --epochs {settings['epochs']} "
                             f"--batch-size {settings['batch_size']}"
                             + (f" --ensemble {settings['ensemble']}" if settings.get("ensemble", 1) > 1 else ""),
                  "optimizer": "Adam(1e-3), halved after 4 epochs without val_loss improvement; stopped after 10 without, "
                               "keeping the epoch of lowest val_loss; sparse categorical cross-entropy",
                  **{k: old.training[k] for k in ("dropout", "augmentation") if k in old.training},
                  "epochs": settings["epochs"], "global_batch": settings["batch_size"], "replicas": training["replicas"],
                  "hardware": training["hardware"], "train_seconds": training["train_seconds"],
                  "dataset": training["dataset"],
                  **{k: training[k] for k in ("selected_epoch", "epochs_run") if k in training},
                  **({"members": [{"seed": m["settings"]["seed"], "epochs_run": m.get("epochs_run"),
                                   "selected_epoch": m.get("selected_epoch"), "train_seconds": m["train_seconds"]}
                                  for m in training["members"]]} if training.get("members") else {})})
    with tempfile.TemporaryDirectory() as tmp:
        staged = hub.load_folder(hub.stage(model, entry, Path(tmp) / model_id, entry.hub_repo))
        record = benchmark(staged, config=config, data_dir=data_dir, by="thickness_class_angstrom")
    metrics = dict(record["splits"])
    for split, groups in record.get("by_feature", {}).items():
        if split != "feature":
            for value, m in groups.items():
                metrics[f"{split} @ {float(value) / 10:.1f} nm"] = m
    figure = f"{model_id}_reliability.png"
    notes = [card_notes, "", f"## Right by structure ({old.dataset}/{config} {version}; fraction right, examples)", "",
             *structure_table(model, builder, entry), "",
             f"## Calibration (temperature {temperature:.3f}, fitted on validation)", "",
             f"![reliability]({figure})", ""]
    entry = dataclasses.replace(entry, metrics=metrics, metrics_version=version, card_notes="\n".join(notes))
    folder = hub.stage(model, entry, Path(tempfile.mkdtemp()) / model_id, entry.hub_repo)
    reliability_figure(metrics, folder / figure, f"{model_id} ({config} {version})")
    return hub.copy_as_packaged(folder, model_id)

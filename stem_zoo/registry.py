"""Declared, typed entries of the model zoo (one per pretrained model), read from the weights folders.

Each ``stem_zoo/weights/<id>/config.json`` declares its model's entry (input spec, dataset,
labels, metrics, training); so does each ``<folder>/<id>/config.json`` of the folders listed
in ``$STEM_ZOO_WEIGHTS_PATH`` (``os.pathsep``-separated: models that live outside this
package; their ``builder`` module must be importable, e.g. on ``PYTHONPATH``).
:data:`MODELS` holds them all, :data:`FOLDERS` where each was found.

Every metric names the dataset version it was measured on: ``metrics`` were measured on
``metrics_version`` (required once there are metrics), and ``metrics_other_versions`` holds
the same weights' scores on other versions of the dataset (e.g. after a dataset release,
until new weights are trained on it), keyed by version. All are on ``dataset_config``.

Example:
    >>> from stem_zoo.registry import list_models, get_entry
    >>> "tilt_dcnn" in list_models()
    True
    >>> get_entry("tilt_dcnn").input.crop_shape
    (52, 74)
    >>> entry = get_entry("tilt_dcnn")
    >>> entry.dataset_version, entry.metrics_version, sorted(entry.metrics_by_version())
    ('3.0.0', '3.0.0', ['3.0.0'])
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class InputSpec:
    """What a model expects: input shape (without channels), pixel size, dataset feature, normalization.

    ``crop_shape`` is (rows, columns) of an image crop or (positions, ky, kx) of a CBED
    stack; ``pixel_size`` is A per pixel for images and mrad per pixel for diffraction.
    """

    crop_shape: tuple[int, ...]
    pixel_size: float
    channels: int = 1
    normalization: str = "standardize: zero mean, unit std per crop (training) or per micrograph (maps), outside the model"
    crop_convention: str = ""
    feature: str = "image"  # the dataset feature the model reads
    margin: tuple[int, ...] = ()  # context pixels on each side of the crop that the normalization reads
    lattice_constant: float | None = None  # A: the nominal lattice of the crops (its dataset's), for lattice-aware inputs


@dataclass(frozen=True)
class ModelEntry:
    """A pretrained model: how to build it, what it was trained on, where its weights live."""

    id: str
    builder: str  # "module:function" that builds the untrained Keras model from an InputSpec
    task: str
    dataset: str
    dataset_config: str
    dataset_version: str
    input: InputSpec
    outputs: tuple[str, ...]
    output_units: str
    hub_repo: str
    hub_revision: str
    license: str = "CC-BY-4.0"
    citation: str = ""
    metrics: dict = field(default_factory=dict)  # split -> {metric: value}, as measured on metrics_version
    metrics_version: str = ""  # the version of dataset/dataset_config that ``metrics`` were measured on
    metrics_other_versions: dict = field(default_factory=dict)  # version -> {split -> {metric: value}}, same weights
    training: dict = field(default_factory=dict)
    label: str = "angles"  # the dataset feature the model predicts
    subset: dict = field(default_factory=dict)  # feature -> the values (class names or ints) examples may have
    label_values: tuple = ()  # the label's dataset values in output order (class names or ints); () = 0, 1, ...
    card_notes: str = ""  # markdown for the model card: scope, known limits
    uncertainty: dict = field(default_factory=dict)  # how the model states its std (its architecture decodes it); {} = none

    def __post_init__(self):
        named = [("dataset_version", self.dataset_version),
                 *(("metrics_other_versions", version) for version in self.metrics_other_versions)]
        if self.metrics_version:
            named.append(("metrics_version", self.metrics_version))
        for what, version in named:
            if not VERSION_PATTERN.fullmatch(str(version)):
                raise ValueError(f"{self.id}: {what} names {version!r}, not a dataset version (MAJOR.MINOR.PATCH).")
        if self.metrics and not self.metrics_version:
            raise ValueError(f"{self.id}: its metrics name no dataset version; set metrics_version to the version "
                             f"of {self.dataset}/{self.dataset_config} they were measured on (trained on "
                             f"{self.dataset_version}).")
        if self.metrics_version in self.metrics_other_versions:
            raise ValueError(f"{self.id}: metrics_other_versions repeats metrics_version {self.metrics_version}; "
                             "keep one set of metrics per dataset version.")

    def metrics_by_version(self) -> dict[str, dict]:
        """{dataset version: {split: metrics}}: ``metrics`` (on ``metrics_version``) first, then the other versions."""
        return {**({self.metrics_version: self.metrics} if self.metrics else {}), **self.metrics_other_versions}

    def architecture(self):
        """The task's model module: it builds the model and says how it trains and reads its inputs (a
        :class:`stem_zoo.task.ZooTask`)."""
        import importlib

        return importlib.import_module(self.builder.split(":")[0])

    @property
    def is_classifier(self) -> bool:
        return self.output_units == "class probability"

    def to_dict(self) -> dict:
        return asdict(self)


VERSION_PATTERN = re.compile(r"\d+\.\d+\.\d+")  # TFDS dataset versions: MAJOR.MINOR.PATCH
WEIGHTS_DIR = Path(__file__).parent / "weights"
ENV_VAR = "STEM_ZOO_WEIGHTS_PATH"


def current_builder(builder: str) -> str:
    """``builder`` ("module:function") with a module that moved since an earlier release renamed to where it lives now.

    Each task folder lists its former module names (``FORMER_MODULES``), so a config on the Hub
    written before a move still loads.
    """
    module, _, function = builder.partition(":")
    if not module.startswith("stem_zoo.") or module.startswith("stem_zoo.tasks."):
        return builder
    from stem_zoo.task import builtin_tasks

    for package in builtin_tasks().values():
        if module in getattr(package, "FORMER_MODULES", {}):
            return f"{package.__name__}.{package.FORMER_MODULES[module]}:{function}"
    return builder


def entry_from_config(config: dict) -> ModelEntry:
    """The ModelEntry a model folder's ``config.json`` declares (its ``"entry"``)."""
    fields = dict(config["entry"])
    fields["builder"] = current_builder(fields["builder"])
    fields["input"] = InputSpec(**{**fields["input"], "crop_shape": tuple(fields["input"]["crop_shape"]),
                                   "margin": tuple(fields["input"].get("margin", ()))})
    fields["outputs"] = tuple(fields["outputs"])
    fields["subset"] = {k: tuple(v) for k, v in fields.get("subset", {}).items()}  # JSON lists back to tuples
    fields["label_values"] = tuple(fields.get("label_values", ()))
    return ModelEntry(**fields)


def discover(folder: str | Path = WEIGHTS_DIR) -> dict[str, ModelEntry]:
    """Every model a folder of model folders declares: ``<folder>/<id>/config.json``, one source of truth.

    A new zoo model is its weights folder (written by :func:`stem_zoo.hub.stage`); nothing
    else lists it. A folder whose name is not its entry's id is refused.
    """
    entries = {}
    for path in sorted(Path(folder).glob("*/config.json")):
        try:
            entry = entry_from_config(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path} does not declare a valid stem_zoo entry ({error}).") from None
        if entry.id != path.parent.name:
            raise ValueError(f"{path} declares {entry.id!r}; its folder must be named after it.")
        entries[entry.id] = entry
    return entries


def weights_folders() -> list[Path]:
    """The folders of model folders: the packaged ``weights/``, then those in ``$STEM_ZOO_WEIGHTS_PATH``."""
    return [WEIGHTS_DIR, *(Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p)]


def _discover_all() -> tuple[dict[str, ModelEntry], dict[str, Path]]:
    models: dict[str, ModelEntry] = {}
    folders: dict[str, Path] = {}
    for folder in weights_folders():
        for model_id, entry in discover(folder).items():
            if model_id not in models:  # the first folder of an id wins
                models[model_id], folders[model_id] = entry, Path(folder) / model_id
    return models, folders


MODELS, FOLDERS = _discover_all()


def list_models() -> list[str]:
    """Ids of every declared model."""
    return sorted(MODELS)


def get_entry(model_id: str) -> ModelEntry:
    """The entry of a model id, with a clear error for unknown ids."""
    try:
        return MODELS[model_id]
    except KeyError:
        raise ValueError(f"Unknown model {model_id!r}; known: {', '.join(list_models())}.") from None

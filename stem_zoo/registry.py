"""Declared, typed entries of the model zoo (one per pretrained model).

Example:
    >>> from stem_zoo.registry import list_models, get_entry
    >>> "tilt_dcnn" in list_models()
    True
    >>> get_entry("tilt_dcnn").input.crop_shape
    (52, 74)
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field


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
    metrics: dict = field(default_factory=dict)  # split -> {metric: value}, as measured
    training: dict = field(default_factory=dict)
    label: str = "angles"  # the dataset feature the model predicts
    subset: dict = field(default_factory=dict)  # feature -> the values (class names or ints) examples may have
    label_values: tuple = ()  # the label's dataset values in output order (class names or ints); () = 0, 1, ...
    card_notes: str = ""  # markdown for the model card: scope, known limits

    @property
    def is_classifier(self) -> bool:
        return self.output_units == "class probability"

    def to_dict(self) -> dict:
        return asdict(self)


TILT_DCNN = ModelEntry(
    id="tilt_dcnn",
    builder="stem_zoo.models.tilt_dcnn:build_tilt_dcnn",
    task="regression of octahedral tilt angles from an ABF STEM crop of 2x2 projected cells",
    dataset="stem_abf_tilt",
    dataset_config="small",
    dataset_version="1.0.0",  # the shipped weights; retraining on 2.0.0 is the open part of issue 9
    input=InputSpec(
        crop_shape=(52, 74),
        pixel_size=0.15,
        normalization="stem_zoo.normalization.local_standardize: each pixel minus the mean, over the std, of the "
                      "27 x 37-pixel box around it (one cell x two B-column spacings), outside the model, the same in "
                      "training, benchmarks and maps (the shipped 1.0.0 weights were trained with per-crop "
                      "standardization, which equals it on a perfect crystal: the box holds whole lattice periods)",
        crop_convention="rows [001], columns [110]; labels refer to the B column at 1/8 width, 1/4 height",
        margin=(13, 18),
    ),
    outputs=("alpha", "beta", "gamma"),
    output_units="degree",
    hub_repo="stem-zoo/tilt_dcnn",
    hub_revision="v0.1.0",  # the tag `stem-zoo publish` creates; the package ships the same weights
    citation="Laanait, He & Borisevich, arXiv:1902.06876",
    metrics={  # stem-zoo benchmark of the shipped weights on stem_abf_tilt/small 1.0.0
        "validation": {"rmse_deg": 1.248, "mae_deg": 0.903, "sign_accuracy": 0.972},
        "test": {"rmse_deg": 1.244, "mae_deg": 0.897, "sign_accuracy": 0.973},
        "test_multislice": {"rmse_deg": 1.2, "mae_deg": 0.915, "sign_accuracy": 1.0},
        "test_unseen_material": {"rmse_deg": 2.716, "mae_deg": 1.67, "sign_accuracy": 0.909},
        "test_imperfect": {"rmse_deg": 5.486, "mae_deg": 3.592, "sign_accuracy": 0.87},
    },
    training={
        "trainer": "stem-zoo train tilt_dcnn --config small --epochs 8 --batch-size 32",
        "epochs": 8, "global_batch": 32, "optimizer": "Adam(1e-3), halved every 2 epochs; Huber delta 25 deg, same decay",
        "l2": 1e-4, "augmentation": "stem_datasets.augment defaults", "replicas": 1,
        "hardware": "CPU only, 2 cores (x86_64)", "train_seconds": 1010.9,
    },
)

_CBED_INPUT = InputSpec(
    crop_shape=(8, 32, 32),
    pixel_size=1.835,
    normalization="stem_datasets.augment_cbed.preprocess_cbed: sqrt, then zero mean, unit std per stack, outside the model",
    crop_convention="8 probe positions from the SrTiO3 TiO2 plane 1.5 cells into LaAlO3; 32 x 32 px to 29.4 mrad at 200 kV, 20 mrad",
    feature="cbed",
)
_CBED_CITATION = "Oxley et al., Mach. Learn.: Sci. Technol. 1, 04LT01 (2020), arXiv:2002.09039"

CBED_INTERFACE_CNN = ModelEntry(
    id="cbed_interface_cnn",
    builder="stem_zoo.models.cbed_cnn:build_cbed_interface_cnn",
    task="classification of a LaAlO3/SrTiO3 interface as rough (buried step) or intermixed from one 4D-STEM line of CBED patterns",
    dataset="stem_cbed_interface",
    dataset_config="small",
    dataset_version="2.0.0",
    input=_CBED_INPUT,
    outputs=("rough", "intermixed"),
    output_units="class probability",
    hub_repo="stem-zoo/cbed_interface_cnn",
    hub_revision="v0.2.0",
    citation=_CBED_CITATION,
    label="interface",
    label_values=("rough", "intermixed"),  # abrupt (flat) interfaces are not this model's question
    metrics={},
    training={},
    card_notes="",
)

CBED_STEP_CNN = ModelEntry(
    id="cbed_step_cnn",
    builder="stem_zoo.models.cbed_cnn:build_cbed_step_cnn",
    task="depth of a buried step along the beam (0.1, ..., 0.9 of the thickness) from CBED patterns averaged over a unit cell",
    dataset="stem_cbed_interface",
    dataset_config="small",
    dataset_version="2.0.0",
    input=dataclasses.replace(_CBED_INPUT, feature="cbed_cell_average"),
    outputs=tuple(f"step_{k}" for k in range(1, 10)),
    output_units="class probability",
    hub_repo="stem-zoo/cbed_step_cnn",
    hub_revision="v0.2.0",
    citation=_CBED_CITATION,
    label="step_position",
    label_values=tuple(range(1, 10)),
    subset={"interface": ("rough",)},
    metrics={},
    training={},
    card_notes="",
)

MODELS: dict[str, ModelEntry] = {e.id: e for e in (TILT_DCNN, CBED_INTERFACE_CNN, CBED_STEP_CNN)}


def list_models() -> list[str]:
    """Ids of every declared model."""
    return sorted(MODELS)


def get_entry(model_id: str) -> ModelEntry:
    """The entry of a model id, with a clear error for unknown ids."""
    try:
        return MODELS[model_id]
    except KeyError:
        raise ValueError(f"Unknown model {model_id!r}; known: {', '.join(list_models())}.") from None

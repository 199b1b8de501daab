"""TFDS builders, one folder per dataset (installed as ``stem_datasets.builders``).

A dataset is one folder ``<name>/``: its TFDS builder ``<name>_dataset_builder.py``, its
recipe (``recipe.py``: what the configs generate, and the dataset's report section), its
metadata files, and any analysis of its own (``stem_abf_tilt``: the Cramer-Rao bound and
the MLE baseline). :data:`DATASETS` lists the folders found here and in the folders of
``$STEM_DATASETS_PATH`` (``os.pathsep``-separated folders that hold builder folders:
datasets that live outside this package). Importing this package imports no builder (so a
recipe imports without TensorFlow); :func:`register_all` imports every builder module,
which registers it with TFDS (:mod:`stem_datasets.pipeline.registration` calls it once
TFDS is imported). A new dataset is a new folder.
"""

import importlib
import os
from pathlib import Path

ENV_VAR = "STEM_DATASETS_PATH"

__path__.extend(p for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p and p not in __path__)  # noqa: F821


def _find(folders) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for root in folders:
        for folder in sorted(Path(root).iterdir()) if Path(root).is_dir() else ():
            if (folder / f"{folder.name}_dataset_builder.py").is_file():
                names.setdefault(folder.name)  # the first folder of a name wins, as for any import
    return tuple(names)


DATASETS: tuple[str, ...] = _find(__path__)  # noqa: F821


def register_all() -> None:
    """Import every builder module (each registers with TFDS on import); imports TensorFlow Datasets."""
    for name in DATASETS:
        importlib.import_module(f"stem_datasets.builders.{name}.{name}_dataset_builder")  # one name, however reached

"""TFDS builders, one folder per dataset (installed as ``stem_datasets.builders``).

Importing this package imports every ``<name>/<name>_dataset_builder.py`` found here and in
the folders listed in ``$STEM_DATASETS_PATH`` (``os.pathsep``-separated folders that hold
builder folders: datasets that live outside this package), which registers each with TFDS;
:data:`DATASETS` lists their names. A new dataset is a new folder.
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
for _name in DATASETS:
    importlib.import_module(f"stem_datasets.builders.{_name}.{_name}_dataset_builder")  # one name, however this file was reached

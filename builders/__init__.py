"""TFDS builders, one folder per dataset (installed as ``stem_datasets.builders``).

Importing this package imports every ``<name>/<name>_dataset_builder.py`` found here, which
registers it with TFDS; :data:`DATASETS` lists their names. A new dataset is a new folder.
"""

import importlib
from pathlib import Path

DATASETS: tuple[str, ...] = tuple(
    folder.name for folder in sorted(Path(__file__).parent.iterdir())
    if (folder / f"{folder.name}_dataset_builder.py").is_file()
)
for _name in DATASETS:
    importlib.import_module(f"stem_datasets.builders.{_name}.{_name}_dataset_builder")  # one name, however this file was reached

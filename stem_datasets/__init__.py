"""stem_datasets: physics-simulated STEM datasets.

Importing the package registers every dataset builder with TensorFlow Datasets:

    >>> import stem_datasets, tensorflow_datasets as tfds
    >>> "stem_abf_tilt" in tfds.list_builders()
    True
"""

from pathlib import Path as _Path

_here = _Path(__file__).resolve().parent
if not (_here / "builders").is_dir() and (_here.parent / "builders" / "__init__.py").is_file():
    # Source checkout: the builder folders live in builders/ beside the package and are
    # installed as stem_datasets.builders (setup.cfg package_dir).
    __path__.append(str(_here.parent))  # noqa: F821

from stem_datasets import builders  # noqa: E402,F401  (registers the TFDS builders)

__version__ = "0.1.0"


def prepare(name: str, data_dir: str | None = None):
    """The TFDS builder ``name`` ("dataset/config"), built here first if it is missing.

    >>> builder = prepare("stem_abf_tilt/smoke")  # doctest: +SKIP
    """
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    builder.download_and_prepare()  # our builders never look for a pre-built copy on GCS
    return builder

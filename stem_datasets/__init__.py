"""stem_datasets: physics-simulated STEM datasets.

The physics modules (``structures``, ``simulate``, ``glazer``, ``surrogate``, ...) import
without TensorFlow. The dataset builders register with TensorFlow Datasets as soon as this
package and ``tensorflow_datasets`` are both imported, in either order
(:mod:`stem_datasets.pipeline.registration`):

    >>> import stem_datasets, tensorflow_datasets as tfds
    >>> "stem_abf_tilt" in tfds.list_builders()
    True
"""

from stem_datasets.pipeline import registration as _registration

_registration.install()

__version__ = "0.1.0"


def prepare(name: str, data_dir: str | None = None):
    """The TFDS builder ``name`` ("dataset/config"), built here first if it is missing.

    >>> builder = prepare("stem_abf_tilt/smoke")  # doctest: +SKIP
    """
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    builder.download_and_prepare()  # our builders never look for a pre-built copy on GCS
    return builder

"""stem_zoo: reference models for the stem_datasets benchmarks.

``import stem_zoo`` stays fast: TensorFlow and TFDS are imported only when a function
needs them. Besides the core functions below, each task folder (:mod:`stem_zoo.task`) adds
its own (``predict_map``, ``locate_atoms``, ``predict_polarization``, ``classify_stacks``),
imported when first used.

    >>> import stem_zoo
    >>> stem_zoo.list_models()
    ['atom_fcn', 'cbed_interface_cnn', 'cbed_step_cnn', 'polarization_dcnn', 'polarization_dcnn_grid', 'tilt_dcnn']
    >>> stem_zoo.predict_map.__module__
    'stem_zoo.tasks.tilt.maps'
"""

from stem_zoo.registry import MODELS as _MODELS
from stem_zoo.registry import get_entry, list_models
from stem_zoo.task import facades as _facades
from stem_zoo.task import resolve as _resolve

__version__ = "0.1.0"
_FACADES = _facades(_MODELS.values())
__all__ = sorted(["benchmark", "get_entry", "list_models", "load", "publish", *_FACADES])


def load(name_or_path: str, revision: str | None = None, cache_dir: str | None = None):
    """A zoo id, a model folder or ``hf://owner/name[@revision]`` -> Keras model (see stem_zoo.hub)."""
    from stem_zoo.hub import load as _load

    return _load(name_or_path, revision=revision, cache_dir=cache_dir)


def publish(model, repo_id: str, **kwargs):
    """Stage (and unless dry_run=True, upload) a model folder for the Hub (see stem_zoo.hub)."""
    from stem_zoo.hub import publish as _publish

    return _publish(model, repo_id, **kwargs)


def benchmark(model, **kwargs) -> dict:
    """Score a model or callable on every split of a dataset config (see stem_zoo.benchmarking)."""
    from stem_zoo.benchmarking import benchmark as _benchmark

    return _benchmark(model, **kwargs)


def __getattr__(name: str):
    if name in _FACADES:
        return _resolve(*_FACADES[name])
    raise AttributeError(f"module 'stem_zoo' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_FACADES])

"""stem_zoo: reference models for the stem_datasets benchmarks.

``import stem_zoo`` stays fast: TensorFlow and TFDS are imported only when a function
needs them.

    >>> import stem_zoo
    >>> stem_zoo.list_models()
    ['atom_fcn', 'cbed_interface_cnn', 'cbed_step_cnn', 'polarization_dcnn', 'polarization_dcnn_grid', 'tilt_dcnn']
"""

from stem_zoo.registry import get_entry, list_models

__version__ = "0.1.0"
__all__ = ["benchmark", "classify_stacks", "get_entry", "list_models", "load", "locate_atoms", "predict_map",
           "predict_polarization", "publish"]


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


def predict_map(image, model="tilt_dcnn", **kwargs):
    """Unit-cell maps of tilt angles from a micrograph (see stem_zoo.maps)."""
    from stem_zoo.maps import predict_map as _predict_map

    return _predict_map(image, model=model, **kwargs)


def classify_stacks(stacks, model="cbed_interface_cnn", **kwargs):
    """Class probabilities of 4D-STEM CBED stacks (see stem_zoo.cbed)."""
    from stem_zoo.cbed import classify_stacks as _classify

    return _classify(stacks, model=model, **kwargs)


def locate_atoms(image, model="atom_fcn", **kwargs):
    """Atomic columns (sub-pixel positions, classes) of a micrograph (see stem_zoo.atoms)."""
    from stem_zoo.atoms import locate_atoms as _locate_atoms

    return _locate_atoms(image, model=model, **kwargs)


def predict_polarization(image, model="polarization_dcnn", **kwargs):
    """Per-cell polarization (Px, Py) [pm] of a BiFeO3 HAADF micrograph (see stem_zoo.polarization)."""
    from stem_zoo.polarization import predict_polarization as _predict_polarization

    return _predict_polarization(image, model=model, **kwargs)

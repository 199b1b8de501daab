"""The runnable examples in the docstrings of every module of stem_datasets (builders included) and stem_zoo."""

import doctest
import importlib
import importlib.util
import pkgutil

import pytest

import stem_datasets
import stem_zoo


def _modules() -> list[str]:
    """Every module of the packages whose source holds an example (found without importing the modules)."""
    names = []
    for package in (stem_datasets, stem_zoo):
        names.append(package.__name__)
        names += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    builders = importlib.util.find_spec("stem_datasets.builders")  # a source checkout maps it to builders/
    names += [m.name for m in pkgutil.walk_packages(builders.submodule_search_locations, "stem_datasets.builders.")]
    found = []
    for name in dict.fromkeys(names):
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec else None
        if origin and origin.endswith(".py") and ">>>" in open(origin, encoding="utf-8").read():
            found.append(name)
    return found


MODULES = _modules()


def test_every_package_is_walked():
    assert {"stem_datasets.pipeline.recipe", "stem_datasets.pipeline.registration", "stem_zoo.registry", "stem_zoo.tasks.tilt.model",
            "stem_datasets.builders.stem_abf_tilt.stem_abf_tilt_dataset_builder"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

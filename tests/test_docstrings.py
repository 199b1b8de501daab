"""The runnable examples in the docstrings of the installed modules."""

import doctest
import importlib

import pytest

MODULES = [
    "stem_datasets.glazer", "stem_datasets.structures", "stem_datasets.microscope", "stem_datasets.cache",
    "stem_datasets.imaging", "stem_datasets.surrogate", "stem_datasets.simulate", "stem_datasets.augment",
    "stem_datasets.abf_tilt", "stem_datasets.cbed_interface", "stem_datasets.augment_cbed",
    "stem_zoo.cbed", "stem_zoo.benchmarking", "stem_zoo.models.cbed_cnn",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

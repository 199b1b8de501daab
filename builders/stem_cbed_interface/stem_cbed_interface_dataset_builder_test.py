"""TFDS-style check of the builder on its smoke config (the shared session build)."""

import pytest
import tensorflow_datasets as tfds

import stem_datasets  # noqa: F401

pytestmark = pytest.mark.slow  # the full tier only: builds the smoke config (4D-STEM, about a minute on two cores)


def test_smoke_loads_as_supervised(smoke_build):
    cbed_smoke_data_dir = smoke_build("stem_cbed_interface")
    ds = tfds.load("stem_cbed_interface/smoke", split="test_unseen_thickness", data_dir=cbed_smoke_data_dir, as_supervised=True)
    cbed, interface = next(iter(ds))
    assert cbed.shape == (8, 32, 32) and int(interface) in (0, 1, 2)
    info = tfds.builder("stem_cbed_interface/smoke", data_dir=cbed_smoke_data_dir).info
    assert set(info.splits) == {"train", "validation", "test", "test_unseen_thickness"}
    assert info.features["interface"].names == ["rough", "intermixed", "abrupt"] and str(info.version) == "3.0.0"
    assert "Oxley" in info.citation and info.redistribution_info.license == "CC-BY-4.0"

"""TFDS-style check of the builder on its smoke config (the shared session build)."""

import pytest
import tensorflow_datasets as tfds

import stem_datasets  # noqa: F401

pytestmark = pytest.mark.slow  # the full tier only: builds the smoke config (about two minutes on two cores)


def test_smoke_loads_as_supervised(smoke_build):
    smoke_data_dir = smoke_build("stem_abf_tilt")
    ds = tfds.load("stem_abf_tilt/smoke", split="test_multislice", data_dir=smoke_data_dir, as_supervised=True)
    image, angles = next(iter(ds))
    assert image.shape == (128, 144, 1) and angles.shape == (3,)
    info = tfds.builder("stem_abf_tilt/smoke", data_dir=smoke_data_dir).info
    assert set(info.splits) == {"train", "validation", "test", "test_multislice", "test_unseen_thickness",
                                "test_unseen_material", "test_imperfect"}
    assert "Laanait" in info.citation and info.redistribution_info.license == "CC-BY-4.0"

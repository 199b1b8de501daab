"""TFDS-style check of the builder on its smoke config (the shared session build)."""

import pytest
import tensorflow_datasets as tfds

import stem_datasets  # noqa: F401

pytestmark = pytest.mark.slow  # the full tier only: builds the smoke config (PRISM, about six minutes on 2 cores)


def test_smoke_loads_as_supervised(smoke_build):
    data_dir = smoke_build("stem_atom_columns")
    image, mask = next(iter(tfds.load("stem_atom_columns/smoke", split="test_unseen_lattice", data_dir=data_dir,
                                      as_supervised=True)))
    assert image.shape == (64, 64, 1) and mask.shape == (64, 64) and int(mask.numpy().max()) in (2, 3)
    info = tfds.builder("stem_atom_columns/smoke", data_dir=data_dir).info
    assert set(info.splits) == {"train", "validation", "test", "test_unseen_lattice", "test_low_dose"}
    assert "Ziatdinov" in info.citation and info.redistribution_info.license == "CC-BY-4.0"

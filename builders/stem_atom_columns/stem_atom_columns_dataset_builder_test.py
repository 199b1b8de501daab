"""TFDS-style check of the builder on its smoke config, each split capped at its first structure.

The whole smoke build (37 PRISM structures) takes about eleven minutes on 2 cores, over a third of the full
tier, and no other test reads it; TFDS's own test knob, ``DownloadConfig(max_examples_per_split=...)``, stops each
split's generator after its first structure (HAADF and ABF), so the builder, its features, splits and metadata are
checked on five real PRISM structures in about a minute and a half. Every zone's structures and draws are checked
without PRISM in ``tests/test_atom_columns.py``; the main job builds the whole smoke config.
"""

import pytest
import tensorflow_datasets as tfds

import stem_datasets  # noqa: F401
from stem_datasets.builders.stem_atom_columns import recipe as atom_columns

pytestmark = pytest.mark.slow  # the full tier only: PRISM simulations of five structures

PER_STRUCTURE = len(atom_columns.DETECTORS)  # one example per detector, one shot in smoke


def test_smoke_loads_as_supervised(tmp_path):
    builder = tfds.builder("stem_atom_columns/smoke", data_dir=tmp_path)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(max_examples_per_split=PER_STRUCTURE))
    image, mask = next(iter(tfds.load("stem_atom_columns/smoke", split="test_unseen_lattice", data_dir=tmp_path,
                                      as_supervised=True)))
    assert image.shape == (64, 64, 1) and mask.shape == (64, 64) and int(mask.numpy().max()) in (2, 3)
    info = tfds.builder("stem_atom_columns/smoke", data_dir=tmp_path).info
    assert set(info.splits) == {"train", "validation", "test", "test_unseen_lattice", "test_low_dose"}
    assert all(info.splits[split].num_examples == PER_STRUCTURE for split in info.splits)
    unseen = tfds.as_numpy(tfds.load("stem_atom_columns/smoke", split="test_unseen_lattice", data_dir=tmp_path))
    assert {example["lattice"].decode() for example in unseen} == set(atom_columns.UNSEEN_ZONES)
    assert "Ziatdinov" in info.citation and info.redistribution_info.license == "CC-BY-4.0"

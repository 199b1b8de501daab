"""TFDS-style check of the builder on its smoke config (the shared session build)."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

import stem_datasets  # noqa: F401

pytestmark = pytest.mark.slow  # the full tier only: builds the smoke config (PRISM, about four minutes on 2 cores)


def test_smoke_loads_as_supervised(smoke_build):
    data_dir = smoke_build("stem_bfo_polarization")
    window, p = next(iter(tfds.load("stem_bfo_polarization/smoke", split="test", data_dir=data_dir, as_supervised=True)))
    assert window.shape == (24, 24, 1) and p.shape == (2,) and 5 < float(np.hypot(*p.numpy())) < 60
    info = tfds.builder("stem_bfo_polarization/smoke", data_dir=data_dir).info
    assert set(info.splits) == {"train", "validation", "test", "test_unseen_field", "test_unseen_composition",
                                "test_mistilt"}
    assert "Ghosh" in info.citation and info.redistribution_info.license == "CC-BY-4.0"

"""Shared fixtures: an isolated simulation cache and one smoke build per test session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of test logs


@pytest.fixture(scope="session", autouse=True)
def simulation_cache_dir(tmp_path_factory):
    """Every test shares one fresh multislice cache, never the user's."""
    path = tmp_path_factory.mktemp("multislice-cache")
    old = os.environ.get("STEM_ZOO_CACHE")
    os.environ["STEM_ZOO_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("STEM_ZOO_CACHE", None)
    else:
        os.environ["STEM_ZOO_CACHE"] = old


@pytest.fixture(scope="session")
def smoke_data_dir(tmp_path_factory, simulation_cache_dir):
    """``stem_abf_tilt/smoke`` built once (about two minutes on two cores)."""
    import stem_datasets  # noqa: F401
    import tensorflow_datasets as tfds

    data_dir = tmp_path_factory.mktemp("tfds")
    tfds.builder("stem_abf_tilt/smoke", data_dir=data_dir).download_and_prepare()
    return data_dir


@pytest.fixture(scope="session")
def cbed_smoke_data_dir(tmp_path_factory, simulation_cache_dir):
    """``stem_cbed_interface/smoke`` built once (about a minute on two cores)."""
    import stem_datasets  # noqa: F401
    import tensorflow_datasets as tfds

    data_dir = tmp_path_factory.mktemp("tfds-cbed")
    tfds.builder("stem_cbed_interface/smoke", data_dir=data_dir).download_and_prepare()
    return data_dir

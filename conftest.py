"""Shared fixtures: an isolated simulation cache and one smoke build per dataset and test session."""

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
def smoke_build(tmp_path_factory, simulation_cache_dir):
    """``smoke_build("stem_cbed_interface") -> data_dir``: a dataset's smoke config, built at most once per session.

    Each dataset gets its own TFDS data dir (``stem_abf_tilt`` about two minutes on two cores,
    ``stem_cbed_interface`` about one).
    """
    built: dict[str, object] = {}

    def build(dataset: str):
        if dataset not in built:
            import stem_datasets  # noqa: F401
            import tensorflow_datasets as tfds

            data_dir = tmp_path_factory.mktemp(f"tfds-{dataset}")
            tfds.builder(f"{dataset}/smoke", data_dir=data_dir).download_and_prepare()
            built[dataset] = data_dir
        return built[dataset]

    return build


@pytest.fixture
def saved_figures(monkeypatch):
    """Every matplotlib Figure saved during the test, in order (still written to its file), to read what it shows."""
    from matplotlib.figure import Figure

    figures, savefig = [], Figure.savefig

    def record(self, *args, **kwargs):
        figures.append(self)
        return savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return figures

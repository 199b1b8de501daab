"""Model folders, the Hub card, offline loading from a prepared Hugging Face cache."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import stem_zoo
from stem_zoo import hub
from stem_zoo.models.tilt_dcnn import build_tilt_dcnn
from stem_zoo.registry import get_entry

ENTRY = dataclasses.replace(get_entry("tilt_dcnn"), metrics={"test": {"rmse_deg": 1.25, "mae_deg": 0.9}},
                            training={"epochs": 1})


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    model = build_tilt_dcnn(ENTRY.input)
    folder = hub.publish(model, "someone/tilt_dcnn_test", entry=ENTRY, dry_run=True,
                         out_dir=tmp_path_factory.mktemp("staged"))
    return model, folder


def test_staged_folder_has_weights_config_and_a_parsable_card(staged):
    from huggingface_hub import ModelCard

    _, folder = staged
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.keras"]
    card = ModelCard.load(folder / "README.md")
    assert card.data.license == "cc-by-4.0"
    results = {(r.dataset_split, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert results == {("test", "rmse_deg"): 1.25, ("test", "mae_deg"): 0.9}
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "tilt_dcnn" and config["input"]["pixel_size"] == 0.15
    assert config["outputs"] == ["alpha", "beta", "gamma"] and len(config["sha256"]) == 64


def test_folder_round_trip_carries_metadata(staged):
    model, folder = staged
    loaded = stem_zoo.load(str(folder))
    x = np.random.default_rng(0).normal(size=(2, 52, 74, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), atol=1e-5)
    assert loaded.zoo.pixel_size == 0.15 and loaded.zoo.crop_shape == (52, 74)
    assert loaded.zoo.output_names == ("alpha", "beta", "gamma")


def test_corrupt_weights_are_refused_before_loading(staged, tmp_path):
    _, folder = staged
    for name in ("model.keras", "config.json", "README.md"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    (tmp_path / "model.keras").write_bytes((folder / "model.keras").read_bytes()[:-100])
    with pytest.raises(ValueError, match="does not match the SHA-256"):
        stem_zoo.load(str(tmp_path))


def _hub_cache(folder, cache, repo="someone/tilt_dcnn_test", commit="a" * 40):
    snapshot = cache / f"models--{repo.replace('/', '--')}" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name in ("model.keras", "config.json", "README.md"):
        (snapshot / name).write_bytes((folder / name).read_bytes())
    refs = cache / f"models--{repo.replace('/', '--')}" / "refs"
    refs.mkdir()
    (refs / "v1").write_text(commit)


OFFLINE_LOAD = "import sys, stem_zoo; m = stem_zoo.load(sys.argv[1], cache_dir=sys.argv[2]); print(m.zoo.source)"


def test_hub_model_loads_offline_from_the_cache(staged, tmp_path):
    _, folder = staged
    _hub_cache(folder, tmp_path)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", OFFLINE_LOAD, "hf://someone/tilt_dcnn_test@v1", str(tmp_path)],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("hf://someone/tilt_dcnn_test@v1")

    missing = subprocess.run([sys.executable, "-c", OFFLINE_LOAD, "hf://someone/other@v1", str(tmp_path)],
                             env=env, capture_output=True, text=True)
    assert missing.returncode != 0
    assert "is not in the Hugging Face cache" in missing.stderr and "huggingface-cli download" in missing.stderr


def test_publish_uploads_but_keeps_an_existing_card(staged, tmp_path, monkeypatch):
    import huggingface_hub

    model, _ = staged
    calls = {}

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, exist_ok):
            calls["create"] = (repo_id, exist_ok)

        def file_exists(self, repo_id, filename):
            return filename == "README.md"

        def upload_folder(self, **kwargs):
            calls["upload"] = kwargs

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    hub.publish(model, "someone/tilt_dcnn_test", entry=ENTRY, dry_run=False, out_dir=tmp_path)
    assert calls["create"] == ("someone/tilt_dcnn_test", True)
    assert calls["upload"]["ignore_patterns"] == ["README.md"] and calls["upload"]["folder_path"] == str(tmp_path)


@pytest.mark.parametrize("bad, error", [("nonexistent_model", ValueError), ("hf://no-slash", ValueError)])
def test_bad_names(bad, error):
    with pytest.raises(error):
        stem_zoo.load(bad)


def test_a_model_folder_declares_its_own_entry(staged, tmp_path):
    """The registry is the weights folders: a staged folder registers itself, a misnamed one is refused."""
    import shutil

    from stem_zoo.registry import discover

    _, folder = staged
    shutil.copytree(folder, tmp_path / "models" / "tilt_dcnn")
    found = discover(tmp_path / "models")
    assert list(found) == ["tilt_dcnn"] and found["tilt_dcnn"].input.crop_shape == get_entry("tilt_dcnn").input.crop_shape
    shutil.copytree(folder, tmp_path / "misnamed" / "other_name")
    with pytest.raises(ValueError, match="must be named after it"):
        discover(tmp_path / "misnamed")
    assert set(discover()) == {p.parent.name for p in (Path(stem_zoo.__file__).parent / "weights").glob("*/config.json")}

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
from stem_zoo.tasks.tilt.model import build_tilt_dcnn
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


def _hub_cache(folder, cache, repo="someone/tilt_dcnn_test", commit="a" * 40, refs=("v1",)):
    repo_dir = cache / f"models--{repo.replace('/', '--')}"
    (repo_dir / "snapshots" / commit).mkdir(parents=True)
    for name in ("model.keras", "config.json", "README.md"):
        (repo_dir / "snapshots" / commit / name).write_bytes((folder / name).read_bytes())
    (repo_dir / "refs").mkdir(exist_ok=True)
    for ref in refs:
        (repo_dir / "refs" / ref).write_text(commit)


OFFLINE_LOAD = """
import json, sys, warnings, stem_zoo
done = []
for name, revision in json.loads(sys.argv[1]):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            source = stem_zoo.load(name, revision=revision, cache_dir=sys.argv[2]).zoo.source
        except FileNotFoundError as error:
            source = f"FileNotFoundError: {error}"
    done.append({"source": source, "warnings": [str(w.message) for w in caught
                                                if w.category is UserWarning and "revision" in str(w.message)]})
print(json.dumps(done))
"""


def test_hub_model_loads_offline_from_the_cache_and_records_its_commit(staged, tmp_path):
    _, folder = staged
    main, tagged, other = "b" * 40, "a" * 40, "c" * 40
    _hub_cache(folder, tmp_path, commit=tagged, refs=("v1",))
    _hub_cache(folder, tmp_path, commit=main, refs=("main",))
    _hub_cache(folder, tmp_path, repo=ENTRY.hub_repo, commit=other, refs=("v9.9.9",))
    loads = [("hf://someone/tilt_dcnn_test@v1", None), ("hf://someone/tilt_dcnn_test", None),
             ("hf://someone/tilt_dcnn_test", "v1"), ("tilt_dcnn", "v9.9.9"), ("tilt_dcnn", ENTRY.hub_revision),
             ("hf://someone/other@v1", None)]
    done = subprocess.run([sys.executable, "-c", OFFLINE_LOAD, json.dumps(loads), str(tmp_path)],
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    pinned, unpinned, by_argument, zoo_other, zoo_packaged, missing = json.loads(done.stdout.strip().splitlines()[-1])
    # A pinned revision loads its commit quietly; the source names that commit, not the tag (tags can be moved).
    assert pinned == by_argument == {"source": f"hf://someone/tilt_dcnn_test@{tagged}", "warnings": []}
    # No revision: the moving main branch, with one warning that names it and how to pin the commit it resolved to.
    assert unpinned["source"] == f"hf://someone/tilt_dcnn_test@{main}"
    assert len(unpinned["warnings"]) == 1 and "'main'" in unpinned["warnings"][0]
    assert f"hf://someone/tilt_dcnn_test@{main}" in unpinned["warnings"][0]
    # A zoo id at another revision than its packaged weights goes to its Hub repo; at its own revision it stays packaged.
    assert zoo_other == {"source": f"hf://{ENTRY.hub_repo}@{other}", "warnings": []}
    assert zoo_packaged["source"] == "packaged:tilt_dcnn"
    assert "is not in the Hugging Face cache" in missing["source"] and "huggingface-cli download" in missing["source"]


def test_conflicting_or_meaningless_revisions_are_refused(staged):
    _, folder = staged
    with pytest.raises(ValueError, match="pins @v1 but revision='v2'"):
        stem_zoo.load("hf://someone/tilt_dcnn_test@v1", revision="v2")
    with pytest.raises(ValueError, match="has no revisions"):
        stem_zoo.load(str(folder), revision="v1")


class FakeApi:
    """A stand-in for huggingface_hub.HfApi: records every call, holds the repo's refs, never touches the network."""

    calls: list = []
    tags: tuple = ()
    files: tuple = ()

    def __init__(self, token=None):
        pass

    def create_repo(self, repo_id, exist_ok=False, repo_type=None):
        self.calls.append(("create_repo", repo_id, {"exist_ok": exist_ok, "repo_type": repo_type}))

    def file_exists(self, repo_id, filename, repo_type=None):
        return filename in self.files

    def list_repo_refs(self, repo_id, repo_type=None):
        from huggingface_hub import GitRefInfo, GitRefs

        self.calls.append(("list_repo_refs", repo_id, {"repo_type": repo_type}))
        refs = [GitRefInfo(name=t, ref=f"refs/tags/{t}", target_commit="0" * 40) for t in self.tags]
        return GitRefs(branches=[GitRefInfo(name="main", ref="refs/heads/main", target_commit="0" * 40)],
                       converts=[], tags=refs)

    def upload_folder(self, **kwargs):
        from huggingface_hub import CommitInfo

        self.calls.append(("upload_folder", kwargs["repo_id"], kwargs))
        return CommitInfo(commit_url=f"https://huggingface.co/{kwargs['repo_id']}/commit/{'c' * 40}",
                          commit_message=kwargs.get("commit_message"), commit_description="", oid="c" * 40)

    def create_tag(self, repo_id, *, tag, revision=None, repo_type=None, tag_message=None):
        self.calls.append(("create_tag", repo_id, {"tag": tag, "revision": revision, "repo_type": repo_type}))


@pytest.fixture
def fake_api(monkeypatch):
    """A fresh FakeApi class in place of huggingface_hub.HfApi (set its tags and files before use)."""
    import huggingface_hub

    api = type("RecordingApi", (FakeApi,), {"calls": [], "tags": (), "files": ()})
    monkeypatch.setattr(huggingface_hub, "HfApi", api)
    return api


def test_publish_uploads_but_keeps_an_existing_card(staged, tmp_path, fake_api):
    model, _ = staged
    fake_api.files = ("README.md",)
    hub.publish(model, "someone/tilt_dcnn_test", entry=ENTRY, dry_run=False, out_dir=tmp_path)
    calls = {name: (repo, kwargs) for name, repo, kwargs in fake_api.calls}
    assert calls["create_repo"] == ("someone/tilt_dcnn_test", {"exist_ok": True, "repo_type": None})
    upload = calls["upload_folder"][1]
    assert upload["ignore_patterns"] == ["README.md"] and upload["folder_path"] == str(tmp_path)


def test_publish_tags_the_uploaded_commit_with_the_entry_revision(staged, tmp_path, fake_api):
    model, _ = staged
    hub.publish(model, "someone/tilt_dcnn_test", entry=ENTRY, dry_run=False, out_dir=tmp_path)
    names = [name for name, _, _ in fake_api.calls]
    assert names.index("list_repo_refs") < names.index("upload_folder") < names.index("create_tag")
    assert fake_api.calls[-1] == ("create_tag", "someone/tilt_dcnn_test",
                                  {"tag": ENTRY.hub_revision, "revision": "c" * 40, "repo_type": "model"})
    assert [kwargs["ignore_patterns"] for name, _, kwargs in fake_api.calls if name == "upload_folder"] == [None]


def test_publish_refuses_an_existing_tag_and_uploads_nothing(staged, tmp_path, fake_api):
    model, _ = staged
    fake_api.tags = ("v0.0.1", ENTRY.hub_revision)
    with pytest.raises(ValueError, match=f"already has a revision '{ENTRY.hub_revision}'; nothing was uploaded"):
        hub.publish(model, "someone/tilt_dcnn_test", entry=ENTRY, dry_run=False, out_dir=tmp_path)
    assert not [name for name, _, _ in fake_api.calls if name in ("upload_folder", "create_tag")]


def test_dry_run_contacts_nothing(staged, tmp_path, fake_api, monkeypatch):
    import socket

    import huggingface_hub

    model, _ = staged
    contacted = []  # every way to the Hub: an HfApi made, a module-level upload, a socket connected

    def refuse(self, address):
        contacted.append(("connect", address))
        raise OSError("a dry run must not open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(fake_api, "__init__", lambda self, token=None: contacted.append(("HfApi", token)))
    for name in ("create_repo", "upload_folder", "upload_file", "create_commit", "create_tag"):
        monkeypatch.setattr(huggingface_hub, name, lambda *args, _name=name, **kwargs: contacted.append(_name))
    folder = hub.publish(model, "someone/tilt_dcnn_test", entry=ENTRY, dry_run=True, out_dir=tmp_path / "dry",
                         token="hf_x")
    assert contacted == [] and fake_api.calls == []
    # What it leaves is the folder an upload sends: the weights it checksums, the card model_card writes.
    assert folder == tmp_path / "dry" and sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json",
                                                                                      "model.keras"]
    loaded = stem_zoo.load(str(folder))
    x = np.random.default_rng(1).normal(size=(1, 52, 74, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), atol=1e-5)
    hub.model_card(ENTRY, "someone/tilt_dcnn_test").save(tmp_path / "card.md")
    assert (folder / "README.md").read_text() == (tmp_path / "card.md").read_text()
    # The same watch sees an upload: a dry run that uploaded would not pass unnoticed.
    hub.publish(model, "someone/tilt_dcnn_test", entry=ENTRY, dry_run=False, out_dir=tmp_path / "up", token="hf_x")
    assert contacted == [("HfApi", "hf_x")] and [name for name, _, _ in fake_api.calls][-2:] == ["upload_folder",
                                                                                              "create_tag"]


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


def test_cli_publish_is_a_dry_run_unless_upload(tmp_path, fake_api, capsys):
    from stem_zoo.cli import main

    assert main(["publish", "tilt_dcnn", "someone/tilt_dcnn_test", "--out", str(tmp_path / "dry")]) == 0
    assert fake_api.calls == [] and (tmp_path / "dry" / "model.keras").is_file()
    assert "dry run, nothing uploaded" in capsys.readouterr().out
    assert main(["publish", "tilt_dcnn", "someone/tilt_dcnn_test", "--out", str(tmp_path / "up"), "--upload"]) == 0
    assert [name for name, _, _ in fake_api.calls][-2:] == ["upload_folder", "create_tag"]

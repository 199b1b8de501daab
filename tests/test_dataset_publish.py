"""Publishing a config's benchmark splits: the staged folder, its card, the dry run, the tagged upload (offline)."""

import json

import pytest

DATASET = "stem_cbed_interface"
NAME = f"{DATASET}/smoke"
REPO = "someone/cbed_benchmark"
COMMIT = "d" * 40


class FakeApi:
    """A stand-in for huggingface_hub.HfApi: records every call and holds the repo's tags; no network."""

    calls: list = []
    tags: tuple = ()

    def __init__(self, token=None):
        pass

    def create_repo(self, repo_id, repo_type=None, exist_ok=False):
        self.calls.append(("create_repo", {"repo_id": repo_id, "repo_type": repo_type, "exist_ok": exist_ok}))

    def list_repo_refs(self, repo_id, repo_type=None):
        from huggingface_hub import GitRefInfo, GitRefs

        self.calls.append(("list_repo_refs", {"repo_id": repo_id, "repo_type": repo_type}))
        return GitRefs(branches=[GitRefInfo(name="main", ref="refs/heads/main", target_commit="0" * 40)], converts=[],
                       tags=[GitRefInfo(name=t, ref=f"refs/tags/{t}", target_commit="0" * 40) for t in self.tags])

    def upload_folder(self, **kwargs):
        from huggingface_hub import CommitInfo

        self.calls.append(("upload_folder", kwargs))
        return CommitInfo(commit_url=f"https://huggingface.co/datasets/{kwargs['repo_id']}/commit/{COMMIT}",
                          commit_message=kwargs["commit_message"], commit_description="", oid=COMMIT)

    def create_tag(self, repo_id, *, tag, revision=None, repo_type=None, tag_message=None):
        self.calls.append(("create_tag", {"repo_id": repo_id, "tag": tag, "revision": revision, "repo_type": repo_type}))


@pytest.fixture
def fake_api(monkeypatch):
    import huggingface_hub

    api = type("RecordingApi", (FakeApi,), {"calls": [], "tags": ()})
    monkeypatch.setattr(huggingface_hub, "HfApi", api)
    return api


@pytest.fixture(scope="module")
def prepared(smoke_build):
    """The session's smoke build of the dataset (shared with its build tests) and its DatasetInfo."""
    import stem_datasets  # noqa: F401
    import tensorflow_datasets as tfds

    data_dir = smoke_build(DATASET)
    return data_dir, tfds.builder(NAME, data_dir=data_dir).info


@pytest.mark.slow
def test_dry_run_stages_every_split_but_train_and_a_card_and_uploads_nothing(prepared, tmp_path, fake_api, capsys):
    import tensorflow_datasets as tfds
    from huggingface_hub import DatasetCard

    from stem_datasets.cli import main

    data_dir, info = prepared
    held_out = [split for split in info.splits if split != "train"]
    assert main(["publish", NAME, REPO, "--data-dir", str(data_dir), "--out", str(tmp_path / "staged")]) == 0
    assert fake_api.calls == []
    assert "dry run, nothing uploaded" in capsys.readouterr().out

    folder = tmp_path / "staged" / DATASET / "smoke" / str(info.version)
    names = {p.name for p in folder.iterdir()}
    assert {name for split in held_out for name in info.splits[split].filenames} <= names
    assert not {name for name in info.splits["train"].filenames} & names and "dataset_info.json" in names
    assert [s["name"] for s in json.loads((folder / "dataset_info.json").read_text())["splits"]] == held_out
    # The staged folder is a TFDS dataset directory of its own: the test split reads back whole.
    staged = tfds.builder_from_directory(str(folder))
    assert list(staged.info.splits) == held_out
    assert sum(1 for _ in staged.as_dataset(split="test")) == info.splits["test"].num_examples > 0

    card = DatasetCard.load(tmp_path / "staged" / "README.md")
    assert card.data.license == "cc-by-4.0" and card.data.task_categories == ["image-classification"]
    assert "electron-microscopy" in card.data.tags and f'revision="v{info.version}"' in card.text
    assert "# stem_cbed_interface\n" in card.text  # the dataset's own card is the body


@pytest.mark.slow
def test_upload_sends_the_staged_folder_and_tags_its_commit(prepared, tmp_path, fake_api):
    from stem_datasets.publish import publish

    data_dir, info = prepared
    done = publish(NAME, REPO, out_dir=tmp_path, data_dir=str(data_dir), upload=True)
    assert done.commit == COMMIT and done.tag == f"v{info.version}" and done.folder == tmp_path
    names = [name for name, _ in fake_api.calls]
    assert names == ["create_repo", "list_repo_refs", "upload_folder", "create_tag"]
    upload, tag = fake_api.calls[2][1], fake_api.calls[3][1]
    assert upload["repo_type"] == "dataset" and upload["folder_path"] == str(tmp_path) and upload["repo_id"] == REPO
    assert tag == {"repo_id": REPO, "tag": f"v{info.version}", "revision": COMMIT, "repo_type": "dataset"}


@pytest.mark.slow
def test_an_existing_tag_is_refused_before_anything_is_uploaded(prepared, tmp_path, fake_api):
    from stem_datasets.publish import publish

    data_dir, info = prepared
    fake_api.tags = (f"v{info.version}",)
    with pytest.raises(ValueError, match=f"already has a revision 'v{info.version}'; nothing was uploaded"):
        publish(NAME, REPO, out_dir=tmp_path, data_dir=str(data_dir), upload=True)
    assert [name for name, _ in fake_api.calls if name in ("upload_folder", "create_tag")] == []


def test_clear_errors_without_a_build_or_with_a_bad_name(tmp_path, fake_api, capsys):
    from stem_datasets.cli import main

    assert main(["publish", NAME, REPO, "--data-dir", str(tmp_path), "--upload"]) == 2
    error = capsys.readouterr().err
    assert f"{NAME} is not prepared" in error and "stem-datasets build smoke --dataset stem_cbed_interface" in error
    assert main(["publish", "stem_cbed_interface", REPO, "--data-dir", str(tmp_path)]) == 2
    assert "name a dataset and its config" in capsys.readouterr().err
    assert main(["publish", NAME, "no-owner", "--data-dir", str(tmp_path)]) == 2
    assert "must be owner/name" in capsys.readouterr().err
    assert fake_api.calls == []

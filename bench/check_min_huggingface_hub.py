"""Check that the huggingface-hub lower bound in setup.cfg is enough for this repository's code.

Creates a throw-away venv, installs exactly that release (``huggingface-hub==X``, with its own
dependencies, plus numpy, which ``stem_datasets.simulation.cache`` imports) and there runs the repository's
own code that uses huggingface_hub, offline: the model card and the dataset card (written, then
parsed back), ``stem_zoo.hub.publish`` and ``stem_datasets.publish.publish`` against a stand-in
HfApi whose every call is bound to the real ``HfApi`` method's signature (tag refused, upload,
tag at the returned commit), and ``stem_zoo.hub.load`` from a prepared Hub cache with
``HF_HUB_OFFLINE=1`` (the commit it records, the warning without a revision, the missing-repo
error). Keras and TensorFlow are not installed there: staging and ``load_folder`` are stubbed.
Prints PASS or FAIL (exit status 0 or 1). Not a test: it needs the package registry.

    python bench/check_min_huggingface_hub.py                     # the bound in setup.cfg
    python bench/check_min_huggingface_hub.py --version 0.24.7    # a release below it: FAIL
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHECK = r'''
import dataclasses, inspect, sys, tempfile, warnings
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
from huggingface_hub import CommitInfo, DatasetCard, GitRefInfo, GitRefs, HfApi, ModelCard
from packaging.version import Version

assert Version(huggingface_hub.__version__) == Version(sys.argv[1]), huggingface_hub.__version__
print(f"huggingface_hub {huggingface_hub.__version__} from {Path(huggingface_hub.__file__).parent}")
from stem_datasets import publish as dataset_publish
from stem_zoo import hub
from stem_zoo.registry import get_entry

tmp = Path(tempfile.mkdtemp())
entry = dataclasses.replace(get_entry("tilt_dcnn"), metrics={"test": {"rmse_deg": 1.25, "n": 10}})
hub.model_card(entry, "someone/model").save(tmp / "MODEL.md")
card = ModelCard.load(tmp / "MODEL.md")
assert card.data.license == "cc-by-4.0", card.data
assert [(r.dataset_split, r.metric_type, r.metric_value) for r in card.data.eval_results] == [("test", "rmse_deg", 1.25)]
print("ok   model card: EvalResult, ModelCardData, ModelCard")


class ClassLabel:
    pass


class Builder:  # what dataset_card reads of a prepared TFDS builder
    name = "stem_cbed_interface"
    builder_config = SimpleNamespace(name="smoke")
    info = SimpleNamespace(version="2.0.0", description="", supervised_keys=("cbed", "interface"),
                           features={"interface": ClassLabel()}, splits={"test": SimpleNamespace(num_examples=7)})


dataset_publish.dataset_card(Builder(), ["test"], "someone/data", "v2.0.0").save(tmp / "DATASET.md")
data = DatasetCard.load(tmp / "DATASET.md").data
assert data.license == "cc-by-4.0" and data.task_categories == ["image-classification"], data
print("ok   dataset card: DatasetCardData, DatasetCard")

assert "CommitInfo" in str(inspect.signature(HfApi.upload_folder).return_annotation)


class CheckedApi:
    """Every call is bound to the real HfApi method's signature (TypeError if this release lacks an argument)."""

    calls, tags = [], []

    def __init__(self, token=None):
        pass

    def __getattr__(self, name):
        def call(*args, **kwargs):
            inspect.signature(getattr(HfApi, name)).bind(self, *args, **kwargs)
            self.calls.append(name)
            ref = lambda n, kind: GitRefInfo(name=n, ref=f"refs/{kind}/{n}", target_commit="0" * 40)
            return {"list_repo_refs": GitRefs(branches=[ref("main", "heads")], converts=[],
                                              tags=[ref(t, "tags") for t in self.tags]),
                    "upload_folder": CommitInfo(commit_url="https://huggingface.co/x/commit/" + "c" * 40,
                                                commit_message="m", commit_description="", oid="c" * 40),
                    "file_exists": False}.get(name)
        return call


huggingface_hub.HfApi = CheckedApi
hub.stage = lambda model, entry, folder, repo_id: Path(folder)  # keras is not installed here
hub.publish(None, "someone/model", entry=entry, dry_run=False, out_dir=tmp / "model")
assert CheckedApi.calls == ["create_repo", "file_exists", "list_repo_refs", "upload_folder", "create_tag"], CheckedApi.calls
CheckedApi.calls.clear()
dataset_publish.prepared_builder = lambda name, data_dir=None: Builder()
dataset_publish.stage = lambda builder, out_dir, repo_id, tag: Path(out_dir)
done = dataset_publish.publish("stem_cbed_interface/smoke", "someone/data", out_dir=tmp / "data", upload=True)
assert done.commit == "c" * 40 and CheckedApi.calls == ["create_repo", "list_repo_refs", "upload_folder", "create_tag"]
CheckedApi.calls.clear()
CheckedApi.tags = ["v2.0.0"]
try:
    dataset_publish.publish("stem_cbed_interface/smoke", "someone/data", out_dir=tmp / "again", upload=True)
    raise AssertionError("an existing tag was not refused")
except ValueError:
    assert "upload_folder" not in CheckedApi.calls
print("ok   publish: HfApi.create_repo, file_exists, list_repo_refs, upload_folder -> CommitInfo.oid, create_tag")

sha = "b" * 40
repo_dir = tmp / "hub" / "models--someone--model"
(repo_dir / "snapshots" / sha).mkdir(parents=True)
for name in ("model.keras", "config.json", "README.md"):
    (repo_dir / "snapshots" / sha / name).write_text("stub")
(repo_dir / "refs").mkdir()
(repo_dir / "refs" / "main").write_text(sha)
hub.load_folder = lambda folder, source=None: (Path(folder), source)  # keras is not installed here
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    folder, source = hub.load("hf://someone/model", cache_dir=str(tmp / "hub"))
assert folder.name == sha and source == f"hf://someone/model@{sha}", (folder, source)
assert [w for w in caught if "names no revision" in str(w.message)], [str(w.message) for w in caught]
try:
    hub.load("hf://someone/missing@v1", cache_dir=str(tmp / "hub"))
    raise AssertionError("a repo missing from the cache loaded")
except FileNotFoundError as error:  # from huggingface_hub.errors.LocalEntryNotFoundError
    assert "is not in the Hugging Face cache" in str(error), error
print("ok   offline load: snapshot_download, huggingface_hub.errors.LocalEntryNotFoundError")
'''


def setup_cfg_bound() -> str:
    """The X of ``huggingface-hub>=X`` in setup.cfg."""
    found = re.search(r"^\s*huggingface-hub>=([\w.]+)\s*$", (ROOT / "setup.cfg").read_text(), re.MULTILINE)
    if not found:
        raise SystemExit("setup.cfg has no line `huggingface-hub>=X`.")
    return found.group(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=None, help="release to check (default: the bound in setup.cfg)")
    parser.add_argument("--venv", default="/tmp/hfvenv", help="throw-away venv, re-created (default: /tmp/hfvenv)")
    args = parser.parse_args()
    version = args.version or setup_cfg_bound()
    venv = Path(args.venv)
    python = venv / "bin" / "python"
    print(f"creating {venv} and installing huggingface-hub=={version} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", f"huggingface-hub=={version}", "numpy"],
                             capture_output=True, text=True)
    if install.returncode != 0:
        print(install.stdout[-2000:], install.stderr[-2000:])
        print(f"FAIL huggingface-hub=={version}: could not be installed")
        return 1
    with tempfile.TemporaryDirectory() as work:
        script = Path(work) / "check.py"
        script.write_text(CHECK)
        done = subprocess.run([str(python), str(script), version], cwd=work, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
    print(done.stdout, end="")
    if done.returncode != 0:
        print(done.stderr[-3000:], end="")
        print(f"FAIL huggingface-hub=={version}")
        return 1
    print(f"PASS huggingface-hub=={version}: every huggingface_hub use of stem_zoo and stem_datasets works")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Loading and publishing zoo models: packaged weights, local folders, the Hugging Face Hub.

A model folder holds ``model.keras``, an explicit ``config.json`` (architecture, input
spec, preprocessing, outputs, the SHA-256 of the weights) and a model card ``README.md``.
Weights are checked against that SHA-256 before Keras opens them (in safe mode). ``publish``
uploads a staged folder in one commit and tags that commit with the entry's ``hub_revision``
(never moving an existing tag); ``load`` records the commit it loaded in ``model.zoo.source``.

Example:
    >>> from stem_zoo.hub import parse_hub_uri
    >>> parse_hub_uri("hf://stem-zoo/tilt_dcnn@v1.0")
    ('stem-zoo/tilt_dcnn', 'v1.0')
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from stem_datasets.simulation.cache import sha256_file
from stem_zoo.registry import FOLDERS, MODELS, WEIGHTS_DIR, ModelEntry, entry_from_config, get_entry

MODEL_FILE, CONFIG_FILE, CARD_FILE = "model.keras", "config.json", "README.md"


@dataclass(frozen=True)
class ZooMetadata:
    """What a loaded model carries (``model.zoo``): its entry and where it came from."""

    entry: ModelEntry
    source: str

    @property
    def pixel_size(self) -> float:
        return self.entry.input.pixel_size

    @property
    def crop_shape(self) -> tuple[int, int]:
        return tuple(self.entry.input.crop_shape)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(self.entry.outputs)


def parse_hub_uri(uri: str) -> tuple[str, str | None]:
    """``hf://owner/name[@revision]`` -> (repo id, revision or None)."""
    if not uri.startswith("hf://"):
        raise ValueError(f"{uri!r} is not a Hub URI; write hf://owner/name or hf://owner/name@revision.")
    repo, _, revision = uri[len("hf://"):].partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ValueError(f"{uri!r}: the repo must be owner/name.")
    return repo, revision or None


def load_folder(folder: str | os.PathLike, source: str | None = None):
    """Load a model folder (config.json + model.keras), verifying the weights' checksum."""
    import keras

    folder = Path(folder)
    missing = [name for name in (MODEL_FILE, CONFIG_FILE) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} is not a stem_zoo model folder: missing {', '.join(missing)}.")
    try:
        config = json.loads((folder / CONFIG_FILE).read_text())
        entry = entry_from_config(config)
        expected = config["sha256"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{folder / CONFIG_FILE} is not a valid stem_zoo config ({error}).") from None
    actual = sha256_file(folder / MODEL_FILE)
    if actual != expected:
        raise ValueError(
            f"{folder / MODEL_FILE} does not match the SHA-256 in its config.json (corrupt or incomplete "
            f"download?): expected {expected[:12]}..., got {actual[:12]}...; delete it and download again."
        )
    entry.architecture()  # its task's model module registers the custom layers, losses and metrics
    model = keras.saving.load_model(folder / MODEL_FILE, safe_mode=True)
    model.zoo = ZooMetadata(entry=entry, source=source or str(folder))
    return model


def load(name_or_path: str | os.PathLike, revision: str | None = None, cache_dir: str | None = None,
         task: str | None = None):
    """A zoo id, a local model folder, ``hf://owner/name[@revision]`` or (with ``task``) a training run's ``.keras``
    file -> Keras model.

    Zoo ids: the model folder (shipped with the package, or in ``$STEM_ZOO_WEIGHTS_PATH``) holds
    the entry's pinned revision (``hub_revision``), so ``revision=None`` or that revision load it
    without the network; any other revision (``load("tilt_dcnn", revision="v0.2.0")``), or a folder
    without weights, loads the entry's Hub repo at that revision. Hub URIs pin a revision (a tag,
    branch or commit) with ``@revision`` or ``revision=``; without one the moving ``main`` branch is
    loaded and a ``UserWarning`` says how to pin it. Offline (``HF_HUB_OFFLINE=1``) the Hub cache is
    used. A model from the Hub records the commit it came from: ``model.zoo.source`` is
    ``hf://owner/name@<commit sha>``.

    ``task`` (a task folder's name, e.g. ``"atoms"``) is what a caller applying one task passes: a
    ``.keras`` file of a training run (``model.keras``, ``checkpoints/epoch*.keras``; no zoo entry,
    loaded without its compiled loss) is then read with that task's custom objects, an unknown
    name's error lists that task's zoo models, and a zoo id without weights here or on the Hub is a
    ``FileNotFoundError`` that says what to pass instead.
    """
    name = str(name_or_path)
    if task is not None and name.endswith(".keras") and Path(name).is_file():
        import keras

        from stem_zoo.task import resolve

        package = _task_package(task)
        resolve(package, package.HOOKS["training_setup"])  # its module registers the custom objects a run's file names
        return keras.saving.load_model(name, compile=False, safe_mode=True)
    if name in MODELS:
        entry = get_entry(name)
        folder = FOLDERS[entry.id]  # packaged, or from $STEM_ZOO_WEIGHTS_PATH
        if revision in (None, entry.hub_revision) and (folder / MODEL_FILE).is_file():
            return load_folder(folder, source=f"packaged:{entry.id}" if folder.parent == WEIGHTS_DIR else str(folder))
        try:
            return _load_hub(entry.hub_repo, revision or entry.hub_revision, cache_dir)
        except Exception as error:  # no weights here, and the Hub has none reachable (offline, no such repo)
            hub_error = isinstance(error, OSError) or type(error).__module__.split(".")[0] in ("huggingface_hub", "requests")
            if task is None or not hub_error:
                raise
            raise FileNotFoundError(
                f"{name} has no trained weights here ({folder / MODEL_FILE} is missing) and none could be loaded from "
                f"the Hub ({type(error).__name__}: {error}); pass a training run's model.keras or a Keras model "
                "instead.") from None
    if name.startswith("hf://"):
        repo, uri_revision = parse_hub_uri(name)
        if revision and uri_revision and revision != uri_revision:
            raise ValueError(f"{name!r} pins @{uri_revision} but revision={revision!r} was passed; give one of them.")
        return _load_hub(repo, revision or uri_revision, cache_dir)
    if Path(name).exists():
        if revision is not None:
            raise ValueError(f"{name} is a local folder, which has no revisions; drop revision={revision!r} "
                             "or load hf://owner/name@revision.")
        return load_folder(name)
    if task is not None:
        from stem_zoo.task import task_of

        package = _task_package(task)
        ids = [e.id for e in MODELS.values() if task_of(e) is package]
        raise ValueError(f"unknown model {name!r}: not a zoo id, a model folder, a .keras file or hf://owner/name. "
                         f"{task} models in this zoo: {', '.join(ids) or 'none yet'}; or pass a Keras model.")
    raise ValueError(
        f"{name!r} is neither a zoo model ({', '.join(MODELS)}), an existing folder, "
        "nor a Hub URI hf://owner/name[@revision]."
    )


def resolve_model(model, task: str):
    """``model`` itself (a Keras model or a callable), or :func:`load` of a name or path with the task's errors."""
    return load(model, task=task) if isinstance(model, (str, os.PathLike)) else model


def _task_package(task: str):
    """The task folder ``task`` names, with a clear error for an unknown one."""
    from stem_zoo.task import task_packages

    packages = task_packages(MODELS.values())
    if task not in packages:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(packages)}.")
    return packages[task]


def _load_hub(repo: str, revision: str | None, cache_dir: str | None):
    """Load ``repo`` at ``revision`` (None: the moving ``main``, with a warning) from the Hub or its cache."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    ref = revision or "main"
    try:
        folder = snapshot_download(repo, revision=ref, cache_dir=cache_dir,
                                   allow_patterns=[MODEL_FILE, CONFIG_FILE, CARD_FILE])
    except LocalEntryNotFoundError:
        raise FileNotFoundError(
            f"hf://{repo}@{ref} is not in the Hugging Face cache"
            f"{' (' + str(cache_dir) + ')' if cache_dir else ''} and the Hub cannot be reached "
            f"(HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '0')}). Download it once with network: "
            f"`huggingface-cli download {repo} --revision {ref}`, or load a local folder."
        ) from None
    commit = Path(folder).name  # the cache keeps every download in snapshots/<commit sha>/
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        commit = ref
    if revision is None:
        warnings.warn(
            f"hf://{repo} names no revision, so the moving branch 'main' was loaded (now commit {commit}); a later "
            f"upload changes what it loads. Pin it: stem_zoo.load('hf://{repo}@{commit}'), or a tag "
            f"('hf://{repo}@v1.0'), or pass revision=.", UserWarning, stacklevel=3)
    return load_folder(folder, source=f"hf://{repo}@{commit}")


def _task_type(entry: ModelEntry) -> str:
    """The Hub task of an entry, from what its outputs are."""
    if entry.output_units == "class probability per pixel":
        return "image-segmentation"
    return "image-classification" if entry.is_classifier else "image-regression"


def model_card(entry: ModelEntry, repo_id: str) -> "huggingface_hub.ModelCard":  # noqa: F821
    """The Hub model card: model-index results on every benchmark split, set-up, licence, citation.

    Every table of results says which dataset version it was measured on: ``metrics`` on
    ``metrics_version`` (the model-index results, with that version as ``dataset_revision``),
    then the same weights on each version of ``metrics_other_versions``, each in its own table.
    """
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    scalars = _scalar_metrics(entry.metrics)
    results = [
        EvalResult(
            task_type=_task_type(entry),
            dataset_type=entry.dataset, dataset_name=entry.dataset, dataset_config=entry.dataset_config,
            dataset_split=split, dataset_revision=entry.metrics_version, metric_type=metric, metric_value=value,
            metric_name=f"{metric} ({entry.output_units})" if metric.endswith("_deg") else metric,
        )
        for split, metrics in scalars.items()
        for metric, value in metrics.items()
        if metric != "n"
    ]
    data = ModelCardData(
        license="cc-by-4.0", library_name="keras", tags=["stem", "electron-microscopy", "stem-zoo"],
        datasets=[entry.dataset], model_name=entry.id, eval_results=results or None,
    )
    tables = []
    for version, metrics in entry.metrics_by_version().items():
        trained = ("the version these weights were trained on" if version == entry.dataset_version
                   else f"these weights were trained on {entry.dataset_version}")
        tables += [f"On `{entry.dataset}/{entry.dataset_config}` **{version}** ({trained}):", "",
                   *_results_table(entry, metrics), ""]
    text = "\n".join([
        "---", data.to_yaml(), "---", "",
        f"# {entry.id}", "", entry.task + ".", "",
        f"Trained on `{entry.dataset}/{entry.dataset_config}` (version {entry.dataset_version}) with stem_zoo. "
        f"Input `{entry.input.feature}`: {' x '.join(map(str, entry.input.crop_shape))} px at {entry.input.pixel_size} "
        f"{'mrad' if entry.is_classifier else 'A'}/px "
        f"({entry.input.crop_convention}); {entry.input.normalization}. Outputs: {', '.join(entry.outputs)} "
        f"[{entry.output_units}].", "",
        "```python", "import stem_zoo", f'model = stem_zoo.load("hf://{repo_id}")', "```", "",
        "## Results", "", *(tables or ["Not benchmarked yet.", ""]),
        "## Training", "", "```json", json.dumps(entry.training, indent=1), "```", "",
        *([entry.card_notes, ""] if entry.card_notes else []),
        "## Licence and citation", "",
        "Weights: CC-BY-4.0. Code (stem_zoo): GPL-3.0-or-later. Cite: " + (entry.citation or "stem-zoo") + ".", "",
    ])
    return ModelCard(text)


def _scalar_metrics(metrics: dict) -> dict:
    """{split: {metric: number}}: the numbers of each split's metrics (no recall dicts, confusion matrices)."""
    return {split: {k: v for k, v in values.items() if isinstance(v, (int, float))} for split, values in metrics.items()}


def _results_table(entry: ModelEntry, metrics: dict) -> list[str]:
    """Markdown lines: one row per split, one column per metric, then each split's confusion matrix."""
    scalars = _scalar_metrics(metrics)
    columns = sorted({metric for values in scalars.values() for metric in values})
    table = [f"| split | {' | '.join(columns)} |", "|" + " --- |" * (len(columns) + 1)]
    table += [f"| {split} | " + " | ".join(f"{values[c]:.3g}" if c in values else "-" for c in columns) + " |"
              for split, values in scalars.items()]
    for split, values in metrics.items():
        if "confusion" in values:
            table += ["", f"Confusion matrix on `{split}` (rows: true, columns: predicted; {', '.join(entry.outputs)}); "
                      f"recall per class: {json.dumps(values.get('recall', {}))}", "", "```",
                      *(" ".join(f"{n:4d}" for n in row) for row in values["confusion"]), "```"]
    return table


def stage(model, entry: ModelEntry, folder: str | os.PathLike, repo_id: str) -> Path:
    """Write the exact folder that goes to the Hub."""
    import keras

    entry.architecture()  # registers the task's custom objects
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # Save an uncompiled copy: the file then holds no optimizer state (a third of the size).
    inference = keras.Model.from_config(model.get_config())
    inference.set_weights(model.get_weights())
    inference.save(folder / MODEL_FILE)
    config = {
        "architecture": entry.id,
        "builder": entry.builder,
        "input": entry.to_dict()["input"],
        "preprocessing": entry.input.normalization,
        "outputs": list(entry.outputs),
        "output_units": entry.output_units,
        "sha256": sha256_file(folder / MODEL_FILE),
        "entry": entry.to_dict(),
    }
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=1))
    model_card(entry, repo_id).save(folder / CARD_FILE)
    return folder


def publish(model, repo_id: str, entry: ModelEntry | None = None, dry_run: bool = True,
            out_dir: str | os.PathLike | None = None, token: str | None = None) -> Path:
    """Stage the Hub folder and, unless ``dry_run``, upload it and tag the commit ``entry.hub_revision``.

    The tag is the revision ``load`` pins for this entry, so an existing tag (or branch) of that
    name is refused with a ValueError before anything is uploaded: raise ``hub_revision`` in the
    entry instead of moving a published revision. An existing model card on the Hub is kept.
    """
    entry = entry or getattr(getattr(model, "zoo", None), "entry", None)
    if entry is None:
        raise ValueError("publish needs the model's ModelEntry: pass entry=... or a model from stem_zoo.load.")
    folder = stage(model, entry, out_dir or tempfile.mkdtemp(prefix="stem-zoo-publish-"), repo_id)
    if dry_run:
        return folder
    from huggingface_hub import HfApi

    from stem_datasets.publish import upload_tagged

    api = HfApi(token=token)
    api.create_repo(repo_id, exist_ok=True)
    keep_card = api.file_exists(repo_id, CARD_FILE)
    upload_tagged(api, repo_id, folder, tag=entry.hub_revision, repo_type="model",
                  commit_message=f"stem_zoo publish {entry.id} {entry.hub_revision}",
                  ignore_patterns=[CARD_FILE] if keep_card else None)
    return folder


def copy_as_packaged(folder: str | os.PathLike, model_id: str) -> Path:
    """Copy a staged folder into the package's shipped weights (for the reference models)."""
    target = WEIGHTS_DIR / model_id
    shutil.copytree(folder, target, dirs_exist_ok=True)
    return target

"""Publish the benchmark splits of a prepared config as a Hugging Face Hub dataset repo.

``stem-datasets publish stem_abf_tilt/small owner/name`` stages every split but ``train`` (the
TFDS-prepared shards, with ``dataset_info.json`` rewritten to list only those splits, and TFDS's
other metadata files) under ``<dataset>/<config>/<version>/``, beside a dataset card
``README.md`` (licence, tags and task categories in its YAML front matter; the body is the
dataset's card from ``cards/``, else its builder README). That folder is a TFDS dataset
directory: ``tfds.builder_from_directory`` reads it without stem_datasets. Nothing is uploaded
unless ``upload=True`` (``--upload``): then the folder goes to the dataset repo in one commit, and
that commit is tagged ``v<version>``; an existing tag is refused before anything is uploaded.

No Croissant metadata is written: TFDS 4.9 only reads Croissant (its ``CroissantBuilder``, which
needs mlcroissant) and has no writer for a prepared dataset; the card says how to load the splits.

Example:
    >>> task_categories("ml.task.semantic-segmentation # pixels\\n", label_is_class=False)
    ['image-segmentation']
    >>> task_categories("content.data-type.image", label_is_class=True)
    ['image-classification']
    >>> size_category(4200)
    '1K<n<10K'
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

CARD_FILE, INFO_FILE = "README.md", "dataset_info.json"
TRAIN = "train"  # the one split that is not published: it is regenerated from the recipe
# TFDS task tags (builders/<name>/TAGS.txt) -> Hugging Face task categories
HUB_TASKS = {"object-detection": "object-detection", "semantic-segmentation": "image-segmentation",
             "image-classification": "image-classification", "regression": "other"}


def task_categories(tags_text: str, label_is_class: bool) -> list[str]:
    """Hub task categories from a builder's TAGS.txt (``ml.task.*``) and whether its label is a class."""
    tasks = [line.split("#")[0].strip().removeprefix("ml.task.") for line in tags_text.splitlines()
             if line.strip().startswith("ml.task.")]
    found = [HUB_TASKS.get(task, "other") for task in tasks] + (["image-classification"] if label_is_class else [])
    return list(dict.fromkeys(found)) or ["other"]


def size_category(n: int) -> str:
    """The Hub's size category of ``n`` examples."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M" if n < 10_000_000 else "n>10M"


def _parse(name: str) -> tuple[str, str]:
    dataset, _, config = name.partition("/")
    if not dataset or not config or "/" in config:
        raise ValueError(f"{name!r}: name a dataset and its config, e.g. stem_abf_tilt/small.")
    return dataset, config


def prepared_builder(name: str, data_dir: str | None = None):
    """The TFDS builder of ``dataset/config``, which must be prepared already (nothing is built here)."""
    import tensorflow_datasets as tfds

    from stem_datasets import builders
    from stem_datasets.report import _config_names

    dataset, config = _parse(name)
    if dataset not in builders.DATASETS:
        raise ValueError(f"Unknown dataset {dataset!r}; known: {', '.join(builders.DATASETS)}.")
    if config not in (configs := _config_names(dataset)):
        raise ValueError(f"Unknown {dataset} config {config!r}; known: {', '.join(configs)}.")
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        raise ValueError(f"{name} is not prepared in {builder.data_dir}: build it first "
                         f"(`stem-datasets build {config} --dataset {dataset}`) or pass the data dir that holds it.")
    return builder


def _card_body(builder) -> str:
    """The dataset's card (``cards/<name>.md`` in a source checkout), else its builder folder's README."""
    import inspect

    card = Path(__file__).resolve().parent.parent / "cards" / f"{builder.name}.md"
    readme = Path(inspect.getfile(type(builder))).parent / "README.md"
    return next((p.read_text() for p in (card, readme) if p.is_file()), builder.info.description)


def dataset_card(builder, splits: list[str], repo_id: str, tag: str):
    """The Hub dataset card (``huggingface_hub.DatasetCard``) of the staged splits."""
    import inspect

    from huggingface_hub import DatasetCard, DatasetCardData

    info, config = builder.info, builder.builder_config.name
    tags_file = Path(inspect.getfile(type(builder))).parent / "TAGS.txt"
    label = info.supervised_keys[1] if info.supervised_keys else None
    label_is_class = label is not None and type(info.features[label]).__name__ == "ClassLabel"
    counts = {split: info.splits[split].num_examples for split in splits}
    data = DatasetCardData(
        license="cc-by-4.0", pretty_name=f"{builder.name}/{config} benchmark splits",
        tags=["stem", "electron-microscopy", "simulated", "tfds", "stem-zoo", builder.name],
        task_categories=task_categories(tags_file.read_text() if tags_file.is_file() else "", label_is_class),
        size_categories=[size_category(sum(counts.values()))],
        annotations_creators=["machine-generated"], source_datasets=["original"],
    )
    folder = f"{builder.name}/{config}/{info.version}"
    text = "\n".join([
        "---", data.to_yaml(), "---", "",
        f"# {builder.name}/{config} {info.version}: benchmark splits", "",
        f"The held-out splits of `{builder.name}/{config}` (version {info.version}), as TFDS prepared them "
        f"(TFRecord shards and `{INFO_FILE}` in `{folder}/`). `{TRAIN}` is not here: "
        f"`stem-datasets build {config} --dataset {builder.name}` regenerates it from the recipe.", "",
        "| split | examples |", "| --- | --- |", *(f"| {s} | {n} |" for s, n in counts.items()), "",
        "```python", "import tensorflow_datasets as tfds", "from huggingface_hub import snapshot_download", "",
        f'root = snapshot_download("{repo_id}", repo_type="dataset", revision="{tag}")',
        f'builder = tfds.builder_from_directory(f"{{root}}/{folder}")',
        f'test = builder.as_dataset(split="{"test" if "test" in splits else splits[0]}")', "```", "",
        "No Croissant metadata: TFDS writes none for a prepared dataset. Licence of the data: CC-BY-4.0; "
        "of the code that generates it (stem-zoo): GPL-3.0-or-later.", "",
        "---", "", _card_body(builder),
    ])
    return DatasetCard(text)


def stage(builder, out_dir: str | os.PathLike, repo_id: str, tag: str) -> Path:
    """Copy every split but ``train`` and the dataset's metadata files into ``out_dir``, with a card."""
    info, source = builder.info, Path(builder.data_dir)
    splits = [split for split in info.splits if split != TRAIN]
    if not splits:
        raise ValueError(f"{builder.name}/{builder.builder_config.name} has no split besides {TRAIN}: nothing to publish.")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty; stage into a new folder so that nothing stale is uploaded.")
    target = out / builder.name / builder.builder_config.name / str(info.version)
    target.mkdir(parents=True)
    shards = {name for split in info.splits.values() for name in split.filenames}
    keep = {name for split in splits for name in info.splits[split].filenames}
    for path in sorted(source.iterdir()):
        if path.is_file() and (path.name in keep or path.name not in shards):  # kept shards + metadata files
            shutil.copy2(path, target / path.name)
    described = json.loads((target / INFO_FILE).read_text())
    described["splits"] = [split for split in described["splits"] if split["name"] != TRAIN]
    (target / INFO_FILE).write_text(json.dumps(described, indent=2))
    dataset_card(builder, splits, repo_id, tag).save(out / CARD_FILE)
    return out


def upload_tagged(api, repo_id: str, folder: str | os.PathLike, tag: str, repo_type: str, commit_message: str,
                  **upload_kwargs) -> str:
    """Upload ``folder`` to an existing repo in one commit and tag that commit; returns its sha.

    ``api`` is a ``huggingface_hub.HfApi``. A tag or branch named ``tag`` already on the repo is
    refused (ValueError) before anything is uploaded: a published revision never moves.
    """
    refs = api.list_repo_refs(repo_id, repo_type=repo_type)
    if tag in {ref.name for ref in [*refs.tags, *refs.branches]}:
        raise ValueError(f"{repo_type} repo {repo_id} already has a revision {tag!r}; nothing was uploaded. Published "
                         "revisions do not move: publish under a new version (tag), or delete that tag on the Hub first.")
    commit = api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type=repo_type,
                               commit_message=commit_message, **upload_kwargs)
    api.create_tag(repo_id, tag=tag, revision=commit.oid, repo_type=repo_type, tag_message=commit_message)
    return commit.oid


@dataclass(frozen=True)
class Published:
    """What :func:`publish` did: the staged folder, the revision tag, the uploaded commit (None in a dry run)."""

    folder: Path
    tag: str
    commit: str | None = None


def publish(name: str, repo_id: str, out_dir: str | os.PathLike | None = None, data_dir: str | None = None,
            upload: bool = False, tag: str | None = None, token: str | None = None) -> Published:
    """Stage the benchmark splits of ``dataset/config`` and, with ``upload``, upload and tag them (``v<version>``)."""
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"{repo_id!r}: the Hub repo must be owner/name.")
    builder = prepared_builder(name, data_dir)
    tag = tag or f"v{builder.info.version}"
    folder = stage(builder, out_dir or tempfile.mkdtemp(prefix="stem-datasets-publish-"), repo_id, tag)
    if not upload:
        return Published(folder, tag)
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    commit = upload_tagged(api, repo_id, folder, tag=tag, repo_type="dataset",
                           commit_message=f"stem-datasets publish {name} {tag}")
    return Published(folder, tag, commit)

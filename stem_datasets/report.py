"""A short markdown report of a built config of any registered dataset, with a figure.

The report holds the split sizes, the recipe's ``describe()`` metadata and a figure: the
recipe module's own ``report_section(builder, out_dir)`` when it has one (``stem_abf_tilt``:
GP validation and example images per pattern), else :func:`preview_figure` (the first few
examples of the dataset's first image-like feature).

Example:
    >>> write_report("stem_abf_tilt", "smoke", "report")  # doctest: +SKIP
    PosixPath('report/stem_abf_tilt_smoke.md')
    >>> datasets_with_config("huge")
    []
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

MAX_METADATA_CHARS = 2000  # longer metadata values (e.g. every planned run) are named, not printed


def datasets_with_config(config: str) -> list[str]:
    """Every registered dataset that has a config of this name."""
    from stem_datasets import builders

    return [name for name in builders.DATASETS if config in _config_names(name)]


def _config_names(dataset: str) -> list[str]:
    import tensorflow_datasets as tfds

    return [c.name for c in tfds.builder_cls(dataset).BUILDER_CONFIGS]


def build(config: str, data_dir: str | None = None, dataset: str | None = None):
    """Build (or reuse) ``<dataset>/<config>``; returns the builder and the seconds spent."""
    from stem_datasets import builders, prepare

    if dataset not in builders.DATASETS:
        raise ValueError(f"Unknown dataset {dataset!r}; known: {', '.join(builders.DATASETS)}.")
    configs = _config_names(dataset)
    if config not in configs:  # a clear error before TFDS's own
        raise ValueError(f"Unknown {dataset} config {config!r}; known: {', '.join(configs)}.")
    start = time.perf_counter()
    builder = prepare(f"{dataset}/{config}", data_dir)
    return builder, time.perf_counter() - start


def _image_feature(builder) -> str | None:
    """The first tensor feature with at least two dimensions (an image, a stack, a pattern)."""
    for name, feature in builder.info.features.items():
        shape = getattr(feature, "shape", ())
        if isinstance(shape, tuple) and len(shape) >= 2 and all(isinstance(n, int) for n in shape):
            return name
    return None


def _as_2d(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    while array.ndim > 2:  # a trailing channel goes, else the first of the leading axes
        array = array[..., 0] if array.shape[-1] == 1 else array[0]
    return array


def preview_figure(builder, path: Path, per_split: int = 4) -> Path | None:
    """The first examples of each split (rows), first image-like feature reduced to 2-D; None without one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stem_datasets.pipeline.offline import take_examples

    feature = _image_feature(builder)
    if feature is None:
        return None
    keys = builder.info.supervised_keys
    label = keys[1] if keys else None
    names = getattr(builder.info.features[label], "names", None) if label else None
    splits = list(builder.info.splits)
    fig, axes = plt.subplots(len(splits), per_split, figsize=(2.2 * per_split, 2.3 * len(splits)), squeeze=False)
    for r, split in enumerate(splits):
        for c, example in enumerate(take_examples(builder, split, per_split)):
            value = example.get(label) if label else None
            text = names[int(value)] if names is not None and value is not None else np.array2string(np.asarray(value), precision=2)
            axes[r, c].imshow(_as_2d(example[feature]), cmap="gray")
            axes[r, c].set_title(f"{split}\n{label}: {text}" if label else split, fontsize=7)
        for ax in axes[r]:
            ax.set_axis_off()
    fig.suptitle(f"{builder.name}/{builder.builder_config.name}: `{feature}` (first examples)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _metadata_block(meta: dict) -> list[str]:
    shown, named = {}, []
    for key, value in meta.items():
        text = json.dumps(value, default=lambda v: np.asarray(v).tolist())
        if len(text) > MAX_METADATA_CHARS:
            named.append(f"`{key}` ({len(value) if hasattr(value, '__len__') else 1} items)")
        else:
            shown[key] = value
    lines = ["```json", json.dumps(shown, indent=1, default=lambda v: np.asarray(v).tolist()), "```"]
    return lines + ([f"Also in `DatasetInfo.metadata`: {', '.join(named)}."] if named else []) + [""]


def write_report(dataset: str, config: str, out_dir: str | Path, data_dir: str | None = None) -> Path:
    """Build ``<dataset>/<config>`` if needed and write ``<dataset>_<config>.md`` plus its figure."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    builder, seconds = build(config, data_dir, dataset)
    info, recipe = builder.info, builder.builder_config.recipe
    lines = [
        f"# {dataset}/{config} (version {info.version})", "",
        f"{recipe.description}", "",
        f"Built or loaded in {seconds:.0f} s into `{builder.data_dir}`.", "",
        "| split | examples |", "| --- | --- |",
        *[f"| {name} | {split.num_examples} |" for name, split in info.splits.items()], "",
    ]
    section = getattr(sys.modules[type(recipe).__module__], "report_section", None)
    if section is not None:
        lines += section(builder, out)
    else:
        figure = preview_figure(builder, out / f"{dataset}_{config}_examples.png")
        lines += [f"![examples]({figure.name})", ""] if figure else []
    lines += ["## Metadata", "", *_metadata_block(dict(info.metadata))]
    path = out / f"{dataset}_{config}.md"
    path.write_text("\n".join(lines))
    return path

"""A short markdown report of a built ``stem_abf_tilt`` config, with a figure.

Example:
    >>> write_report("smoke", "report")  # doctest: +SKIP
    PosixPath('report/stem_abf_tilt_smoke.md')
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from stem_datasets.abf_tilt import SPLITS, get_recipe, margin_px


def build(config: str, data_dir: str | None = None, dataset: str = "stem_abf_tilt"):
    """Build (or reuse) ``<dataset>/<config>``; returns the builder and the seconds spent."""
    import tensorflow_datasets as tfds

    from stem_datasets import builders, prepare

    if dataset not in builders.DATASETS:
        raise ValueError(f"Unknown dataset {dataset!r}; known: {', '.join(builders.DATASETS)}.")
    configs = [c.name for c in tfds.builder_cls(dataset).BUILDER_CONFIGS]
    if config not in configs:  # a clear error before TFDS's own
        raise ValueError(f"Unknown {dataset} config {config!r}; known: {', '.join(configs)}.")
    start = time.perf_counter()
    builder = prepare(f"{dataset}/{config}", data_dir)
    return builder, time.perf_counter() - start


def _examples(builder, split: str, n: int) -> list[dict]:
    import tensorflow_datasets as tfds

    ds = builder.as_dataset(split=split, shuffle_files=False)
    return list(tfds.as_numpy(ds.take(n)))


def example_figure(builder, path: Path, per_row: int = 4) -> Path:
    """Rows: one per pattern of GP training images, then each multislice test split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recipe = builder.builder_config.recipe
    train = _examples(builder, "train", 2000)
    rows = [(f"GP train {p}", [e for e in train if e["pattern"].decode() == p][:per_row]) for p in recipe.patterns]
    rows += [(split, _examples(builder, split, per_row)) for split in SPLITS[3:]]
    fig, axes = plt.subplots(len(rows), per_row, figsize=(2.6 * per_row, 2.6 * len(rows)), squeeze=False)
    crop_h, crop_w = recipe.crop_shape()
    margin_y, margin_x = margin_px(recipe)
    for r, (title, examples) in enumerate(rows):
        for c in range(per_row):
            ax = axes[r, c]
            ax.set_axis_off()
            if c >= len(examples):
                continue
            e = examples[c]
            ax.imshow(e["image"][..., 0], cmap="gray")
            ax.add_patch(plt.Rectangle((margin_x - 0.5, margin_y - 0.5), crop_w, crop_h, fill=False, color="tab:orange", lw=1))
            a = e["angles"]
            ax.set_title(f"{title}\n({a[0]:.2f}, {a[1]:.2f}, {a[2]:.2f}) deg, {e['thickness_nm']:.1f} nm\n"
                         f"df {e['defocus_A']:.0f} A, ABF {e['abf_inner_mrad']:.0f}-{e['abf_outer_mrad']:.0f} mrad", fontsize=6)
        bar_px = 2.0 / recipe.pixel_size
        axes[r, 0].plot([4, 4 + bar_px], [recipe.image_shape[0] - 5] * 2, color="white", lw=3)
    fig.suptitle(f"stem_abf_tilt/{recipe.name}: ABF, orange box = 2x2-cell crop, white bar = 2 A", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(config: str, out_dir: str | Path, data_dir: str | None = None) -> Path:
    """Build the config if needed and write ``stem_abf_tilt_<config>.md`` plus its figure."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    builder, seconds = build(config, data_dir)
    info = builder.info
    figure = example_figure(builder, out / f"stem_abf_tilt_{config}_examples.png")
    meta = dict(info.metadata)
    lines = [
        f"# stem_abf_tilt/{config} (version {info.version})",
        "",
        f"Built or loaded in {seconds:.0f} s into `{builder.data_dir}`.",
        "",
        "| split | examples |",
        "| --- | --- |",
        *[f"| {name} | {split.num_examples} |" for name, split in info.splits.items()],
        "",
        "## GP surrogate against held-out multislice (NMSE = mean squared error / variance of the multislice image)",
        "",
        "| pattern | thickness [nm] | GP NMSE median | GP NMSE max | nearest design point NMSE median |",
        "| --- | --- | --- | --- | --- |",
    ]
    for pattern, v in meta.get("gp_validation", {}).items():
        for k, t in enumerate(v["thickness_nm"]):
            lines.append(f"| {pattern} | {t:.2f} | {v['nmse_median'][k]:.2e} | {v['nmse_max'][k]:.2e} | "
                         f"{v['nearest_design_nmse_median'][k]:.2e} |")
    lines += [
        "",
        f"![examples]({figure.name})",
        "",
        "## Simulation parameters",
        "",
        "```json",
        json.dumps({k: meta[k] for k in ("microscope", "optics_ranges", "pixel_size_angstrom", "image_shape", "crop_shape",
                                         "crop_margin_px", "train_thicknesses_nm", "unseen_thicknesses_nm",
                                         "tilt_limit_deg", "label_step_deg") if k in meta},
                   indent=1, default=lambda v: np.asarray(v).tolist()),
        "```",
        "",
    ]
    path = out / f"stem_abf_tilt_{config}.md"
    path.write_text("\n".join(lines))
    return path

"""The zoo part of the main job: every registered model (or those chosen) reports on a dataset config.

Each model module (``entry.builder``'s module) may define
``report(entries, out_dir, config, data_dir) -> list[Path]``, called once with all the chosen
models it builds (so the two CBED classifiers write one report together): ``tilt_dcnn``
benchmarks and maps a stitched two-domain micrograph, ``cbed_cnn`` classifies fresh
simulations. A module without one gets :func:`benchmark_report`.

Example:
    $ stem-zoo report --config smoke --out report
    $ stem-zoo report --config smoke --model tilt_dcnn
    >>> [e.id for e in chosen_entries(["tilt_dcnn"])]
    ['tilt_dcnn']
"""

from __future__ import annotations

import json
from pathlib import Path

from stem_zoo.registry import MODELS, ModelEntry, get_entry
from stem_zoo.task import task_hook


def chosen_entries(models: list[str] | None = None) -> list[ModelEntry]:
    """The entries of ``models`` (ids, checked), or of every registered model."""
    return [get_entry(m) for m in models] if models else list(MODELS.values())


def benchmark_report(entries, out_dir: str | Path, config: str, data_dir: str | None = None) -> list[Path]:
    """The report of a model whose module has no ``report``: its benchmark on ``<its dataset>/<config>``."""
    from stem_zoo.benchmarking import benchmark
    from stem_zoo.hub import load

    out, paths = Path(out_dir), []
    for entry in entries:
        model = load(entry.id)
        result = benchmark(model, config=config, data_dir=data_dir, out_dir=out)
        path = out / f"{entry.id}_{config}.md"
        path.write_text("\n".join([
            f"# {entry.id} on {entry.dataset}/{config}", "", f"{entry.task}. Model source: `{model.zoo.source}`; trained "
            f"on `{entry.dataset}/{entry.dataset_config}` {entry.dataset_version}, benchmarked on `{result['dataset']}`.", "",
            result["leaderboard"], "", "```json", json.dumps({k: v for k, v in result.items() if k != "leaderboard"}, indent=1),
            "```", "",
        ]))
        paths.append(path)
    return paths


def write_reports(config: str, out_dir: str | Path, models: list[str] | None = None, data_dir: str | None = None) -> list[Path]:
    """Every chosen model's report (its task's ``report`` hook, else :func:`benchmark_report`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    groups: dict[str, list[ModelEntry]] = {}
    for entry in chosen_entries(models):
        groups.setdefault(entry.builder.split(":")[0], []).append(entry)
    paths: list[Path] = []
    for entries in groups.values():
        hook = task_hook(entries[0], "report") or benchmark_report
        paths += hook(entries, out, config, data_dir)
    return paths

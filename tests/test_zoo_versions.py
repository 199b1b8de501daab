"""Honest cards (issue 23): every metric names its dataset version; numbers of another version are marked.

Fast: no dataset is built. The leaderboard is fed records; ``benchmark`` runs against a builder
stand-in that reports a version and holds no split to score.
"""

import dataclasses
import importlib
import json
import warnings
from types import SimpleNamespace

import pytest

from stem_datasets.simulation.cache import sha256_file
from stem_zoo import benchmarking, data, hub
from stem_zoo.benchmarking import DatasetVersionWarning, benchmark, leaderboard
from stem_zoo.registry import FOLDERS, MODELS, WEIGHTS_DIR, discover, entry_from_config, get_entry


def _rows(markdown: str) -> dict[str, list[str]]:
    """{row label: cells} of the first markdown table."""
    rows = {}
    for line in markdown.splitlines():
        if line.startswith("| ") and not line.startswith("| model |") and not line.startswith("| ---"):
            label, *cells = [c.strip() for c in line.strip("|").split("|")]
            assert label not in rows, f"two rows labelled {label!r}"
            rows[label] = cells
    return rows


def _record(version: str, task: str = "tilt_dcnn", splits=None) -> dict:
    splits = splits or {"test": {"rmse_deg": 3.0, "sign_accuracy": 0.9},
                        "test_multislice": {"rmse_deg": 5.9, "sign_accuracy": 0.8}}
    return {"model": "my_net", "task": task, "dataset": f"{get_entry(task).dataset}/small:{version}", "splits": splits}


# The tilt_dcnn entry as it was before issue 24's retraining (v0.1.0): weights trained on 1.0.0, scored on 1.0.0 and
# 2.0.0. The mechanism tests below put it in the registry in place of the shipped entry.
LEGACY = dataclasses.replace(
    get_entry("tilt_dcnn"), dataset_version="1.0.0", metrics_version="1.0.0", hub_revision="v0.1.0",
    metrics={"test": {"rmse_deg": 1.24, "sign_accuracy": 0.97}, "test_multislice": {"rmse_deg": 1.2, "sign_accuracy": 1.0}},
    metrics_other_versions={"2.0.0": {"test_multislice": {"rmse_deg": 5.66}}})


@pytest.fixture
def legacy(monkeypatch):
    monkeypatch.setitem(MODELS, "tilt_dcnn", LEGACY)
    return LEGACY


def test_tilt_dcnn_names_the_versions_of_its_numbers():
    entry = get_entry("tilt_dcnn")
    assert entry.dataset_version == entry.metrics_version == "3.0.0" and entry.hub_revision == "v0.2.0"
    assert entry.metrics["test_multislice"]["rmse_deg"] > 0 and entry.metrics_other_versions == {}
    assert list(entry.metrics_by_version()) == ["3.0.0"]


@pytest.mark.usefixtures("legacy")
@pytest.mark.parametrize("version, same, other", [("2.0.0", "2.0.0", ["1.0.0"]), ("1.0.0", "1.0.0", ["2.0.0"]),
                                                  ("3.0.0", None, ["1.0.0", "2.0.0"])])
def test_leaderboard_marks_card_rows_of_another_dataset_version(version, same, other):
    table = leaderboard(_record(version), "stem_abf_tilt", "small")
    rows = _rows(table)
    card = get_entry("tilt_dcnn").metrics_by_version()
    assert rows["**my_net** (this run)"] == ["3.00 / 0.90", "5.90 / 0.80"]
    if same is None:  # no card number of the run's version: no unmarked card row at all
        assert "tilt_dcnn (card)" not in rows
    else:
        expected = card[same].get("test_multislice", {}).get("rmse_deg")
        assert rows["tilt_dcnn (card)"][1].startswith(f"{expected:.2f} /")
    for version_of_row in other:
        cells = rows[f"tilt_dcnn (card, dataset {version_of_row})"]
        assert cells[1].startswith(f"{card[version_of_row]['test_multislice']['rmse_deg']:.2f} /")
    assert set(rows) == {"**my_net** (this run)", *(["tilt_dcnn (card)"] if same else []),
                         *(f"tilt_dcnn (card, dataset {v})" for v in other)}
    assert f"not on this run's {version}" in table  # the note under the table


def test_the_1_0_0_card_numbers_never_sit_unmarked_beside_a_2_0_0_run(legacy):
    rows = _rows(leaderboard(_record("2.0.0"), "stem_abf_tilt", "small"))
    unmarked = [cells for label, cells in rows.items() if "(card)" in label]
    assert unmarked == [["-", "5.66 / nan"]]  # only the 2.0.0 score; test was not measured on 2.0.0


def test_a_task_with_its_own_table_marks_rows_too():
    splits = {"test": {"rmse_px_pm": 4.0, "rmse_py_pm": 4.0, "angle_mae_deg": 9.0}}
    table = leaderboard(_record("1.2.0", task="polarization_dcnn", splits=splits), "stem_bfo_polarization", "small")
    rows = _rows(table)
    assert "RMSE Px / Py [pm]" in table and "polarization_dcnn (card)" not in rows
    entry = get_entry("polarization_dcnn")
    test = entry.metrics["test"]
    assert rows[f"polarization_dcnn (card, dataset {entry.metrics_version})"][0].startswith(
        f"{test['rmse_px_pm']:.1f} / {test['rmse_py_pm']:.1f}")
    same = _rows(leaderboard(_record(entry.metrics_version, task="polarization_dcnn", splits=splits),
                             "stem_bfo_polarization", "small"))
    assert "polarization_dcnn (card)" in same and not any("dataset" in label for label in same)


def _builder(version: str):
    return SimpleNamespace(info=SimpleNamespace(version=version, splits={"train": None}))


class _Zoo:
    """A callable that says it is the zoo's tilt_dcnn (``model.zoo``), as a loaded model does."""

    def __init__(self):
        self.zoo = hub.ZooMetadata(entry=get_entry("tilt_dcnn"), source="test")

    def __call__(self, x):
        raise AssertionError("no split to score")


def test_benchmark_warns_when_zoo_weights_meet_another_dataset_version(monkeypatch, tmp_path, legacy):
    monkeypatch.setattr(data, "load_builder", lambda dataset, config, data_dir=None: _builder("2.0.0"))
    with pytest.warns(DatasetVersionWarning, match=r"trained on stem_abf_tilt 1\.0\.0 but is benchmarked on "
                                                   r"stem_abf_tilt 2\.0\.0"):
        record = benchmark(_Zoo(), config="small", out_dir=tmp_path)
    assert record["dataset"] == "stem_abf_tilt/small:2.0.0" and record["trained_on"] == "stem_abf_tilt/small:1.0.0"
    assert len(record["warnings"]) == 1 and record["leaderboard"].startswith(f"**Warning:** {record['warnings'][0]}")
    assert json.loads((tmp_path / "benchmark_tilt_dcnn.json").read_text())["warnings"] == record["warnings"]


def test_benchmark_on_the_trained_version_or_of_a_model_outside_the_zoo_does_not_warn(monkeypatch, legacy):
    version = "1.0.0"
    monkeypatch.setattr(data, "load_builder", lambda dataset, config, data_dir=None: _builder(version))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DatasetVersionWarning)
        record = benchmark(_Zoo(), config="small")
        assert "warnings" not in record and not record["leaderboard"].startswith("**Warning")
        version = "2.0.0"  # a model of the user's own on the reference's task: nothing it was trained on to compare
        record = benchmark(lambda x: x, task="tilt_dcnn", config="small", name="my_net")
        assert "warnings" not in record and "trained_on" not in record


def test_stem_zoo_benchmark_prints_the_warning_line(monkeypatch, tmp_path, capsys):
    from stem_zoo.cli import main

    monkeypatch.setattr(data, "load_builder", lambda dataset, config, data_dir=None: _builder("2.0.0"))
    with pytest.warns(DatasetVersionWarning):
        assert main(["benchmark", "tilt_dcnn", "--config", "small", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("**Warning:** tilt_dcnn was trained on stem_abf_tilt 3.0.0 but is benchmarked on "
                          "stem_abf_tilt 2.0.0")
    assert "tilt_dcnn (card" not in out  # the model's own card is not its competitor


def test_metrics_without_a_dataset_version_are_refused(tmp_path):
    config = json.loads((WEIGHTS_DIR / "tilt_dcnn" / "config.json").read_text())
    del config["entry"]["metrics_version"]
    with pytest.raises(ValueError, match="metrics name no dataset version; set metrics_version"):
        entry_from_config(config)
    (tmp_path / "tilt_dcnn").mkdir()
    (tmp_path / "tilt_dcnn" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="does not declare a valid stem_zoo entry"):
        discover(tmp_path)
    with pytest.raises(ValueError, match="not a dataset version"):
        dataclasses.replace(get_entry("tilt_dcnn"), metrics_other_versions={"latest": {}})
    with pytest.raises(ValueError, match="repeats metrics_version 3.0.0"):
        dataclasses.replace(get_entry("tilt_dcnn"), metrics_other_versions={"3.0.0": {}})


def _known_versions(dataset: str) -> set[str]:
    builder = importlib.import_module(f"stem_datasets.builders.{dataset}.{dataset}_dataset_builder").Builder
    return {str(builder.VERSION), *builder.RELEASE_NOTES}


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_every_entry_names_dataset_versions_its_builder_knows(model_id):
    entry = get_entry(model_id)
    config = json.loads((FOLDERS[model_id] / "config.json").read_text())["entry"]
    assert config["metrics_version"] == entry.metrics_version  # stated in the file, not defaulted
    known = _known_versions(entry.dataset)
    assert entry.dataset_version in known
    assert entry.metrics and entry.metrics_version in known
    assert set(entry.metrics_other_versions) <= known


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_every_shipped_card_is_what_model_card_writes(model_id, tmp_path):
    entry, folder = get_entry(model_id), FOLDERS[model_id]
    hub.model_card(entry, entry.hub_repo).save(tmp_path / "README.md")
    assert (folder / "README.md").read_text() == (tmp_path / "README.md").read_text(), (
        f"{folder / 'README.md'} has drifted from stem_zoo.hub.model_card: regenerate it")
    config = json.loads((folder / "config.json").read_text())
    assert sha256_file(folder / "model.keras") == config["sha256"]  # the weights are the ones the card is about


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_benchmark_rows_and_the_card_name_the_same_dataset_version(model_id):
    """The card's tables, its model-index, the README's model row and the leaderboard's card row: one version each."""
    import re
    from pathlib import Path

    from huggingface_hub import ModelCard

    entry = get_entry(model_id)
    name, by_version = f"{entry.dataset}/{entry.dataset_config}", entry.metrics_by_version()
    assert list(by_version)[0] == entry.metrics_version and by_version[entry.metrics_version] == entry.metrics
    text = (FOLDERS[model_id] / "README.md").read_text()
    # Each results table of the card is headed by the version its numbers were measured on.
    assert re.findall(rf"^On `{re.escape(name)}` \*\*(\S+)\*\* \(", text, flags=re.M) == list(by_version)
    # The model-index (what the Hub shows): the entry's numbers, on metrics_version.
    results = ModelCard(text).data.eval_results or []
    assert {r.dataset_revision for r in results} == {entry.metrics_version}
    assert {(r.dataset_split, r.metric_type): r.metric_value for r in results} == {
        (split, metric): value for split, values in entry.metrics.items() for metric, value in values.items()
        if isinstance(value, (int, float)) and metric != "n"}
    # The card's prose, its training record and the README's row name no version of the dataset beside these.
    stated = {entry.dataset_version, *by_version}
    readme = Path(__file__).resolve().parents[1] / "README.md"
    row = [line for line in readme.read_text().splitlines() if line.startswith(f"| `{model_id}` |")]
    assert len(row) == 1, f"README.md has no single model row for {model_id}"
    assert re.findall(rf"`{re.escape(name)}` (\d+\.\d+\.\d+)", row[0]) == [entry.dataset_version]  # "trained on"
    for mention in (text, json.dumps(entry.training)):
        named = re.findall(rf"`{re.escape(name)}` (?:\(version )?(\d+\.\d+\.\d+)|{re.escape(name)}:(\d+\.\d+\.\d+)", mention)
        assert {a or b for a, b in named} <= stated, named
    assert entry.training.get("dataset", f"{name}:{entry.dataset_version}") == f"{name}:{entry.dataset_version}"
    # A benchmark run on metrics_version that scores the card's numbers: its row and the unmarked card row agree.
    record = {"model": "rerun", "task": model_id, "dataset": f"{name}:{entry.metrics_version}", "splits": entry.metrics}
    rows = _rows(leaderboard(record, entry.dataset, entry.dataset_config))
    assert rows[f"{model_id} (card)"] == rows["**rerun** (this run)"]
    assert not any(label.startswith(f"{model_id} (card, dataset {entry.metrics_version}") for label in rows)
    # On another version the card's numbers are marked with theirs, never unmarked.
    rows = _rows(leaderboard({**record, "dataset": f"{name}:99.0.0"}, entry.dataset, entry.dataset_config))
    assert f"{model_id} (card)" not in rows and f"{model_id} (card, dataset {entry.metrics_version})" in rows

def test_the_tilt_dcnn_card_names_its_dataset_version_and_uncertainty():
    import matplotlib.image as mpimg
    import numpy as np
    from huggingface_hub import ModelCard

    entry = get_entry("tilt_dcnn")
    text = (FOLDERS["tilt_dcnn"] / "README.md").read_text()
    assert "Trained on `stem_abf_tilt/small` (version 3.0.0)" in text
    assert "On `stem_abf_tilt/small` **3.0.0** (the version these weights were trained on):" in text
    assert "## Goals at 10000 e/A^2" in text and "## Uncertainty: calibration" in text
    for figure in ("tilt_dcnn_small_reliability.png", "tilt_dcnn_small_two_domain_map.png"):
        assert f"({figure})" in text and (FOLDERS["tilt_dcnn"] / figure).stat().st_size > 10_000
        pixels = mpimg.imread(FOLDERS["tilt_dcnn"] / figure)[..., :3]  # a drawn plot: many colours, mostly background
        colours, counts = np.unique(np.round(pixels.reshape(-1, 3), 2), axis=0, return_counts=True)
        assert min(pixels.shape[:2]) > 300 and len(colours) > 100 and counts.max() / counts.sum() > 0.3, figure
    results = ModelCard(text).data.eval_results
    assert results and {r.dataset_revision for r in results} == {"3.0.0"}
    rmse = entry.metrics["test_multislice"]["rmse_deg"]
    assert ("test_multislice", rmse) in {(r.dataset_split, r.metric_value) for r in results if r.metric_type == "rmse_deg"}
    assert len(entry.uncertainty["std_scale"]) == 3 and "validation" in entry.uncertainty["calibrated_on"]


def test_version_warning_names_both_versions():
    line = benchmarking.version_warning(get_entry("polarization_dcnn"), "1.2.0")
    assert "2.0.0" in line and "1.2.0" in line and "\n" not in line
    assert benchmarking.version_warning(get_entry("polarization_dcnn"), "2.0.0") is None

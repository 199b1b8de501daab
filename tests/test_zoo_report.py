"""The zoo part of the main job: packaged model, benchmark and two-domain map on the smoke build; CBED classifiers; the loop."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

import stem_zoo
from stem_datasets.builders.stem_abf_tilt.recipe import RECIPES, stitched_domains
from stem_zoo import report
from stem_zoo.tasks.cbed import model as cbed_cnn
from stem_zoo.tasks.cbed.model import write_cbed_report
from stem_zoo.tasks.tilt.report import two_domain_check, write_zoo_report


def test_packaged_reference_loads_offline_with_its_entry():
    model = stem_zoo.load("tilt_dcnn")
    assert model.zoo.source == "packaged:tilt_dcnn"
    assert model.zoo.entry.metrics["test"]["rmse_deg"] > 0 and model.output_shape == (None, 6)  # means, std parameters
    assert model.zoo.entry.uncertainty["basis"] == ["alpha_plus_beta", "beta_minus_alpha", "gamma"]


def test_every_zoo_model_ships_weights_that_load_with_its_entry():
    for model_id in stem_zoo.list_models():
        model = stem_zoo.load(model_id)
        entry = stem_zoo.get_entry(model_id)
        assert model.zoo.source == f"packaged:{model_id}"
        per_pixel = entry.output_units == "class probability per pixel"  # a segmenter: (None, H, W, classes)
        n_out = len(entry.outputs) + len(entry.uncertainty.get("basis", ()))  # a Gaussian head adds its std parameters
        assert model.output_shape == ((None, None, None, n_out) if per_pixel else (None, n_out))
        assert set(entry.metrics) >= {"test"}


@pytest.mark.slow
def test_stitched_domains_are_two_periodic_images(smoke_build):
    smoke_build("stem_abf_tilt")  # the smoke build fills the simulation cache this test reads
    image, borders = stitched_domains(RECIPES["smoke"], "a-b-c-", ((6.0, -4.0, 8.0), (-6.0, 4.0, -3.0)), (96, 200), layers=6)
    assert borders[0] == 0 and borders[-1] == 200 and 80 < borders[1] < 120
    left, right = image[:, : borders[1]], image[:, borders[1]:]
    assert np.all(np.isfinite(image)) and not np.allclose(left.mean(), right.mean(), rtol=1e-6)


@pytest.mark.slow
def test_zoo_report_writes_benchmark_and_map(smoke_build, tmp_path, saved_figures):
    smoke_data_dir = smoke_build("stem_abf_tilt")
    path = write_zoo_report("smoke", tmp_path, data_dir=str(smoke_data_dir))
    text = path.read_text()
    assert "| **tilt_dcnn** (this run) |" in text and "test_multislice" in text
    assert "## Goals at 10000 e/A^2" in text and "## By pattern at 10000" in text and "## By thickness at 10000" in text
    assert "## Uncertainty: calibration" in text and (tmp_path / "tilt_dcnn_smoke_reliability.png").stat().st_size > 10_000
    assert (tmp_path / "tilt_dcnn_smoke_two_domain_map.png").stat().st_size > 10_000
    maps = np.load(tmp_path / "tilt_dcnn_smoke_two_domain_map.npy")
    assert maps.ndim == 3 and maps.shape[-1] == 3 and np.isfinite(maps).mean() > 0.5  # NaN only off full columns
    check = json.loads((tmp_path / "tilt_dcnn_smoke_two_domain_check.json").read_text())
    assert check["left"]["columns"] >= 10 and check["right"]["columns"] >= 10 and len(check["left"]["mean_std"]) == 3
    assert min(check["left"]["mean_std"] + check["right"]["mean_std"]) > 0
    columns = (tmp_path / "tilt_dcnn_smoke_two_domain_columns.csv").read_text()
    assert "Border found at" in text and len(columns) > 1000 and "std_beta_minus_alpha" in columns.splitlines()[0]
    assert "## Against the physical limit" in text and "efficiency CRB / RMSE" in text and "tilt_dcnn RMSE" in text
    rows = json.loads((tmp_path / "tilt_dcnn_smoke_mle_baseline.json").read_text())
    assert [r["split"] for r in rows] == ["test", "test_multislice"] and all(5 <= r["n"] == r["n_bound"] <= 8 for r in rows)
    record = json.loads((tmp_path / "tilt_dcnn_smoke_record.json").read_text())
    calibration = record["by_dose"]["splits"]["test_multislice"]["calibration"]
    assert set(calibration) == {"alpha", "beta", "gamma", "alpha_plus_beta", "beta_minus_alpha"}
    assert all(0 <= c["coverage_68"] <= c["coverage_95"] <= 1 for c in calibration.values())
    # The figures show those numbers: one reliability panel per split, a curve per quantity; the map's columns.
    (two_domains,) = [f for f in saved_figures if f._suptitle and f._suptitle.get_text().startswith("tilt_dcnn: stitched")]
    (reliability,) = [f for f in saved_figures if f.axes and f.axes[0].get_xlabel() == "nominal coverage"]
    panels = {ax.get_title(): ax for ax in reliability.axes}
    assert set(panels) == set(record["by_dose"]["splits"]) and "test_multislice" in panels
    curves = {line.get_label(): list(line.get_ydata()) for line in panels["test_multislice"].lines[1:]}
    assert curves == {q: c["reliability"] for q, c in calibration.items()}
    assert two_domains.axes[0].get_title() == f"micrograph, {len(columns.splitlines()) - 1} B columns"


def test_two_domain_check_compares_signed_labels_and_finds_the_border():
    step = 2.76 / 0.15
    m, n = np.meshgrid(np.arange(20), np.arange(4), indexing="ij")
    columns = np.zeros(m.size, dtype=[("x_A", float), ("alpha", float), ("beta", float)])
    columns["x_A"] = (m.ravel() + 0.5) * 2.76
    right = columns["x_A"] > 30.0
    columns["alpha"] = np.where(right, 2.0, 6.0)
    columns["beta"] = np.where(right, 1.0, -4.0)
    maps = SimpleNamespace(columns=columns, output_names=("alpha", "beta"), pixel_size=0.15,
                           lattice=SimpleNamespace(column_step=(0.0, step)))
    check = two_domain_check(maps, 30.0, ((6.0, -4.0), (2.0, 1.0)))
    assert check["left"]["mean"] == [6.0, -4.0] and check["right"]["mean"] == [2.0, 1.0]
    assert check["max_error_deg"] == 0.0 and check["border_error_cells"] < 0.3 and check["passed"]
    columns["beta"][~right] *= -1.0  # the left domain read with the wrong sign of beta: a 8 deg error, not a pass
    check = two_domain_check(maps, 30.0, ((6.0, -4.0), (2.0, 1.0)))
    assert check["left"]["mean"] == [6.0, 4.0] and check["max_error_deg"] == 8.0 and not check["passed"]


def test_cbed_report_classifies_fresh_simulations(tmp_path, saved_figures):
    path = write_cbed_report(tmp_path, thickness_angstrom=31.24)  # thin: seconds, not the models' 10-20 nm
    rows = [line for line in path.read_text().splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [row.split(" | ")[1] for row in rows] == ["rough, step 3", "rough, step 7", "intermixed", "abrupt"]
    for row in rows:
        name, p = row.split(" | ")[2].rstrip(")").split(" (")  # one call per scan: the registered cell average
        assert name in ("rough", "intermixed", "abrupt") and 1 / 3 <= float(p) <= 1
        dx, y0 = (float(v) for v in row.split(" | ")[3].split(", "))
        assert abs(dx - 0.2) < 0.15 and abs(y0 - 1.1) < 0.15  # back on the lattice (3 nm: the fit is off by up to 0.2 A, card)
    assert (tmp_path / "cbed_classifiers.png").stat().st_size > 10_000
    (figure,) = saved_figures  # a row of registered CBED patterns per structure, labelled with the predicted class
    labels = [ax.get_ylabel() for ax in figure.axes if ax.get_ylabel()]
    assert [label.split("\n")[0] for label in labels] == ["buried step at 0.3 t", "buried step at 0.7 t", "25% Ti on Al sites",
                                                           "abrupt (flat, no Ti)"]
    assert len(figure.axes) % 4 == 0 and all(len(ax.images) == 1 and np.ptp(ax.images[0].get_array()) > 0
                                             for ax in figure.axes)  # a pattern in every panel
    assert "within one tenth is what it claims" in path.read_text()  # the step model's limit is said, not hidden


def test_each_model_module_reports_once_for_all_its_chosen_models(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(cbed_cnn, "report", lambda entries, out, config, data_dir: calls.append([e.id for e in entries]) or [])
    assert report.write_reports("smoke", tmp_path, ["cbed_step_cnn", "cbed_interface_cnn"]) == []
    assert calls == [["cbed_step_cnn", "cbed_interface_cnn"]]
    assert [e.id for e in report.chosen_entries()] == stem_zoo.list_models()
    with pytest.raises(ValueError, match="Unknown model 'nope'"):
        report.write_reports("smoke", tmp_path, ["nope"])

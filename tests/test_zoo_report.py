"""The zoo part of the main job: packaged model, benchmark and two-domain map on the smoke build; CBED classifiers."""

import numpy as np

import stem_zoo
from stem_datasets.abf_tilt import RECIPES, stitched_domains
from stem_zoo.report import write_cbed_report, write_zoo_report


def test_packaged_reference_loads_offline_with_its_entry():
    model = stem_zoo.load("tilt_dcnn")
    assert model.zoo.source == "packaged:tilt_dcnn"
    assert model.zoo.entry.metrics["test"]["rmse_deg"] > 0 and model.output_shape == (None, 3)


def test_every_zoo_model_ships_weights_matching_its_registry_entry():
    for model_id in stem_zoo.list_models():
        model = stem_zoo.load(model_id)
        entry = stem_zoo.get_entry(model_id)
        assert model.zoo.source == f"packaged:{model_id}"
        assert model.zoo.entry == entry, f"{model_id}: shipped config.json differs from the registry; re-stage it"
        assert model.output_shape == (None, len(entry.outputs)) and set(entry.metrics) >= {"test"}


def test_stitched_domains_are_two_periodic_images(smoke_data_dir):
    image, borders = stitched_domains(RECIPES["smoke"], "a-b-c-", ((6.0, -4.0, 8.0), (-6.0, 4.0, -3.0)), (96, 200), layers=6)
    assert borders[0] == 0 and borders[-1] == 200 and 80 < borders[1] < 120
    left, right = image[:, : borders[1]], image[:, borders[1]:]
    assert np.all(np.isfinite(image)) and not np.allclose(left.mean(), right.mean(), rtol=1e-6)


def test_zoo_report_writes_benchmark_and_map(smoke_data_dir, tmp_path):
    path = write_zoo_report("smoke", tmp_path, data_dir=str(smoke_data_dir))
    text = path.read_text()
    assert "| **tilt_dcnn** (this run) |" in text and "test_multislice" in text
    assert (tmp_path / "tilt_dcnn_smoke_two_domain_map.png").stat().st_size > 10_000
    maps = np.load(tmp_path / "tilt_dcnn_smoke_two_domain_map.npy")
    assert maps.ndim == 3 and maps.shape[-1] == 3 and np.all(np.isfinite(maps))


def test_cbed_report_classifies_fresh_simulations(tmp_path):
    path = write_cbed_report(tmp_path, thickness_angstrom=31.24)  # thin: seconds, not the models' 10-20 nm
    rows = [line for line in path.read_text().splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [row.split(" | ")[1] for row in rows] == ["rough, step 3", "rough, step 7", "intermixed"]
    for row in rows:
        p_rough = [float(p) for p in row.split(" | ")[2].split(", ")]
        assert len(p_rough) == 4 and all(0.0 <= p <= 1.0 for p in p_rough)
    assert (tmp_path / "cbed_classifiers.png").stat().st_size > 10_000

"""Tilt maps: dense evaluation equals per-window evaluation; readers; the map CLI; bad input."""

import h5py
import numpy as np
import pytest
import tifffile

from stem_zoo import hub
from stem_zoo.cli import main as zoo_cli
from stem_zoo.io import read_micrograph
from stem_zoo.maps import predict_map
from stem_zoo.models.tilt_dcnn import build_tilt_dcnn
from stem_zoo.registry import get_entry


@pytest.fixture(scope="module")
def model():
    net = build_tilt_dcnn(get_entry("tilt_dcnn").input)
    rng = np.random.default_rng(0)
    for layer in net.layers:  # non-trivial batch-norm statistics and outputs of several degrees
        if layer.name.startswith("bn"):
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2, layer.moving_variance.shape).astype("float32"))
    fc2 = net.get_layer("fc2")
    fc2.kernel.assign(fc2.kernel * 8.0)
    return net


def test_dense_maps_equal_per_window_predictions(model):
    image = np.random.default_rng(1).normal(size=(70, 95)).astype("float32")
    dense = predict_map(image, model, pixel_size=0.15)
    windows = predict_map(image, model, pixel_size=0.15, method="windows")
    assert dense.windows.shape == (70 - 52 + 1, 95 - 74 + 1, 3)
    assert np.abs(dense.windows).max() > 1.0  # degrees, not a vanishing signal
    np.testing.assert_allclose(dense.windows, windows.windows, atol=1e-4)
    assert dense.maps.shape == dense.windows.shape


def test_resampling_to_the_model_pixel_size(model):
    image = np.random.default_rng(2).normal(size=(40, 50)).astype("float32")  # at 0.3 A/px
    maps = predict_map(image, model, pixel_size=0.3)
    assert maps.image.shape == (80, 100) and maps.pixel_size == 0.15 and maps.source_pixel_size == 0.3


@pytest.mark.parametrize("image, kwargs, message", [
    (np.zeros((60, 80, 3)), {"pixel_size": 0.15}, "2-D array"),
    (np.full((60, 80), np.nan), {"pixel_size": 0.15}, "NaN"),
    (np.zeros((30, 80)), {"pixel_size": 0.15}, "smaller than one model window"),
    (np.zeros((60, 80)), {}, "pixel size is unknown"),
    (np.zeros((60, 80)), {"pixel_size": -1.0}, "positive"),
    (np.zeros((60, 80)), {"pixel_size": 0.15, "method": "magic"}, "method"),
])
def test_bad_map_input(model, image, kwargs, message):
    with pytest.raises(ValueError, match=message):
        predict_map(image, model, **kwargs)


def test_readers_take_the_pixel_size_from_metadata(tmp_path):
    image = np.random.default_rng(3).random((20, 30)).astype("float32")
    tifffile.imwrite(tmp_path / "a.tif", image, imagej=True, resolution=(1 / 0.025, 1 / 0.025), metadata={"unit": "nm"})
    data, pixel = read_micrograph(tmp_path / "a.tif")
    np.testing.assert_array_equal(data, image)
    assert pixel == pytest.approx(0.25)
    with h5py.File(tmp_path / "a.h5", "w") as handle:
        node = handle.create_dataset("scan/haadf", data=image)
        node.attrs["pixel_size"] = 20.0
        node.attrs["pixel_size_unit"] = "pm"
    assert read_micrograph(tmp_path / "a.h5")[1] == pytest.approx(0.2)
    np.save(tmp_path / "a.npy", image)
    with pytest.raises(ValueError, match="does not state its pixel size"):
        read_micrograph(tmp_path / "a.npy")
    assert read_micrograph(tmp_path / "a.npy", pixel_size=0.1)[1] == 0.1
    np.save(tmp_path / "b.npy", np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="not one 2-D image"):
        read_micrograph(tmp_path / "b.npy", pixel_size=0.1)
    with pytest.raises(FileNotFoundError):
        read_micrograph(tmp_path / "missing.tif")


def test_map_cli_writes_maps_and_figure(model, tmp_path, capsys):
    folder = hub.publish(model, "someone/x", entry=get_entry("tilt_dcnn"), dry_run=True, out_dir=tmp_path / "model")
    np.save(tmp_path / "scan.npy", np.random.default_rng(4).normal(size=(64, 90)).astype("float32"))
    assert zoo_cli(["map", str(tmp_path / "scan.npy"), "--model", str(folder), "--pixel-size", "0.15",
                    "--out", str(tmp_path / "maps")]) == 0
    maps = np.load(tmp_path / "maps" / "scan_tilt_maps.npy")
    assert maps.shape == (13, 17, 3) and np.all(np.isfinite(maps))
    with h5py.File(tmp_path / "maps" / "scan_tilt_maps.h5") as handle:
        assert handle.attrs["pixel_size_angstrom"] == 0.15 and handle["windows"].shape == (13, 17, 3)
    assert (tmp_path / "maps" / "scan_tilt_maps.png").stat().st_size > 10_000
    assert zoo_cli(["map", str(tmp_path / "scan.npy"), "--model", str(folder)]) == 2
    assert "pixel size" in capsys.readouterr().err

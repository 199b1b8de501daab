"""Tilt maps: dense = per-window evaluation; B-column registration; per-column values; readers; CLI; bad input."""

import math

import h5py
import numpy as np
import pytest
import tifffile

from stem_datasets.simulation.cache import SimulationCache
from stem_datasets.simulation.imaging import resample_periodic
from stem_datasets.simulation.microscope import Microscope
from stem_datasets.simulation.simulate import simulate_stem
from stem_datasets.physics.structures import tilted_perovskite
from stem_zoo import hub
from stem_zoo.cli import main as zoo_cli
from stem_zoo.micrograph import read_micrograph
from stem_zoo.tasks.tilt.maps import ColumnLattice, column_average, predict_map, register_columns
from stem_zoo.tasks.tilt.model import build_tilt_dcnn
from stem_zoo.registry import get_entry

A = get_entry("tilt_dcnn").input.lattice_constant  # SrTiO3, the nominal lattice of the model and its dataset


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
    image = np.random.default_rng(1).normal(size=(90, 120)).astype("float32")
    dense = predict_map(image, model, pixel_size=0.15)
    windows = predict_map(image, model, pixel_size=0.15, method="windows")
    assert dense.windows.shape == (90 - 52 + 1, 120 - 74 + 1, 3)
    assert np.abs(dense.windows).max() > 1.0  # degrees, not a vanishing signal
    np.testing.assert_allclose(dense.windows, windows.windows, atol=1e-4)
    assert dense.maps.shape == dense.windows.shape
    assert dense.lattice == windows.lattice and dense.lattice.method == "registered"


def test_resampling_to_the_model_pixel_size():
    """A field recorded at 0.3 A/px is mapped as the same field at the model's 0.15 A/px would be."""
    origin = (20.0, 15.0)  # a B column, in pixels at 0.15 A/px
    native = _parity_micrograph((160, 220), origin)  # at 0.15 A/px
    maps = predict_map(native[::2, ::2], _ParityModel(), pixel_size=0.3, method="windows", column_origin=origin)
    assert maps.image.shape == (160, 220) and maps.pixel_size == 0.15 and maps.source_pixel_size == 0.3
    assert np.corrcoef(maps.image.ravel(), native.ravel())[0, 1] > 0.98  # the field itself, not a stretched one
    columns = maps.columns
    assert len(columns) >= 12
    parity = (-1.0) ** (columns["m"] + columns["n"])
    for name, v in zip(maps.output_names, (6.0, -4.0, 8.0)):  # every window's reference pixel on its B column
        np.testing.assert_allclose(columns[name], parity * v, atol=1e-5)


class _ParityModel:
    """A stand-in for the network: +v if the window's reference pixel is bright, -v if dark."""

    def __init__(self, value=(6.0, -4.0, 8.0)):
        self.value = np.asarray(value, np.float32)

    def predict_on_batch(self, batch):
        reference = batch[:, 13, 9, 0]  # pixel (y_ref, x_ref) = (13.0, 9.2) of each standardized window
        return np.sign(reference)[:, None] * self.value


def _parity_micrograph(shape, origin, pixel_size=0.15):
    """Gaussian blobs on the B-column lattice, bright on even (m + n), dark on odd (anti-phase tilt signs)."""
    lattice = ColumnLattice.nominal(origin, pixel_size, A)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    image = np.zeros(shape)
    for m in range(-2, int(shape[1] / lattice.column_step[1]) + 3):
        for n in range(-2, int(shape[0] / lattice.cell_step[0]) + 3):
            r, c = lattice.position(m, n)
            image += (-1.0) ** (m + n) * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * 4.0**2))
    return (1.0 + 0.3 * image).astype(np.float32)


def test_per_column_values_keep_the_magnitude_of_alternating_angles():
    origin = (20.0, 15.0)
    image = _parity_micrograph((160, 220), origin)
    maps = predict_map(image, _ParityModel(), pixel_size=0.15, method="windows", column_origin=origin)
    columns = maps.columns
    assert len(columns) >= 12 and maps.lattice.method == "given"
    parity = (-1.0) ** (columns["m"] + columns["n"])
    for name, v in zip(maps.output_names, (6.0, -4.0, 8.0)):
        np.testing.assert_allclose(columns[name], parity * v, atol=1e-5)  # |v| everywhere, sign by parity
    np.testing.assert_allclose(columns["row"], origin[0] + columns["n"] * A / 0.15, atol=1e-6)
    np.testing.assert_allclose(columns["col"], origin[1] + columns["m"] * A / math.sqrt(2) / 0.15, atol=1e-6)
    np.testing.assert_allclose(columns["x_A"], columns["col"] * 0.15)
    # The old moving average over a/sqrt2 x a mixed neighbours of opposite sign: |mean| far below |v|.
    assert abs(maps.windows[..., 0].mean()) < 2.0
    finite = np.isfinite(maps.maps[..., 0])
    assert finite.mean() > 0.5 and set(np.round(np.abs(maps.maps[finite]), 4).ravel()) == {4.0, 6.0, 8.0}


def test_column_average_uses_only_windows_within_the_jitter_of_each_column():
    lattice = ColumnLattice.nominal((13.0, 9.2), pixel_size=0.15, lattice_constant=A)
    offset = (13.0, 9.2)
    rows, cols = np.mgrid[0:90, 0:120]
    fm, fn = lattice.fractional(rows + offset[0], cols + offset[1])
    m, n = np.rint(fm), np.rint(fn)
    near = (np.abs(fm - m) <= 0.25) & (np.abs(fn - n) <= 0.25)
    windows = np.where(near, 3.0 * (-1.0) ** (m + n) + 0.1 * m, 1000.0)[..., None]  # junk between columns
    columns, maps = column_average(windows, offset, lattice, 0.25, ("gamma",))
    assert len(columns) == 3 * 6
    np.testing.assert_allclose(columns["gamma"], 3.0 * (-1.0) ** (columns["m"] + columns["n"]) + 0.1 * columns["m"],
                               atol=1e-6)
    assert set(columns["n_windows"].tolist()) <= {117, 130, 143}  # 13 rows x 9 or 10 or 11 columns of windows
    # Columns whose jitter box leaves the windows grid have no value: NaN in the map, absent from the table.
    assert np.isnan(maps[0, 0, 0]) and np.isfinite(maps[40, 40, 0])
    assert not np.any(np.isin(columns["n"], [0])) and not np.any(np.isin(columns["m"], [0]))


@pytest.fixture(scope="module")
def abf_runs(tmp_path_factory):
    """Tiny abTEM runs of a-b-c- SrTiO3 (2.2 and 4.4 nm) at three defoci, a few seconds each."""
    cache = SimulationCache(tmp_path_factory.mktemp("abf-maps"))
    structure = tilted_perovskite((6.0, -4.0, 8.0), "a-b-c-")
    return {defocus: simulate_stem(structure, [2.2, 4.4], Microscope(
        potential_sampling=0.1, scan_step=0.5, frozen_phonons=0, haadf_detector=(50.0, 80.0), defocus=defocus), cache)
        for defocus in (0.0, 30.0, -30.0)}


@pytest.mark.parametrize("defocus, layer", [(0.0, 0), (0.0, 1), (30.0, 0), (30.0, 1), (-30.0, 0), (-30.0, 1)])
@pytest.mark.slow
def test_registration_finds_the_reference_b_column(abf_runs, defocus, layer):
    sim = abf_runs[defocus]
    period_x, period_y = sim.period  # one period holds 2 x 2 B columns; the reference one at (1/4, 1/4) of it
    start = (1.23, 2.71)  # [A] position of pixel (0, 0) in the period image
    image = resample_periodic(sim.abf[layer], sim.period, 0.15, (150, 200), start)
    noisy = np.random.default_rng(layer).poisson(np.maximum(image, 0) * 1e5 * 0.15**2) / (1e5 * 0.15**2)
    lattice = register_columns(noisy, 0.15, A)
    spacing = np.array([period_y / 2, period_x / 2]) / 0.15  # the tilted crystal's, 1.4 % below nominal in x
    np.testing.assert_allclose([lattice.cell_step[0], lattice.column_step[1]], spacing, rtol=3e-3)
    reference = np.array([(period_y / 4 - start[1]) / 0.15, (period_x / 4 - start[0]) / 0.15])
    offset = (np.array(lattice.origin) - reference) / spacing
    error_A = (offset - np.round(offset)) * spacing * 0.15
    assert np.all(np.abs(error_A) < 0.2), (error_A, lattice.checks)  # an O, A-O or empty site is >= 1.38 A away

@pytest.mark.parametrize("image, kwargs, message", [
    (np.zeros((60, 80, 3)), {"pixel_size": 0.15}, "2-D array"),
    (np.full((60, 80), np.nan), {"pixel_size": 0.15}, "NaN"),
    (np.zeros((30, 80)), {"pixel_size": 0.15}, "smaller than one model window"),
    (np.zeros((70, 120)), {"pixel_size": 0.15}, "plus the normalization margin"),
    (np.zeros((90, 120)), {"pixel_size": 0.15, "column_origin": (np.nan, 3.0)}, "column_origin"),
    (np.zeros((60, 80)), {}, "pixel size is unknown"),
    (np.zeros((60, 80)), {"pixel_size": -1.0}, "positive"),
    (np.zeros((60, 80)), {"pixel_size": 1.2}, "at most 0.5 A/px"),
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


def test_map_cli_writes_maps_and_figure(model, tmp_path, capsys, saved_figures):
    folder = hub.publish(model, "someone/x", entry=get_entry("tilt_dcnn"), dry_run=True, out_dir=tmp_path / "model")
    np.save(tmp_path / "scan.npy", _parity_micrograph((100, 130), (20.0, 15.0)))
    assert zoo_cli(["map", str(tmp_path / "scan.npy"), "--model", str(folder), "--pixel-size", "0.15",
                    "--out", str(tmp_path / "maps")]) == 0
    maps = np.load(tmp_path / "maps" / "scan_tilt_maps.npy")
    assert maps.shape == (49, 57, 3) and np.isfinite(maps).any()
    with h5py.File(tmp_path / "maps" / "scan_tilt_maps.h5") as handle:
        assert handle.attrs["pixel_size_angstrom"] == 0.15 and handle["windows"].shape == (49, 57, 3)
        table = handle["columns"][()]
        assert len(table) > 0
        assert {"m", "n", "row", "col", "x_A", "y_A", "alpha", "beta", "gamma"} <= set(table.dtype.names)
        assert handle.attrs["lattice_method"] == "registered"
    assert (tmp_path / "maps" / "scan_tilt_maps.png").stat().st_size > 10_000
    (figure,) = saved_figures  # the PNG's panels: the micrograph with its columns, each angle's per-column maps
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[0] == f"micrograph, {len(table)} B columns" and "alpha per window [deg]" in titles
    for name in ("alpha", "beta", "gamma"):
        assert {f"{name} per column [deg]", f"|{name}| per column [deg]"} <= set(titles)
    np.testing.assert_allclose(figure.axes[0].images[0].get_array(), np.load(tmp_path / "scan.npy"), rtol=1e-6)
    per_column = np.asarray(figure.axes[titles.index("gamma per column [deg]")].images[0].get_array().filled(np.nan))
    shown = np.unique(np.round(per_column[np.isfinite(per_column)], 4))
    assert len(shown) > 1 and set(shown) <= set(np.round(table["gamma"], 4))  # the table's values, column by column
    assert zoo_cli(["map", str(tmp_path / "scan.npy"), "--model", str(folder)]) == 2
    assert "pixel size" in capsys.readouterr().err


def test_the_model_declares_the_lattice_of_its_dataset():
    from stem_datasets.builders.stem_abf_tilt.recipe import RECIPES

    entry = get_entry("tilt_dcnn")
    assert entry.input.lattice_constant == RECIPES[entry.dataset_config].lattice_constant == 3.905


def test_with_the_pattern_every_column_reads_the_domain_label_of_the_reference_frame():
    origin = (20.0, 15.0)
    image = _parity_micrograph((160, 220), origin)
    # columns of odd m + n read (-6, 4, -8): an a-b-c- crystal seen from the neighbouring column
    maps = predict_map(image, _ParityModel(), pixel_size=0.15, method="windows", column_origin=origin, pattern="a-b-c-")
    assert maps.pattern == "a-b-c-" and len(maps.columns) >= 12
    for name, v in zip(maps.output_names, (6.0, -4.0, 8.0)):
        np.testing.assert_allclose(maps.columns[name], v, atol=1e-5)  # one label for the domain
    np.testing.assert_allclose(maps.columns["alpha_plus_beta"], 2.0, atol=1e-5)
    np.testing.assert_allclose(maps.columns["abs_gamma"], 8.0, atol=1e-5)
    with pytest.raises(ValueError, match="no uncertainty"):
        predict_map(image, _ParityModel(), pixel_size=0.15, method="windows", column_origin=origin, require_std=True)
    with pytest.raises(ValueError):
        predict_map(image, _ParityModel(), pixel_size=0.15, column_origin=origin, pattern="abc")

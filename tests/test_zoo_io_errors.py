"""Damaged, empty or wrong micrograph files: one clear MicrographReadError, and exit 2 without a traceback in the CLI."""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys

import h5py
import numpy as np
import pytest
import tifffile

from stem_zoo.cli import main as zoo_cli
from stem_zoo.micrograph import MicrographReadError, read_micrograph


def _tiff_bytes(tmp_path) -> bytes:
    tifffile.imwrite(tmp_path / "whole.tif", np.random.default_rng(0).random((64, 64)).astype("float32"))
    return (tmp_path / "whole.tif").read_bytes()


def _hdf5_without_image(path):
    with h5py.File(path, "w") as handle:
        handle["spectrum"] = np.arange(16.0)
        handle.attrs["note"] = "no image here"


def _npy_object(path):
    with open(path, "wb") as handle:  # what np.save(..., allow_pickle=True) writes for an object array
        np.lib.format.write_array(handle, np.array([{"image": 1}], dtype=object), allow_pickle=True)


BAD_FILES = {  # file name: (writer, what the message must say)
    "truncated.tif": (lambda p, t: p.write_bytes(_tiff_bytes(t)[:2000]), "is not a readable TIFF file (truncated or corrupt?"),
    "header_only.tif": (lambda p, t: p.write_bytes(_tiff_bytes(t)[:8]), "is not a readable TIFF file"),
    "empty.npy": (lambda p, t: p.write_bytes(b""), "is empty (0 bytes)"),
    "truncated.npy": (lambda p, t: (np.save(p, np.ones((32, 32))), p.write_bytes(p.read_bytes()[:300])),
                      "is not a readable NumPy .npy file"),
    "notes.dm4": (lambda p, t: p.write_text("these are my notes, not a DigitalMicrograph file\n" * 20),
                  "is not a readable DigitalMicrograph file"),
    "empty.emd": (lambda p, t: p.write_bytes(b""), "is empty (0 bytes)"),
    "text.emd": (lambda p, t: p.write_text("not HDF5"), "is not a readable EMD file"),
    "spectrum.h5": (lambda p, t: _hdf5_without_image(p), "has no 2-D image dataset (its datasets: spectrum (16,))"),
    "objects.npy": (lambda p, t: _npy_object(p), "holds pickled Python objects, which are never loaded"),
    "stack.npy": (lambda p, t: np.save(p, np.zeros((3, 8, 8))), "holds an array of shape (3, 8, 8), not one 2-D image"),
    "labels.npy": (lambda p, t: np.save(p, np.array([["a", "b"], ["c", "d"]])), "not image intensities"),
    "nan.npy": (lambda p, t: np.save(p, np.full((16, 16), np.nan)), "has no finite pixel"),
}


@pytest.fixture
def bad_file(tmp_path, request):
    name = request.param
    writer, _ = BAD_FILES[name]
    writer(tmp_path / name, tmp_path)
    return tmp_path / name


@pytest.mark.parametrize("bad_file", list(BAD_FILES), indirect=True)
def test_every_reader_says_which_file_what_is_wrong_and_what_to_do(bad_file):
    with pytest.raises(MicrographReadError) as caught:
        read_micrograph(bad_file, pixel_size=0.2)
    message = str(caught.value)
    assert message.startswith(bad_file.name + " ")
    assert BAD_FILES[bad_file.name][1] in message
    assert "\n" not in message and re.search(r"(save|pass|re-copy|check|write)", message)  # a remedy
    assert isinstance(caught.value, ValueError)  # callers catching ValueError keep working


def test_hdf5_dataset_that_is_not_there(tmp_path):
    with h5py.File(tmp_path / "scan.h5", "w") as handle:
        handle["frames/haadf"] = np.ones((8, 8))
    with pytest.raises(MicrographReadError, match=r"scan.h5 has no dataset 'haadf' \(its datasets: frames/haadf \(8, 8\)\)"):
        read_micrograph(tmp_path / "scan.h5", pixel_size=0.2, dataset="haadf")
    assert read_micrograph(tmp_path / "scan.h5", pixel_size=0.2, dataset="frames/haadf")[0].shape == (8, 8)


def test_a_pixel_size_in_an_unknown_unit_is_a_read_error_that_names_the_unit(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", np.ones((8, 8), "float32"), imagej=True, resolution=(10.0, 10.0),
                     metadata={"unit": "furlong"})
    with pytest.raises(MicrographReadError, match="a.tif states its pixel size in an unknown unit 'furlong'"):
        read_micrograph(tmp_path / "a.tif")
    assert read_micrograph(tmp_path / "a.tif", pixel_size=0.2)[1] == 0.2  # the user's pixel size overrides it


@pytest.mark.parametrize("command", ["map", "atoms", "polarization"])
@pytest.mark.parametrize("bad_file", ["truncated.tif", "empty.npy", "notes.dm4", "spectrum.h5", "objects.npy"],
                         indirect=True)
def test_cli_prints_one_error_line_and_exits_2(command, bad_file, capsys):
    assert zoo_cli([command, str(bad_file), "--pixel-size", "0.2", "--out", str(bad_file.parent / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"stem-zoo: error: {bad_file.name} ") and BAD_FILES[bad_file.name][1] in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (bad_file.parent / "out").exists()  # nothing written for a file that could not be read


def test_installed_command_exits_2_without_traceback(tmp_path):
    (tmp_path / "scan.tif").write_bytes(_tiff_bytes(tmp_path)[:2000])
    run = subprocess.run([sys.executable, "-m", "stem_zoo.cli", "map", str(tmp_path / "scan.tif")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert run.stderr.startswith("stem-zoo: error: scan.tif is not a readable TIFF file"), run.stderr

"""The experimental BFO reader: per-frame HDF5, the checksummed pickle series, validation and NaN windows."""

import hashlib
import json

import h5py
import numpy as np
import pytest

from stem_datasets.builders.stem_bfo_polarization import experimental as bfo

UNPICKLED: list[str] = []


def _record_unpickle(entry):
    """Called by pickle when the trap below is unpickled."""
    UNPICKLED.append("called")
    return entry


class _Trap:
    """Unpickles to ``entry``, recording that unpickling happened."""

    def __init__(self, entry):
        self.entry = entry

    def __reduce__(self):
        return _record_unpickle, (self.entry,)


def _entry(n=3, size=16):
    rng = np.random.default_rng(0)
    return {"main_image": rng.random((size, size)), "xy_COM": rng.uniform(4, 12, (n, 2)), "Pxy": rng.normal(0, 20, (n, 2))}


def _write_frame(folder, name, image=None, xy=None, P=None, haadf=True, param=True, image_key="MainImage"):
    e = _entry()
    if haadf:
        with h5py.File(folder / f"{name}_HAADF.h5", "w") as f:
            f[image_key] = e["main_image"] if image is None else image
    if param:
        with h5py.File(folder / f"{name}_UCParameterization.h5", "w") as f:
            f["xy_COM"] = e["xy_COM"] if xy is None else xy
            f["Pxy"] = e["Pxy"] if P is None else P


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_per_frame_read_records_both_checksums(tmp_path):
    _write_frame(tmp_path, "BFO_7Sm_1")
    [frame] = bfo.read_manual_dir(tmp_path)
    assert frame.name == "BFO_7Sm_1" and frame.composition_sm == pytest.approx(0.07)
    assert frame.image.dtype == np.float32 and frame.image.shape == (16, 16)
    assert frame.xy.shape == frame.P_pm.shape == (3, 2)
    assert frame.source_files == ("BFO_7Sm_1_HAADF.h5", "BFO_7Sm_1_UCParameterization.h5")
    assert frame.sha256 == {n: _sha(tmp_path / n) for n in frame.source_files}
    assert bfo.sha256_of(tmp_path / frame.source_files[0]) == frame.sha256[frame.source_files[0]]


def test_transposed_pairs_are_accepted(tmp_path):
    xy, P = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), np.zeros((2, 3))
    _write_frame(tmp_path, "0Sm", xy=xy, P=P)
    [frame] = bfo.read_manual_dir(tmp_path)
    assert frame.xy.tolist() == xy.T.tolist() and frame.composition_sm == 0.0


@pytest.mark.parametrize("name, fraction", [("BFO_0Sm", 0.0), ("a_7Sm", 0.07), ("x10pSm", 0.10), ("Sm7_b", 0.07),
                                            ("s_7%Sm", 0.07), ("Sm_20", 0.20), ("q_12.5pct_Sm", 0.125),
                                            ("f3_Sm10", 0.10), ("BFO_7Sm_1", 0.07), ("7Sm_Sm10", None),
                                            ("a_7_Sm_2", None), ("frame_2_small", None), ("plain", None)])
def test_composition_from_names(name, fraction):
    assert bfo.composition_from_name(name) == (fraction if fraction is None else pytest.approx(fraction))


def test_composition_from_json_and_missing(tmp_path):
    _write_frame(tmp_path, "frame_a")
    _write_frame(tmp_path, "frame_b")
    with pytest.raises(ValueError, match=r"compositions\.json.*frame_a"):
        bfo.find_frames(tmp_path)
    (tmp_path / "compositions.json").write_text(json.dumps({"frame_a": 10, "frame_b": 0}))
    frames = bfo.find_frames(tmp_path)
    assert [(f.name, f.composition_sm) for f in frames] == [("frame_a", 0.1), ("frame_b", 0.0)]


def test_missing_partner_files_are_listed(tmp_path):
    _write_frame(tmp_path, "a_7Sm", param=False)
    _write_frame(tmp_path, "b_0Sm", haadf=False)
    with pytest.raises(FileNotFoundError) as info:
        bfo.read_manual_dir(tmp_path)
    assert "place a_7Sm_UCParameterization.h5 beside it" in str(info.value)
    assert "place b_0Sm_HAADF.h5 beside it" in str(info.value)


def test_missing_key_wrong_shape_and_all_nan_image(tmp_path):
    _write_frame(tmp_path, "k_7Sm", image_key="Image")
    with pytest.raises(ValueError, match=r"k_7Sm_HAADF\.h5: no dataset 'MainImage' \(has \['Image'\]\)"):
        bfo.read_manual_dir(tmp_path)
    for f in tmp_path.iterdir():
        f.unlink()
    _write_frame(tmp_path, "s_7Sm", xy=np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"xy_COM has shape \(3, 3\); expected \(N, 2\)"):
        bfo.read_manual_dir(tmp_path)
    _write_frame(tmp_path, "s_7Sm", P=np.zeros((4, 2)))
    with pytest.raises(ValueError, match="has 3 cells but .*Pxy has 4"):
        bfo.read_manual_dir(tmp_path)
    _write_frame(tmp_path, "s_7Sm", image=np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match=r"MainImage has shape \(2, 4, 4\); expected a 2-D"):
        bfo.read_manual_dir(tmp_path)
    _write_frame(tmp_path, "s_7Sm", image=np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="all NaN"):
        bfo.read_manual_dir(tmp_path)


def test_nan_pixels_kept_and_nan_polarization_rows_dropped(tmp_path):
    image = np.ones((8, 8))
    image[0, :3] = np.nan
    P = np.array([[1.0, 2.0], [np.nan, 0.0], [3.0, np.nan], [4.0, 5.0]])
    xy = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]])
    _write_frame(tmp_path, "n_7Sm", image=image, xy=xy, P=P)
    [frame] = bfo.read_manual_dir(tmp_path)
    assert frame.n_nan_pixels == 3 and frame.n_dropped_nan_P == 2
    assert frame.P_pm.tolist() == [[1.0, 2.0], [4.0, 5.0]] and frame.xy.tolist() == [[1.0, 1.0], [4.0, 4.0]]


def _save_series(path, trap=False):
    series = {0: _entry(), "7": _entry(4), "10%": _entry(5)}
    if trap:
        series[0] = _Trap(series[0])
    np.save(path, np.array(series, dtype=object), allow_pickle=True)
    return path


def test_series_read_with_the_right_checksum(tmp_path, monkeypatch):
    path = _save_series(tmp_path / bfo.SERIES_FILE)
    monkeypatch.setenv(bfo.SERIES_SHA256_ENV, _sha(path).upper())
    frames = bfo.read_manual_dir(tmp_path)
    assert [f.composition_sm for f in frames] == [0.0, 0.07, 0.1] and [len(f.xy) for f in frames] == [3, 4, 5]
    assert frames[1].name == "series_7Sm" and frames[1].sha256 == {bfo.SERIES_FILE: _sha(path)}


def test_wrong_checksum_is_refused_before_unpickling(tmp_path, monkeypatch):
    path = _save_series(tmp_path / bfo.SERIES_FILE, trap=True)
    UNPICKLED.clear()
    with pytest.raises(ValueError, match=f"SHA-256 {_sha(path)} does not match the expected {'0' * 64}.*not unpickled"):
        bfo.read_composition_series(path, "0" * 64)
    assert UNPICKLED == []
    calls = []
    monkeypatch.setattr(np, "load", lambda *a, **k: calls.append(a) or pytest.fail("np.load called"))
    with pytest.raises(ValueError, match="not unpickled"):
        bfo.read_manual_dir(tmp_path, series_sha256="ab" * 32)
    assert calls == [] and UNPICKLED == []
    monkeypatch.undo()
    bfo.read_composition_series(path, _sha(path))  # the control: the trap does fire when the file is loaded
    assert UNPICKLED == ["called"]


@pytest.mark.parametrize("checksum", [None, "", "  "])
def test_missing_checksum_is_refused(tmp_path, monkeypatch, checksum):
    monkeypatch.delenv(bfo.SERIES_SHA256_ENV, raising=False)
    path = _save_series(tmp_path / bfo.SERIES_FILE, trap=True)
    UNPICKLED.clear()
    with pytest.raises(ValueError, match=f"is a Python pickle.*{bfo.SERIES_SHA256_ENV}"):
        bfo.read_manual_dir(tmp_path, series_sha256=checksum)
    assert UNPICKLED == []


def test_series_entry_missing_key(tmp_path):
    path = tmp_path / bfo.SERIES_FILE
    np.save(path, np.array({7: {"main_image": np.ones((4, 4)), "xy_COM": np.zeros((1, 2))}}, dtype=object))
    with pytest.raises(ValueError, match=r"\[7\] lacks \['Pxy'\]"):
        bfo.read_composition_series(path, _sha(path))


def test_empty_manual_dir_gives_the_instructions(tmp_path):
    with pytest.raises(FileNotFoundError, match="Zenodo record 4876786") as info:
        bfo.read_manual_dir(tmp_path / "nowhere")
    assert "stem_bfo_polarization" in str(info.value) and bfo.SERIES_SHA256_ENV in str(info.value)


def test_nan_free_windows_counts():
    image = np.zeros((10, 10))
    image[5, 5] = np.nan
    centres = np.array([[2.0, 2.0],     # inside, clean
                        [5.4, 5.0],     # covers the NaN
                        [6.0, 4.0],     # columns 5..7, rows 3..5 -> covers row 5, column 5
                        [8.0, 2.0],     # clean, touches the right edge exactly (cols 7..9)
                        [9.0, 2.0],     # out of bounds on the right
                        [0.4, 5.0],     # rounds to 0 -> out of bounds on the left
                        [np.nan, 1.0]])  # non-finite centre -> out of bounds
    sel = bfo.nan_free_windows(image, centres, 3)
    assert sel.mask.tolist() == [True, False, False, True, False, False, False]
    assert (sel.n_dropped_nan, sel.n_dropped_out_of_bounds) == (2, 3)
    assert bfo.nan_free_windows(image, centres[:1], 4).mask.tolist() == [True]  # even side: cols/rows 0..3
    with pytest.raises(ValueError, match="positive integer"):
        bfo.nan_free_windows(image, centres, 0)


def test_bad_compositions_json_value(tmp_path):
    _write_frame(tmp_path, "frame_a")
    (tmp_path / "compositions.json").write_text(json.dumps({"frame_a": "seven"}))
    with pytest.raises(ValueError, match=r"compositions\.json: Sm content 'seven' is not a percentage"):
        bfo.find_frames(tmp_path)


def test_frames_are_read_only(tmp_path):
    _write_frame(tmp_path, "r_7Sm")
    [frame] = bfo.read_manual_dir(tmp_path)
    with pytest.raises(ValueError):
        frame.image[0, 0] = 1.0
    with pytest.raises(AttributeError):
        frame.name = "other"

"""The simulation cache at fsspec URLs: round trips, whole-or-nothing writes, and keys that name every setting."""

import pickle
import threading

import numpy as np
import pytest

from stem_datasets.simulation import simulate
from stem_datasets.simulation.cache import SimulationCache, cache_key, sha256_file
from stem_datasets.simulation.microscope import Microscope
from stem_datasets.simulation.simulate import CbedDetector, InterfaceScan, simulate_4dstem, simulate_stem
from stem_datasets.physics.structures import lao_sto_interface, tilted_perovskite


def test_memory_url_round_trip_json_delete_and_pickle():
    cache = SimulationCache("memory://stem-zoo-tests/round-trip")
    key = cache_key({"test": "round trip"})
    assert cache.get(key) is None and cache.misses == 1
    cache.put(key, {"x": np.arange(5.0), "name": np.array("a-b-c-")})
    stored = cache.get(key)
    assert stored["x"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] and str(stored["name"]) == "a-b-c-" and cache.hits == 1
    cache.put_json(key, {"nmse": [1e-3, 2.5e-4], "kernel": "Matern"})
    assert cache.get_json(key) == {"nmse": [1e-3, 2.5e-4], "kernel": "Matern"}
    again = pickle.loads(pickle.dumps(cache))  # what a Beam worker receives: the URL, the same entries
    assert again.url == cache.url and again.get_json(key)["kernel"] == "Matern"
    cache.delete(key)
    assert cache.get(key) is None
    with pytest.raises(ValueError, match="not a local folder"):
        cache.directory  # noqa: B018


def test_plain_path_keeps_the_layout_older_entries_have(tmp_path):
    key = cache_key({"test": "layout"})
    folder = tmp_path / key[:2]
    folder.mkdir()
    np.savez(folder / f"{key}.npz", x=np.arange(3))  # an entry as the old cache wrote it
    (folder / f"{key}.sha256").write_text(sha256_file(folder / f"{key}.npz") + "\n")
    cache = SimulationCache(tmp_path)
    assert cache.directory == tmp_path and cache.get(key)["x"].tolist() == [0, 1, 2]
    assert SimulationCache(f"file://{tmp_path}").get(key)["x"].tolist() == [0, 1, 2]
    other = cache_key({"test": "layout", "n": 2})
    cache.put(other, {"y": np.ones(2)})
    record = tmp_path / other[:2] / f"{other}.sha256"
    digest = record.read_text().strip()
    assert sha256_file(tmp_path / other[:2] / f"{other}.{digest[:16]}.npz") == digest


def test_a_failed_write_leaves_nothing_and_nothing_is_pickled(tmp_path):
    cache = SimulationCache(f"file://{tmp_path}")
    key = cache_key({"test": "object array"})
    with pytest.raises(ValueError, match="allow_pickle"):
        cache.put(key, {"x": np.array([{"a": 1}], dtype=object)})
    assert cache.get(key) is None and not list(tmp_path.rglob("*"))[1:] and not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("url", ["file://{tmp}", "memory://stem-zoo-tests/race"])
def test_two_writers_of_one_key_never_leave_a_torn_entry(tmp_path, url):
    cache = SimulationCache(url.format(tmp=tmp_path))
    key = cache_key({"test": "race", "url": url})
    versions = [np.full(200_000, 1.0), np.arange(300_000.0)]  # different sizes: a torn mix would show

    def write(values):
        writer = SimulationCache(cache.url)
        for _ in range(40):
            writer.put(key, {"x": values})

    threads = [threading.Thread(target=write, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    seen = 0
    while any(thread.is_alive() for thread in threads):
        stored = cache.get(key)
        if stored is not None:  # never a mix of the two writes
            assert any(np.array_equal(stored["x"], v) for v in versions)
            seen += 1
    for thread in threads:
        thread.join()
    final = cache.get(key)  # whichever wrote its record last: a whole entry
    assert seen > 0 and any(np.array_equal(final["x"], v) for v in versions)
    if url.startswith("file"):
        assert not list(tmp_path.rglob("*.tmp"))


def _counting_fake(monkeypatch, name, result):
    calls = []

    def fake(*args, **kwargs):
        calls.append(args)
        return result(*args)

    monkeypatch.setattr(simulate, name, fake)
    return calls


def test_stem_keys_name_the_abtem_version_and_every_setting(monkeypatch):
    def fake_multislice(slab, layers, origin, period, microscope, haadf, bins):
        return np.zeros((len(layers), 4, 3, bins), np.float32), np.zeros((len(layers), 4, 3), np.float32)

    calls = _counting_fake(monkeypatch, "_run_multislice", fake_multislice)
    cache = SimulationCache("memory://stem-zoo-tests/stem-keys")
    structure = tilted_perovskite((0.0, 0.0, 4.0), "a0a0c-")
    microscope = Microscope(potential_sampling=0.1, scan_step=0.5, frozen_phonons=0, haadf_detector=(50, 80))
    run = lambda m=microscope: simulate_stem(structure, [1.1], m, cache)  # noqa: E731
    run(), run()
    assert len(calls) == 1  # the second run is a hit
    run(microscope.replace(potential_sampling=0.09))
    run(microscope.replace(frozen_phonons=2))
    assert len(calls) == 3
    monkeypatch.setattr(simulate, "POTENTIAL", {**simulate.POTENTIAL, "parametrization": "kirkland"})
    run()
    monkeypatch.setattr(simulate, "POTENTIAL", {**simulate.POTENTIAL, "projection": "finite"})
    run()
    monkeypatch.setattr(simulate, "SLICES_PER_LAYER", 2)
    run()
    monkeypatch.setattr(simulate, "_abtem_version", lambda: "99.0")
    run()
    assert len(calls) == 7


def test_cbed_keys_name_the_abtem_version_and_the_potential(monkeypatch):
    def fake_4dstem(structure, exit_slices, xs, ys, microscope, detector):
        return (np.zeros((len(exit_slices), len(ys), len(xs), detector.pixels, detector.pixels), np.float32),
                np.zeros((len(exit_slices), len(ys), len(xs)), np.float32), 1.0)

    calls = _counting_fake(monkeypatch, "_run_4dstem", fake_4dstem)
    cache = SimulationCache("memory://stem-zoo-tests/cbed-keys")
    structure = lao_sto_interface(3.905)
    run = lambda: simulate_4dstem(structure, [3.905], Microscope(semiangle=20, potential_sampling=0.2, frozen_phonons=0),  # noqa: E731
                                  InterfaceScan(2, 1), CbedDetector(8, 1), cache)
    run(), run()
    assert len(calls) == 1
    monkeypatch.setattr(simulate, "POTENTIAL", {**simulate.POTENTIAL, "parametrization": "kirkland"})
    run()
    monkeypatch.setattr(simulate, "_abtem_version", lambda: "99.0")
    run()
    assert len(calls) == 3

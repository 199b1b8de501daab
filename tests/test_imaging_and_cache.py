import numpy as np
import pytest

from stem_datasets.simulation.cache import SimulationCache, cache_key
from stem_datasets.simulation.imaging import resample_periodic


def test_resample_is_exact_for_band_limited_images_and_tiles():
    y, x = np.mgrid[0:10, 0:8]
    period = 1 + 0.3 * np.cos(2 * np.pi * 2 * x / 8) * np.sin(2 * np.pi * y / 10)
    out = resample_periodic(period, (4.0, 5.0), 0.25, (60, 50))
    yy, xx = np.mgrid[0:60, 0:50] * 0.25
    expected = 1 + 0.3 * np.cos(2 * np.pi * 2 * xx / 4.0) * np.sin(2 * np.pi * yy / 5.0)
    np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize("image, message", [(np.zeros(5), "2-D"), (np.full((4, 4), np.nan), "NaN")])
def test_resample_bad_input(image, message):
    with pytest.raises(ValueError, match=message):
        resample_periodic(image, (1.0, 1.0), 0.1, (4, 4))


def test_cache_round_trip_checksum_and_key(tmp_path):
    cache = SimulationCache(tmp_path)
    key = cache_key({"a": 1, "b": [1.0, 2.0]})
    assert key == cache_key({"b": [1.0, 2.0], "a": 1}) != cache_key({"a": 2, "b": [1.0, 2.0]})
    assert cache.get(key) is None and cache.misses == 1
    cache.put(key, {"x": np.arange(4.0)})
    assert cache.get(key)["x"].tolist() == [0.0, 1.0, 2.0, 3.0] and cache.hits == 1
    (data,) = tmp_path.rglob("*.npz")
    data.write_bytes(data.read_bytes()[:-3] + b"xyz")
    assert cache.get(key) is None  # fails its checksum: treated as missing
    assert not list(tmp_path.rglob("*.tmp"))

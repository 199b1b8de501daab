"""The smoke build of stem_cbed_interface: splits, labels, class balance, no leakage of structures."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

import stem_datasets  # noqa: F401


pytestmark = pytest.mark.slow  # the full tier only: each test needs the stem_cbed_interface smoke build


def _examples(data_dir, split):
    ds = tfds.load("stem_cbed_interface/smoke", split=split, data_dir=data_dir)
    return list(tfds.as_numpy(ds))


def test_smoke_splits_labels_and_no_shared_runs(smoke_build):
    cbed_smoke_data_dir = smoke_build("stem_cbed_interface")
    splits = {s: _examples(cbed_smoke_data_dir, s) for s in ("train", "validation", "test", "test_unseen_thickness")}
    stacks = {s: {e["cbed"].tobytes() for e in ex} for s, ex in splits.items()}
    assert not (stacks["train"] & stacks["validation"]) and not (stacks["train"] & stacks["test"])  # disjoint runs
    # structures, not only phonon seeds, differ: no (class, step, thickness, defocus) of train recurs elsewhere
    identity = lambda e: (int(e["interface"]), int(e["step_position"]), float(e["thickness_angstrom"]),  # noqa: E731
                          float(e["defocus_angstrom"]))
    train = {identity(e) for e in splits["train"]}
    assert not any(identity(e) in train for s in ("validation", "test") for e in splits[s])
    for split, examples in splits.items():
        interface = np.array([e["interface"] for e in examples])
        step = np.array([e["step_position"] for e in examples])
        rough, mixed, abrupt = (interface == k for k in range(3))
        assert rough.sum() > 0 and mixed.sum() > 0 and abrupt.sum() > 0, split
        assert set(step[rough]) == set(range(1, 10)) and set(step[mixed | abrupt]) == {-1}
        fraction = np.array([e["intermix_fraction"] for e in examples])
        assert np.all((fraction[mixed] >= 0.1 - 0.02) & (fraction[mixed] <= 0.5 + 0.02)) and np.all(fraction[abrupt] == 0)
        assert len({float(e["defocus_angstrom"]) for e in examples}) > 3  # nuisance varies per structure
        for e in examples[:5]:
            assert e["cbed"].shape == (8, 32, 32) and np.isfinite(e["cbed"]).all() and e["cbed"].min() >= 0
            assert e["adf"].shape == (4, 19) and e["adf"].max() > 0
        # every run registered to the lattice from its noisy ADF (the drawn offsets reach 0.3 A in x, a cell in y;
        # in 3-6 nm slabs the fit is off by a median 0.05 A, up to 0.2 A: the card)
        errors = np.abs(np.array([e["registration_error_angstrom"] for e in examples]))
        assert np.median(errors) < 0.1 and errors.max() < 0.3, (split, np.median(errors, axis=0), errors.max(axis=0))
        assert {int(e["line_position"]) for e in examples} == set(range(4))
        offsets = np.array([e["scan_offset_x_angstrom"] for e in examples])
        assert np.ptp(offsets) > 0.2  # the raw scans did land off the lattice
    seen = {float(e["thickness_class_angstrom"]) for e in splits["train"]}
    unseen = {float(e["thickness_class_angstrom"]) for e in splits["test_unseen_thickness"]}
    assert len(seen) == 2 and len(unseen) == 1 and not seen & unseen
    seen_t = {float(e["thickness_angstrom"]) for e in splits["train"]}
    assert len(seen_t) > 2 and not seen_t & {float(e["thickness_angstrom"]) for e in splits["test_unseen_thickness"]}
    # the cell average is the mean of the run's lines
    run = splits["train"][0]["simulation"]
    lines = [e for e in splits["train"] if e["simulation"] == run
             and e["thickness_angstrom"] == splits["train"][0]["thickness_angstrom"]]
    np.testing.assert_allclose(np.mean([e["cbed"] for e in lines], axis=0), lines[0]["cbed_cell_average"], rtol=1e-5, atol=1e-8)


def test_same_config_gives_the_same_dataset(smoke_build, tmp_path):
    """A second build (from the shared multislice cache) is example-for-example identical."""
    cbed_smoke_data_dir = smoke_build("stem_cbed_interface")
    again = tfds.builder("stem_cbed_interface/smoke", data_dir=tmp_path)
    again.download_and_prepare()
    first = sorted((e["simulation"], int(e["line_position"]), e["cbed"].tobytes())
                   for e in _examples(cbed_smoke_data_dir, "validation"))
    second = sorted((e["simulation"], int(e["line_position"]), e["cbed"].tobytes())
                    for e in tfds.as_numpy(again.as_dataset(split="validation")))
    assert first == second

"""The paper-scale (``full``) code path on Apache Beam: DirectRunner, 2 worker processes, a shared file:// cache.

``FULL_TINY`` is ``stem_abf_tilt/full`` with smaller numbers only (same functions, ``use_beam``,
frozen phonons): one pattern, 14 multislice runs of a few seconds. The examples must equal the
non-Beam build's (same identities, pixel values within ``ATOL``), every run and the GP be computed
once (Beam counters across both workers), and the GP validation be in the metadata.
"""

import dataclasses

import apache_beam  # noqa: F401  (the test extra installs Beam: this test must run, never skip)
import numpy as np
import pytest
import tensorflow_datasets as tfds
from apache_beam.options.pipeline_options import PipelineOptions

import stem_datasets  # noqa: F401
from stem_datasets.builders.stem_abf_tilt import recipe as abf_tilt
from stem_datasets.builders.stem_abf_tilt.design import planned_runs
from stem_datasets.simulation.cache import SimulationCache
from stem_datasets.pipeline.offline import RecipeConfig
from stem_datasets.pipeline.recipe import COUNTS

pytestmark = pytest.mark.slow  # the full tier only: two Beam workers build the full code path (about a minute)


FULL = abf_tilt.get_recipe("full")
FULL_TINY = dataclasses.replace(
    FULL, name="full_tiny", patterns=FULL.patterns[:1],
    microscope=FULL.microscope.replace(potential_sampling=0.1, scan_step=0.5, frozen_phonons=1),
    layers=(2, 5), held_out_layers=(4,), beyond_layers=(6,), design_sobol=2, n_optics_runs=1, n_test_runs=1,
    n_unseen_material_runs=1, n_imperfect_runs=1, gp_train_angles=12, gp_eval_angles=4, gp_restarts=1,
    examples_per_angle=2, eval_examples_per_angle=1,
)
ATOL = 1e-6  # the same cached simulations and GP on both paths: equal up to float32 rounding


def _identity(example) -> tuple:
    # raw_angles: the design's mirror-twin corners share a label (3.0.0); dose: every eval example comes at three doses
    return (int(example["source"]), example["pattern"], example["composition"], float(example["thickness_nm"]),
            float(example["abf_inner_mrad"]), float(example["defocus_A"]), float(example["dose"]),
            *example["angles"].tolist(), *example["raw_angles"].tolist())


def _build(recipe, data_dir, **download):
    builder = tfds.builder("stem_abf_tilt", config=RecipeConfig(recipe), data_dir=data_dir)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(**download))
    examples = {split: sorted(tfds.as_numpy(builder.as_dataset(split=split)), key=_identity) for split in builder.info.splits}
    return builder, examples


def test_full_path_on_two_beam_workers_equals_the_sequential_build(tmp_path, monkeypatch):
    url = f"file://{tmp_path / 'shared-cache'}"
    monkeypatch.setenv("STEM_ZOO_CACHE", url)
    options = PipelineOptions(direct_num_workers=2, direct_running_mode="multi_processing")
    beam, beam_examples = _build(FULL_TINY, tmp_path / "beam", beam_options=options)

    # Every multislice run and the one GP per pattern were computed exactly once over both workers.
    assert beam.beam_counters == {"multislice_runs": len(planned_runs(FULL_TINY)), "gp_fits": len(FULL_TINY.patterns)}
    cache = SimulationCache(url)
    assert all(cache.get(abf_tilt.surrogate_key(FULL_TINY, p)) is not None for p in FULL_TINY.patterns)

    before = dict(COUNTS)
    sequential, examples = _build(dataclasses.replace(FULL_TINY, use_beam=False), tmp_path / "sequential")
    assert COUNTS == before  # the sequential build found every run and the GP in the shared cache

    assert set(beam_examples) == set(abf_tilt.SPLITS) == set(examples)
    for split, expected in examples.items():
        got = beam_examples[split]
        assert len(got) == len(expected) > 0, split
        assert [_identity(e) for e in got] == [_identity(e) for e in expected], split
        assert len({_identity(e) for e in got}) == len(got), split
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a["image"], b["image"], rtol=0, atol=ATOL)
            assert float(a["gp_std"]) == float(b["gp_std"])

    validation = beam.info.metadata["gp_validation"]
    assert validation == sequential.info.metadata["gp_validation"]
    numbers = validation[FULL_TINY.patterns[0]]
    assert numbers["n_design"] == 10 and len(numbers["nmse_median"]) == len(FULL_TINY.train_layers())
    assert np.median(numbers["nmse_median"]) < np.median(numbers["nearest_design_nmse_median"])
    reloaded = tfds.builder("stem_abf_tilt", config=RecipeConfig(FULL_TINY), data_dir=tmp_path / "beam")
    assert reloaded.info.metadata["gp_validation"] == validation  # written to the dataset's metadata

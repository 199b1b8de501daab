"""The shipped polarization models on fields outside every draw of their dataset (real PRISM images).

- The project's hold-out, :func:`stem_datasets.builders.stem_bfo_polarization.recipe.holdout_field`: R3c
  BiFeO3 as refined, 4% Sm (no split holds it), a 109 deg wall with fixed variants, exactly on zone, a
  rotated, drifting scan, 8 x 8 cells; here 11.9 nm thick, the thickest the dataset holds (issue 27: |P|
  ratio 0.9-1.1 at every thickness; ``bench/bench_polarization_holdout.py`` reads 2.4 and 7.1 nm too).
- The independent hold-out, :mod:`stem_zoo.tasks.polarization.holdout`: a displaced-cation structure built
  with ASE and numpy alone (no tilts, O on the cubic face centres), optics outside every draw; here 8 x 8
  cells at 2.4 nm and 2e5 e-/A^2 (issue 27's goals: RMSE <= 5 pm per component, |P| ratio 0.9-1.1; the ratio is a strict
  xfail: the O sublattice sets how far the images move).
"""

import pytest

from stem_datasets.builders.stem_bfo_polarization.recipe import holdout_field
from stem_zoo.tasks.polarization import holdout

pytestmark = pytest.mark.slow  # the full tier only: PRISM simulations of hold-out BiFeO3 fields (about six minutes)


@pytest.fixture(scope="module")
def thick_field(simulation_cache_dir):
    from stem_datasets.simulation.cache import SimulationCache

    return holdout_field(layers=15, cache=SimulationCache(simulation_cache_dir))


RMSE_LIMIT = {"polarization_dcnn": 6.0,  # v0.3.0 reads 3.8 / 3.1 and 4.0 / 2.4 pm (left / right)
              "polarization_dcnn_grid": 9.0}  # v0.2.0 (trained on 1.3.0) reads 3.3 / 4.1 and 7.4 / 4.8 pm


@pytest.mark.parametrize("model_id", ["polarization_dcnn", "polarization_dcnn_grid"])
def test_shipped_models_read_both_domains_of_the_thickest_project_field(thick_field, model_id):
    from stem_zoo import predict_polarization

    result = predict_polarization(thick_field["image"], model_id, pixel_size=thick_field["pixel_size"])
    scores = holdout.score(thick_field, result)
    assert set(scores) == {"left", "right"} and min(s["n"] for s in scores.values()) >= 8, scores
    for domain in scores.values():
        assert 0.9 <= domain["magnitude_ratio"] <= 1.1, scores
        assert max(domain["rmse_pm"]) <= RMSE_LIMIT[model_id], scores


# The independent field's O sit on the cubic face centres, so its Fe columns' image moves 0.93x as far as R3c's for the
# same Fe shift at 2.4 nm (bench/bench_bfo_o_gain.py, model-free fits of multislice images): a model that reads R3c
# right reads this field about that much low.
CUBIC_O_IMAGE_GAIN_2_4_NM = 1.006 / 1.077


@pytest.fixture(scope="module")
def independent_field(simulation_cache_dir):
    from stem_datasets.simulation.cache import SimulationCache

    return holdout.holdout_field(2.4, 2e5, cells=8, cache=SimulationCache(simulation_cache_dir))


def _independent_scores(field):
    from stem_zoo import predict_polarization

    scores = holdout.score(field, predict_polarization(field["image"], pixel_size=field["pixel_size"]))
    assert set(scores) == {"left", "right"} and min(s["n"] for s in scores.values()) >= 8, scores
    return scores


def test_polarization_dcnn_reads_the_independent_holdout_at_2_4_nm_as_its_images_allow(independent_field):
    for domain in _independent_scores(independent_field).values():
        assert max(domain["rmse_pm"]) <= 5.0 and domain["angle_error_deg"] < 10.0, domain
        assert abs(domain["magnitude_ratio"] - CUBIC_O_IMAGE_GAIN_2_4_NM) <= 0.1, domain


@pytest.mark.xfail(strict=True, reason="issue 27's |P| goal (0.9-1.1) on the cubic-O field: v0.3.0 reads 0.85 / 0.92 "
                                       "(left / right); its images show 0.93x of R3c's shift")
def test_polarization_dcnn_meets_issue_27s_ratio_goal_on_the_independent_holdout_at_2_4_nm(independent_field):
    for domain in _independent_scores(independent_field).values():
        assert 0.9 <= domain["magnitude_ratio"] <= 1.1, domain

"""The MLE baseline against the Cramer-Rao bound on GP-made crops (issue 23's goal: within 2x, shift + magnification unknown).

Needs the config's GP of one pattern: its design runs are simulated (and cached) on first use, about 28 runs of
20-80 s each for ``small`` on 2 cores, then the GP fit (seconds). Prints the crop model's bound at the reference point
of ``shared notes: what-abf-determines.md`` (a-b-c- at (6, 4, 3) deg, 8.8 nm, 1e4 e/A^2) beside the reference, then
fits ``--crops`` GP-made test crops (test labels, random thickness, Poisson noise at ``--dose``) and prints RMSE, RMS
bound and their ratio per quantity, and the seconds per crop.

    python bench/tilt_mle_vs_crb.py --config small --pattern a-b-c- --crops 24
"""

import argparse
import json

import numpy as np

from stem_datasets.builders.stem_abf_tilt.recipe import get_recipe, gp_labels
from stem_datasets.physics.glazer import canonical_angles
from stem_datasets.simulation.imaging import poisson_image
from stem_datasets.builders.stem_abf_tilt.limits import COMBINATIONS
from stem_datasets.builders.stem_abf_tilt.mle import QUANTITIES, CropModel, crop_crb, fit_crop
from stem_zoo.tasks.tilt.metrics import align_to_orbit

REFERENCE = {  # a-b-c- (6, 4, 3), 8.8 nm, 1e4 e/A^2: independent finite-difference multislice (shared notes)
    (): (0.20, 0.23, 0.31, 0.29, 0.32),
    ("thickness",): (0.20, 0.24, 0.32, 0.30, 0.32),  # the reference also had defocus unknown
    ("thickness", "shift", "magnification"): (0.28, 0.29, 0.39, 0.46, 0.33),
}
MATRIX = np.array(list(COMBINATIONS.values())).T  # (3, quantity)

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--config", default="small")
parser.add_argument("--pattern", default="a-b-c-")
parser.add_argument("--crops", type=int, default=24)
parser.add_argument("--dose", type=float, default=1e4)
args = parser.parse_args()

recipe = get_recipe(args.config)
model = CropModel.of(recipe, args.pattern)
if args.pattern == "a-b-c-":
    layer = int(np.argmin(np.abs(model.thicknesses_nm - 8.8)))
    print(f"bound at (6, 4, 3) deg, {model.thicknesses_nm[layer]} nm, 1e4 e/A^2 [deg]: {', '.join(QUANTITIES)}")
    for nuisance, reference in REFERENCE.items():
        bound = crop_crb(model, (6.0, 4.0, 3.0), layer, 1e4, nuisance)
        ratio = [bound[q] / r for q, r in zip(QUANTITIES, reference)]
        print(f"  {nuisance or 'none'}: {[round(bound[q], 3) for q in QUANTITIES]} reference {list(reference)} "
              f"ratio {np.round(ratio, 2).tolist()}")

rng = np.random.default_rng(0)
errors, bounds, seconds = [], [], []
for angles in gp_labels(recipe, args.pattern, "test")[: args.crops]:
    layer = int(rng.integers(model.n_layers))
    crop = poisson_image(model.image(angles, layer), args.dose, recipe.pixel_size, rng)
    fit = fit_crop(model, crop, args.dose)
    truth = np.array([canonical_angles(angles, args.pattern)])
    aligned = align_to_orbit(truth, np.array([fit.angles]), [args.pattern])
    errors.append(((aligned - truth) @ MATRIX)[0])
    bound = crop_crb(model, angles, layer, args.dose, ("thickness", "shift", "magnification"))
    bounds.append([bound[q] for q in QUANTITIES])
    seconds.append(fit.seconds)
rmse, rms_bound = np.sqrt(np.mean(np.square(errors), 0)), np.sqrt(np.mean(np.square(bounds), 0))
print(f"MLE on {len(errors)} GP-made {args.pattern} test crops of {args.config} at {args.dose:g} e/A^2 "
      f"(thickness, shift, x/y magnification free): {', '.join(QUANTITIES)}")
print(json.dumps({"rmse_deg": rmse.round(3).tolist(), "rms_crb_deg": rms_bound.round(3).tolist(),
                  "rmse_over_crb": (rmse / rms_bound).round(2).tolist(), "seconds_per_crop": round(float(np.mean(seconds)), 2)}))

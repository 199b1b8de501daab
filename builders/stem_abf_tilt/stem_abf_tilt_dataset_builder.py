"""TFDS builder for ``stem_abf_tilt``: simulated ABF STEM images labelled by octahedral tilts.

Example:
    >>> import stem_datasets, tensorflow_datasets as tfds
    >>> ds = tfds.load("stem_abf_tilt/smoke", split="train", as_supervised=True)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from stem_datasets.builders.stem_abf_tilt import recipe as abf_tilt
from stem_datasets.pipeline.offline import RecipeBuilder, configs


class Builder(RecipeBuilder, tfds.core.GeneratorBasedBuilder):
    """Multislice ABF images on a space-filling tilt design, expanded by a GP surrogate, plus optics runs."""

    VERSION = tfds.core.Version("3.0.0")
    RELEASE_NOTES = {
        "1.0.0": "First release: multislice (abTEM) + GP surrogate, six splits.",
        "2.0.0": "Thickness as a continuum (an exit plane every layer, 2.2-20.4 nm in small), the four Glazer patterns "
                 "of the tilt paper, imaging conditions (defocus, astigmatism, mistilt, convergence and ABF angles) in "
                 "training, one GP per pattern over every thickness on a space-filling design, test labels off every "
                 "grid, new split test_unseen_thickness, images with normalization context (128 x 144 px), "
                 "optics features per example.",
        "3.0.0": "Canonical labels: the [1-10] mirror makes (alpha, beta, gamma) and (-beta, -alpha, -gamma) one image, so "
                 "`angles` is the canonical triple of each orbit (alpha + beta >= 0, then gamma >= 0, then beta - alpha >= 0 "
                 "where the mirror keeps the pattern; a-b+c- keeps its shift rule), splits are hashed on it (mirror twins "
                 "share a split); new features raw_angles (the simulated structure's), determinable (beta - alpha, "
                 "|alpha + beta|, |gamma|, sign of gamma (alpha + beta)), dose and clean_image: every split but train holds "
                 "each example at 1e3, 1e4 and 1e5 e/A^2 (Poisson, seeded per example); CaTiO3 keeps its tabulated "
                 "(tilted Pbnm) volume per formula unit instead of shrinking it again with the tilts; train's optics runs "
                 "are re-drawn where the new hashing moved their labels.",
    }
    BUILDER_CONFIGS = configs(abf_tilt.RECIPES)

    def _info(self) -> tfds.core.DatasetInfo:
        recipe = self.builder_config.recipe
        features = tfds.features.FeaturesDict({
            "image": tfds.features.Tensor(
                shape=(*recipe.image_shape, 1), dtype=np.float32, encoding=tfds.features.Encoding.ZLIB,
                doc="ABF intensity (fraction of the incident probe), rows [001], columns [110].",
            ),
            "clean_image": tfds.features.Tensor(
                shape=(*recipe.image_shape, 1), dtype=np.float32, encoding=tfds.features.Encoding.ZLIB,
                doc="The noise-free image (equal to image where dose is 0).",
            ),
            "dose": tfds.features.Scalar(dtype=np.float32, doc="Electron dose [e/A^2] of image's Poisson noise; 0: noise-free."),
            "angles": tfds.features.Tensor(shape=(3,), dtype=np.float32,
                                           doc="alpha, beta, gamma [deg], canonical (metadata label_rule)."),
            "raw_angles": tfds.features.Tensor(shape=(3,), dtype=np.float32,
                                               doc="alpha, beta, gamma [deg] of the simulated structure (one of the orbit)."),
            "determinable": tfds.features.Tensor(
                shape=(4,), dtype=np.float32,
                doc="alpha + beta, beta - alpha, |gamma| [deg] and sign(gamma (alpha + beta)) of the canonical triple "
                    "(metadata determinable).",
            ),
            "pattern": tfds.features.Text(doc="Glazer tilt pattern."),
            "thickness_nm": tfds.features.Scalar(dtype=np.float32, doc="Specimen thickness along the beam [nm]."),
            "composition": tfds.features.Text(),
            "source": tfds.features.ClassLabel(names=["multislice", "gp"]),
            "gp_std": tfds.features.Scalar(dtype=np.float32, doc="RMS GP posterior std over pixels (0 for multislice)."),
            "defocus_A": tfds.features.Scalar(dtype=np.float32, doc="Probe defocus [A] (positive: underfocus)."),
            "astigmatism_A": tfds.features.Scalar(dtype=np.float32, doc="Two-fold astigmatism C12 [A]."),
            "mistilt_mrad": tfds.features.Scalar(dtype=np.float32, doc="Beam tilt off the zone axis [mrad]."),
            "semiangle_mrad": tfds.features.Scalar(dtype=np.float32, doc="Probe convergence semi-angle [mrad]."),
            "abf_inner_mrad": tfds.features.Scalar(dtype=np.float32, doc="ABF detector inner angle [mrad]."),
            "abf_outer_mrad": tfds.features.Scalar(dtype=np.float32, doc="ABF detector outer angle [mrad]."),
        })
        return self.recipe_info(features, supervised_keys=("image", "angles"))

    def _metadata(self) -> dict:
        meta = super()._metadata()
        meta["reference_column_angstrom"] = (
            "B column at (a/(2 sqrt2), a/2) from the crop's top-left corner; the crop starts crop_margin_px into the image"
        )
        meta["label_convention"] = ("angles of the octahedron on the reference B column; canonical under the shift and the "
                                    "[1-10] mirror (label_rule per pattern; stem_datasets.physics.glazer.canonical_angles)")
        return meta  # RecipeBuilder adds gp_validation (the recipe's summaries: GP against held-out multislice)

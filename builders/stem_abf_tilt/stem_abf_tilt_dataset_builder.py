"""TFDS builder for ``stem_abf_tilt``: simulated ABF STEM images labelled by octahedral tilts.

Example:
    >>> import stem_datasets, tensorflow_datasets as tfds
    >>> ds = tfds.load("stem_abf_tilt/smoke", split="train", as_supervised=True)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from stem_datasets import abf_tilt
from stem_datasets.abf_tilt_design import planned_runs
from stem_datasets.cache import SimulationCache
from stem_datasets.offline import OfflineBuilder

_CITATION_FILE = "CITATIONS.bib"


class StemAbfTiltConfig(tfds.core.BuilderConfig):
    """A config is a named :class:`stem_datasets.abf_tilt.AbfTiltRecipe`."""

    def __init__(self, recipe: abf_tilt.AbfTiltRecipe):
        super().__init__(name=recipe.name, description=recipe.description)
        self.recipe = recipe


class Builder(OfflineBuilder, tfds.core.GeneratorBasedBuilder):
    """Multislice ABF images on a space-filling tilt design, expanded by a GP surrogate, plus optics runs."""

    name = "stem_abf_tilt"
    pkg_dir_path = epath.Path(__file__).parent  # README, CITATIONS.bib, TAGS.txt live here
    VERSION = tfds.core.Version("2.0.0")
    RELEASE_NOTES = {
        "1.0.0": "First release: multislice (abTEM) + GP surrogate, six splits.",
        "2.0.0": "Thickness as a continuum (an exit plane every layer, 2.2-20.4 nm in small), the four Glazer patterns "
                 "of the tilt paper, imaging conditions (defocus, astigmatism, mistilt, convergence and ABF angles) in "
                 "training, one GP per pattern over every thickness on a space-filling design, test labels off every "
                 "grid, new split test_unseen_thickness, images with normalization context (128 x 144 px), "
                 "optics features per example.",
    }
    BUILDER_CONFIGS = [StemAbfTiltConfig(r) for r in abf_tilt.RECIPES.values()]

    def _info(self) -> tfds.core.DatasetInfo:
        recipe = self.builder_config.recipe
        features = tfds.features.FeaturesDict({
            "image": tfds.features.Tensor(
                shape=(*recipe.image_shape, 1), dtype=np.float32, encoding=tfds.features.Encoding.ZLIB,
                doc="ABF intensity (fraction of the incident probe), rows [001], columns [110].",
            ),
            "angles": tfds.features.Tensor(shape=(3,), dtype=np.float32, doc="alpha, beta, gamma [deg], canonical."),
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
        return self.dataset_info_from_configs(
            features=features,
            supervised_keys=("image", "angles"),
            homepage="https://github.com/stem-zoo/stem-zoo",
            metadata=tfds.core.MetadataDict(),
            license="CC-BY-4.0",
        )

    def _split_generators(self, dl_manager):
        recipe = self.builder_config.recipe
        cache = SimulationCache()
        meta = self.info.metadata
        meta["pixel_size_angstrom"] = recipe.pixel_size
        meta["image_shape"] = list(recipe.image_shape)
        meta["crop_shape"] = list(recipe.crop_shape())
        meta["crop_margin_px"] = list(abf_tilt.margin_px(recipe))
        meta["reference_column_angstrom"] = (
            "B column at (a/(2 sqrt2), a/2) from the crop's top-left corner; the crop starts crop_margin_px into the image"
        )
        meta["label_convention"] = (
            "angles of the octahedron on the reference B column; canonical: first in-phase a/b angle >= 0"
        )
        meta["microscope"] = recipe.microscope.to_dict()
        meta["patterns"] = list(recipe.patterns)
        meta["train_thicknesses_nm"] = list(recipe.thicknesses_nm)
        meta["unseen_thicknesses_nm"] = [recipe.thickness_nm(n) for n in (*recipe.held_out_layers, *recipe.beyond_layers)]
        meta["tilt_limit_deg"] = recipe.tilt_limit_deg
        meta["label_step_deg"] = recipe.label_step_deg
        meta["optics_ranges"] = dataclasses.asdict(recipe.optics)
        meta["runs"] = [
            {"purpose": r.purpose, "pattern": r.pattern, "angles": list(r.angles), "composition": r.composition,
             "defocus_A": r.microscope.defocus, "C12_A": r.microscope.C12, "phi12": r.microscope.phi12,
             "mistilt_mrad": list(r.microscope.mistilt), "semiangle_mrad": r.microscope.semiangle}
            for r in planned_runs(recipe)
        ]
        meta["license"] = "CC-BY-4.0"
        if not recipe.use_beam:
            meta["gp_validation"] = abf_tilt.validate_surrogate(recipe, cache)
        return {split: self._generate_examples(split) for split in abf_tilt.SPLITS}

    def _generate_examples(self, split: str):
        recipe = self.builder_config.recipe
        cache_dir = str(SimulationCache().directory)
        if recipe.use_beam:
            beam = tfds.core.lazy_imports.apache_beam
            return (
                f"{split}_units" >> beam.Create(abf_tilt.units(recipe))
                | f"{split}_generate" >> beam.FlatMap(
                    lambda unit: abf_tilt.generate_unit(recipe, split, unit, SimulationCache(cache_dir))
                )
            )
        return abf_tilt.generate_examples(recipe, split, SimulationCache(cache_dir))

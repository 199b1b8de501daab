"""TFDS builder for ``stem_abf_tilt``: simulated ABF STEM images labelled by octahedral tilts.

Example:
    >>> import stem_datasets, tensorflow_datasets as tfds
    >>> ds = tfds.load("stem_abf_tilt/smoke", split="train", as_supervised=True)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from stem_datasets import abf_tilt
from stem_datasets.cache import SimulationCache
from stem_datasets.offline import OfflineBuilder

_CITATION_FILE = "CITATIONS.bib"


class StemAbfTiltConfig(tfds.core.BuilderConfig):
    """A config is a named :class:`stem_datasets.abf_tilt.AbfTiltRecipe`."""

    def __init__(self, recipe: abf_tilt.AbfTiltRecipe):
        super().__init__(name=recipe.name, description=recipe.description)
        self.recipe = recipe


class Builder(OfflineBuilder, tfds.core.GeneratorBasedBuilder):
    """Multislice ABF images on a coarse tilt grid, expanded by a GP surrogate."""

    name = "stem_abf_tilt"
    pkg_dir_path = epath.Path(__file__).parent  # README, CITATIONS.bib, TAGS.txt live here
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release: multislice (abTEM) + GP surrogate, six splits."}
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
        meta["reference_column_angstrom"] = "B column at (a/(2 sqrt2), a/2) from the top-left corner"
        meta["label_convention"] = (
            "angles of the octahedron on the reference B column; canonical: first in-phase a/b angle >= 0"
        )
        meta["microscope"] = recipe.microscope.to_dict()
        meta["patterns"] = list(recipe.patterns)
        meta["thicknesses_nm_requested"] = list(recipe.thicknesses_nm)
        meta["coarse_grid_deg"] = [recipe.coarse_step_deg, recipe.coarse_limit_deg]
        meta["fine_grid_deg"] = [recipe.fine_step_deg, recipe.fine_limit_deg]
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

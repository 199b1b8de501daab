"""What the atom-column models read and say: classes, input spec, size rules (no Keras, no TensorFlow).

Shared by the network (:mod:`~stem_zoo.tasks.atoms.model`), column finding
(:mod:`~stem_zoo.tasks.atoms.locate`) and the metrics, so none of them imports another for it.

Inputs are standardized over the whole image or crop (:func:`stem_zoo.micrograph.standardize`).

Example:
    >>> DEFAULT_INPUT.crop_shape, MULTIPLE
    ((96, 96), 8)
"""

from __future__ import annotations

from stem_zoo.registry import InputSpec

CLASSES = ("background", "light", "intermediate", "heavy")  # = stem_datasets.builders.stem_atom_columns.recipe.CLASSES
DETECTORS = ("haadf", "abf")  # stem_atom_columns' detector ClassLabel, in order
FILTERS = (16, 32, 64, 128)  # per level, the last one the bottleneck at 1/8 of the input size
MULTIPLE = 2 ** (len(FILTERS) - 1)  # input height and width must be multiples of this (8)
MIN_SIDE_PX = 32  # smallest image side [model pixels]: the bottleneck then has 4 x 4 pixels
# Input pixels that can influence one output pixel, along each axis: 92 to 100 depending on the pixel's
# position modulo 8 (measured from the gradient of an output pixel, tests/test_zoo_atoms.py), i.e. 20 A at 0.2 A/px.
RECEPTIVE_FIELD_PX = 100

DEFAULT_INPUT = InputSpec(
    crop_shape=(96, 96), pixel_size=0.2,
    normalization="stem_zoo.micrograph.standardize: zero mean, unit std per crop (training) or per image "
                  "(benchmarks, locate_atoms), outside the model",
    crop_convention="random 96 x 96 px crops of the 128 x 128 px images at 0.2 A/px, random rot90 and flip; "
                    "any size that is a multiple of 8 px at inference",
    feature="image",
)

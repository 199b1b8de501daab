"""What the atom-column models read and say: classes, input spec, size rules (no Keras, no TensorFlow).

Shared by the network (:mod:`~stem_zoo.tasks.atoms.model`), column finding
(:mod:`~stem_zoo.tasks.atoms.locate`) and the metrics, so none of them imports another for it.

Inputs are oriented so that columns are bright (ABF images negated, :func:`oriented`), then
standardized over the whole image or crop (:func:`stem_zoo.micrograph.standardize`).

Example:
    >>> DEFAULT_INPUT.crop_shape, MULTIPLE
    ((96, 96), 8)
"""

from __future__ import annotations

import numpy as np

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
    normalization="stem_zoo.tasks.atoms.spec.oriented (ABF images negated: columns bright, the detector is an "
                  "input of locate_atoms), then stem_zoo.micrograph.standardize: zero mean, unit std per crop "
                  "(training) or per image (benchmarks, locate_atoms), outside the model",
    crop_convention="random 96 x 96 px crops of the 128 x 128 px images at 0.2 A/px, random rot90 and flip; "
                    "any size that is a multiple of 8 px at inference",
    feature="image",
)


def detector_sign(image, detector: str = "auto") -> float:
    """+1 for an image whose columns are bright (HAADF), -1 for dark columns (ABF).

    ``detector``: "haadf", "abf" or "auto" (dark columns when the image's intensity skews
    negative: a bright background with dark dips). Users know their detector; "auto" is a guess.

    >>> dips = np.ones((20, 20)); dips[::5, ::5] = 0.0
    >>> detector_sign(dips), detector_sign(dips, "haadf"), detector_sign(1 - dips)
    (-1.0, 1.0, 1.0)
    """
    if detector not in ("haadf", "abf", "auto"):
        raise ValueError(f"detector must be 'haadf', 'abf' or 'auto', got {detector!r}.")
    if detector != "auto":
        return 1.0 if detector == "haadf" else -1.0
    values = np.asarray(image, np.float64)
    values = (values - values.mean()) / (values.std() or 1.0)
    return -1.0 if np.mean(values**3) < 0 else 1.0


def oriented(image, detector: str = "auto") -> np.ndarray:
    """The image with its columns bright: ABF images negated (see :func:`detector_sign`)."""
    return detector_sign(image, detector) * np.asarray(image, np.float32)

"""Apply the CBED classifiers to 4D-STEM stacks: checked input, class probabilities out.

Example:
    >>> import numpy as np
    >>> classify_stacks(np.zeros((2, 5, 32, 32)), "cbed_interface_cnn")
    Traceback (most recent call last):
    ...
    ValueError: cbed_interface_cnn expects CBED stacks of shape (8, 32, 32) (positions, ky, kx) or a batch (n, 8, 32, 32), got (2, 5, 32, 32); ...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stem_zoo.registry import get_entry


@dataclass(frozen=True)
class StackPredictions:
    """Per stack: probabilities (n, classes), the most likely class index and its name."""

    probabilities: np.ndarray
    classes: tuple[str, ...]

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def names(self) -> list[str]:
        return [self.classes[i] for i in self.predicted]


def check_stacks(stacks, shape: tuple[int, ...], model_id: str) -> np.ndarray:
    """A float32 batch (n, *shape) of finite, non-negative intensities, or a clear error."""
    array = np.asarray(stacks)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{model_id}: CBED stacks must be numbers, got dtype {array.dtype}.")
    if array.shape == tuple(shape):
        array = array[None]
    if array.shape[1:] != tuple(shape) or array.ndim != len(shape) + 1:
        raise ValueError(
            f"{model_id} expects CBED stacks of shape {tuple(shape)} (positions, ky, kx) or a batch (n, {', '.join(map(str, shape))}), "
            f"got {array.shape}; crop the patterns to the central {shape[1]} x {shape[2]} px at the model's mrad per pixel "
            "(see its card) and take the line across the interface."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{model_id}: CBED stacks contain NaN or inf ({int((~np.isfinite(array)).sum())} values).")
    if (array < 0).any():
        raise ValueError(f"{model_id}: CBED intensities must be >= 0 (counts or fractions of the probe).")
    return array.astype(np.float32)


def classify_stacks(stacks, model="cbed_interface_cnn", batch_size: int = 64) -> StackPredictions:
    """Class probabilities of CBED stacks (fractions of the probe or counts) from a zoo classifier."""
    from stem_zoo.hub import load

    entry = get_entry(model) if isinstance(model, str) else getattr(getattr(model, "zoo", None), "entry", None)
    if entry is None or not entry.is_classifier or entry.input.feature not in ("cbed", "cbed_cell_average"):
        raise ValueError("classify_stacks needs a zoo CBED classifier (cbed_interface_cnn, cbed_step_cnn) or one loaded by stem_zoo.load.")
    batch = check_stacks(stacks, entry.input.crop_shape, entry.id)  # before loading: fail fast
    model = load(model) if isinstance(model, str) else model
    from stem_datasets.pipeline.augment_cbed import preprocess_cbed

    inputs = preprocess_cbed(batch).numpy()
    probabilities = np.concatenate([np.asarray(model.predict_on_batch(inputs[i:i + batch_size]))
                                    for i in range(0, len(inputs), batch_size)])
    return StackPredictions(probabilities=probabilities, classes=tuple(entry.outputs))

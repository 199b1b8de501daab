"""Apply the CBED classifiers to 4D-STEM scans: registered to the lattice, checked, class probabilities out.

:func:`classify_scan` takes a raw scan (patterns and the ADF recorded with them, on the
scan's nominal positions), registers it (:func:`stem_datasets.pipeline.scan_registration.register_scan`,
as the training data were) and classifies the registered lines or, for the shipped models
(``cbed_interface_cnn``, ``cbed_step_cnn``), their average over the cell. :func:`classify_stacks` classifies stacks
that are already on the model's positions.

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


def classify_scan(cbed, adf, positions_x, lines_y, model="cbed_interface_cnn", max_dx: float = 0.6):
    """(predictions, registered scan) of a raw 4D-STEM raster across the interface.

    ``cbed`` is (lines, positions, ky, kx) at the model's mrad per pixel, ``adf`` (lines,
    positions) recorded with it; ``positions_x`` [A] are the nominal positions along the
    scan from where the scan believes the terminating TiO2 plane is (known to ``max_dx``),
    ``lines_y`` [A] the lines, evenly spaced over one SrTiO3 cell (at least 7 lines for the
    cell average to be independent of where they fall). The scan must reach past both ends
    of the model's positions (0 to 5.86 A) and be about twice as dense (0.42 A steps).
    """
    from stem_datasets.pipeline.scan_registration import A_SUBSTRATE, register_scan
    from stem_datasets.simulation.simulate import InterfaceScan

    entry = get_entry(model) if isinstance(model, str) else getattr(getattr(model, "zoo", None), "entry", None)
    if entry is None or entry.input.feature not in ("cbed", "cbed_cell_average"):
        raise ValueError("classify_scan needs a zoo CBED classifier (cbed_interface_cnn, cbed_step_cnn) or one loaded by stem_zoo.load.")
    cbed = np.asarray(cbed)
    if cbed.ndim != 4 or cbed.shape[2:] != tuple(entry.input.crop_shape[1:]):
        raise ValueError(f"{entry.id}: classify_scan expects patterns (lines, positions, {entry.input.crop_shape[1]}, "
                         f"{entry.input.crop_shape[2]}), got {cbed.shape}.")
    check_stacks(cbed.reshape(-1, *cbed.shape[2:])[:, None], (1, *cbed.shape[2:]), entry.id)  # finite, non-negative
    model_x = InterfaceScan(positions=entry.input.crop_shape[0]).model_x(A_SUBSTRATE)  # TiO2 plane to 1.5 cells in
    registered = register_scan(cbed, adf, positions_x, lines_y, model_x, max_dx=max_dx)
    stacks = registered.cell_average() if entry.input.feature == "cbed_cell_average" else registered.cbed
    return classify_stacks(stacks, model), registered


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

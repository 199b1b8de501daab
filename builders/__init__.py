"""TFDS builders, one folder per dataset (installed as ``stem_datasets.builders``).

Importing this package registers every builder with TFDS.
"""

from stem_datasets.builders.stem_abf_tilt.stem_abf_tilt_dataset_builder import Builder as StemAbfTilt
from stem_datasets.builders.stem_cbed_interface.stem_cbed_interface_dataset_builder import Builder as StemCbedInterface

__all__ = ["StemAbfTilt", "StemCbedInterface"]

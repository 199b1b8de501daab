"""stem_cbed_interface TFDS builder folder."""

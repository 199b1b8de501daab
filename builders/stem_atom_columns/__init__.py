"""stem_atom_columns TFDS builder folder."""

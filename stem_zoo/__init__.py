"""stem_zoo: reference models for the stem_datasets benchmarks (models arrive with later issues)."""

__version__ = "0.1.0"

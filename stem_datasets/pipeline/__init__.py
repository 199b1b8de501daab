"""Pipeline: the recipe interface, the generic TFDS builder (offline, Beam), builder registration, augmentation.

A dataset's own recipe lives in its builder folder (``builders/<name>/recipe.py``).
"""

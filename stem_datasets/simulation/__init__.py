"""Simulation: microscope settings, abTEM multislice and PRISM runs, the GP surrogate, recorded images, the cache.

Builds on :mod:`stem_datasets.physics`; nothing here imports TensorFlow.
"""

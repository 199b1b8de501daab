"""Physics: perovskite structures and Glazer tilts, lattices and atom-column fields, BiFeO3 polarization.

Plain numpy, ASE and scipy; nothing here imports TensorFlow or a simulation.
"""

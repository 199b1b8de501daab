"""The zoo's tasks, one folder each (see :mod:`stem_zoo.task` for what a folder declares)."""

"""Octahedral tilts from ABF images: ``tilt_dcnn`` (model), per-B-column maps (maps), metrics, report, MLE baseline.

Declared for :mod:`stem_zoo.task` (nothing heavy is imported here).
"""

FACADES = {"predict_map": "maps:predict_map"}
COMMANDS = {"map": "cli:add_command"}
FORMER_MODULES = {"stem_zoo.models.tilt_dcnn": "model"}  # builder modules named by configs of earlier releases
HOOKS = {
    "training_setup": "model:training_setup", "train_inputs": "model:train_inputs", "eval_input": "model:eval_input",
    "metrics": "metrics:angle_metrics", "leaderboard": "metrics:leaderboard",
    "decode_outputs": "uncertainty:decode_outputs",
    "uncertainty_metrics": "uncertainty:uncertainty_metrics", "report": "report:report",
}
METRICS_FEATURE = "pattern"  # the dataset feature the metrics hooks also read: each label's orbit (stem_datasets.physics.glazer)

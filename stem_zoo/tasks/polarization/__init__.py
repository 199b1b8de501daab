"""BiFeO3 polarization from HAADF images: ``polarization_dcnn`` (model), per-cell maps (predict), figures (plots).

Declared for :mod:`stem_zoo.task` (nothing heavy is imported here).
"""

FACADES = {"predict_polarization": "predict:predict_polarization"}
COMMANDS = {"polarization": "cli:add_command"}
FORMER_MODULES = {"stem_zoo.models.polarization_dcnn": "model"}  # builder modules named by configs of earlier releases
HOOKS = {
    "training_setup": "model:training_setup", "train_inputs": "model:train_inputs", "eval_input": "model:eval_input",
    "score_split": "metrics:score_split", "leaderboard": "metrics:leaderboard", "grouped_table": "metrics:grouped_table",
    "report": "report:report",
}

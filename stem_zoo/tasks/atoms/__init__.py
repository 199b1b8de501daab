"""Atomic columns from HAADF / ABF images: ``atom_fcn`` (model), column finding (locate), metrics, report.

Declared for :mod:`stem_zoo.task` (nothing heavy is imported here).
"""

FACADES = {"locate_atoms": "locate:locate_atoms"}
COMMANDS = {"atoms": "cli:add_command"}
FORMER_MODULES = {"stem_zoo.models.atom_fcn": "model"}  # builder modules named by configs of earlier releases
HOOKS = {
    "training_setup": "model:training_setup", "train_examples": "model:train_examples",
    "train_inputs": "model:train_inputs", "eval_input": "model:eval_input",
    "score_split": "metrics:score_split", "leaderboard": "metrics:leaderboard", "grouped_table": "metrics:grouped_table",
    "report": "report:report",
}

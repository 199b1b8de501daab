"""LaAlO3/SrTiO3 interfaces from 4D-STEM CBED stacks: ``cbed_interface_cnn``, ``cbed_step_cnn`` (model), classify.

Declared for :mod:`stem_zoo.task` (nothing heavy is imported here).
"""

FACADES = {"classify_stacks": "classify:classify_stacks", "classify_scan": "classify:classify_scan"}
COMMANDS: dict = {}
FORMER_MODULES = {"stem_zoo.models.cbed_cnn": "model"}  # builder modules named by configs of earlier releases
HOOKS = {
    "training_setup": "model:training_setup", "train_inputs": "model:train_inputs", "eval_input": "model:eval_input",
    "report": "model:report",
}

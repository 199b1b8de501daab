"""Both CLIs keep TensorFlow's C++ and Python log lines out of stderr unless ``--verbose`` (subprocesses: the
environment and the loggers must be set before TensorFlow is imported)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

# What a command prints after its own work: return code, TF_CPP_MIN_LOG_LEVEL, absl verbosity, tensorflow logger level.
PROBE = ("import logging, os, sys\n"
         "from {module} import main\n"
         "rc = main(sys.argv[1:])\n"
         "from absl import logging as absl_logging\n"
         "print(rc, os.environ.get('TF_CPP_MIN_LOG_LEVEL'), absl_logging.get_verbosity(),"
         " logging.getLogger('tensorflow').level, 'tensorflow' in sys.modules)\n")
TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} .*\] |absl::InitializeLog|oneDNN|cuda|cpu_feature_guard", re.IGNORECASE)


def _run(module: str, argv: list[str], tmp_path, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"} | env
    return subprocess.run([sys.executable, "-c", PROBE.format(module=module), *argv], capture_output=True, text=True,
                          cwd=tmp_path, env=environ, timeout=300)


@pytest.mark.parametrize("module, argv, rc", [("stem_zoo.cli", ["list"], "0"),
                                              ("stem_datasets.cli", ["build", "no_such_config"], "2")])
def test_quiet_unless_verbose_and_a_level_the_user_set_is_kept(module, argv, rc, tmp_path):
    quiet = _run(module, argv, tmp_path).stdout.split()[-5:]
    assert quiet == [rc, "3", "-2", str(40), "False"]  # fatal-only C++ log, absl and tensorflow loggers at ERROR
    verbose = _run(module, ["--verbose", *argv], tmp_path).stdout.split()[-5:]
    assert verbose == [rc, "None", "-1", "0", "False"]  # environment and loggers untouched
    assert _run(module, argv, tmp_path, TF_CPP_MIN_LOG_LEVEL="1").stdout.split()[-4] == "1"


def test_a_command_that_imports_tensorflow_prints_no_tensorflow_log_lines(tmp_path):
    np.save(tmp_path / "small.npy", np.random.default_rng(0).random((64, 64)))  # smaller than one window: exit 2
    run = _run("stem_zoo.cli", ["map", "small.npy", "--pixel-size", "0.15"], tmp_path)
    assert run.stdout.split()[-1] == "True", run.stdout + run.stderr  # TensorFlow was imported (the model loaded)
    lines = run.stderr.splitlines()
    assert not [line for line in lines if TF_LOG_LINE.search(line)], run.stderr
    assert lines[-1].startswith("stem-zoo: error: the micrograph is 64 x 64 px"), run.stderr

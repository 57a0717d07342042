"""What torchrun starts in the rehearsals: `archspec train ...`, where, if KILL_AT_STEP is set, rank 1 of the
group's first attempt kills itself (SIGKILL: nothing saved, as a lost machine) just before that step."""

import importlib
import os
import signal
import sys

from archspec import cli

train_module = importlib.import_module("archspec.harness.training.train")
real_step, steps = train_module.train_step, 0


def train_step(*args):
    global steps
    steps += 1
    first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT") == "0"
    if first_attempt and os.environ.get("RANK") == "1" and steps == int(os.environ.get("KILL_AT_STEP", 0)):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_step(*args)


if __name__ == "__main__":
    train_module.train_step = train_step
    sys.argv[0] = "archspec"
    cli.main()

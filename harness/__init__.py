"""The harness around compiled nets, one sub-package per concern:

- `training`: one network trained with the paper's recipe (Sec. 3.1), on one process or many;
- `evaluation`: a trained network tested by the paper's protocol (Sec. 3.2, Tables 3-5);
- `bench`: a suite run: its entries trained and evaluated, every look on the scored split on record;
- `report`: the bench's record turned into statistics, verdicts, tables and plots (no torch);
- `planning`: a suite costed before it runs, its schedule, Slurm scripts and Gantt chart (no torch).

from archspec.harness import TrainConfig, train
from archspec.passes import Overrides
result = train(TrainConfig(spec="specs/A.txt", model=Overrides(width=0.125, batch_norm=True)))

The training names load torch when first asked for, so that planning a suite never does.
"""

from __future__ import annotations

import importlib
import sys
import types

from .training.config import DataConfig, Recipe, TrainConfig, parse_scale

__all__ = ["DataConfig", "Recipe", "Result", "TrainConfig", "evaluate", "parse_scale", "train", "train_step"]
_TRAIN = ("Result", "evaluate", "train", "train_step")


class _Harness(types.ModuleType):
    def __getattr__(self, name: str):
        if name not in _TRAIN:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        module = importlib.import_module(".training.train", self.__name__)
        for n in _TRAIN:
            types.ModuleType.__setattr__(self, n, getattr(module, n))
        return getattr(module, name)


sys.modules[__name__].__class__ = _Harness

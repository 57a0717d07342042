"""The training harness: the paper's recipe (Sec. 3.1) on real data, on one process or many.

from archspec.harness import TrainConfig, train
from archspec.passes import Overrides
result = train(TrainConfig(spec="specs/A.txt", model=Overrides(width=0.125, batch_norm=True)))

The training names load torch when first asked for, so that planning a suite (`plan.py`) never does.
"""

from __future__ import annotations

import importlib
import sys
import types

from .config import DataConfig, Recipe, TrainConfig, parse_scale

__all__ = ["DataConfig", "Recipe", "Result", "TrainConfig", "evaluate", "parse_scale", "train", "train_step"]
_TRAIN = ("Result", "evaluate", "train", "train_step")


class _Harness(types.ModuleType):
    def __getattr__(self, name: str):
        if name not in _TRAIN:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        module = importlib.import_module(".train", self.__name__)
        for n in _TRAIN:
            types.ModuleType.__setattr__(self, n, getattr(module, n))
        return getattr(module, name)

    def __setattr__(self, name: str, value) -> None:
        """`harness.train` stays the function when the submodule of that name is imported (as it was when this
        package imported it eagerly)."""
        if name in _TRAIN and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Harness

"""The training harness: the paper's recipe (Sec. 3.1) on real data, on one process or many.

from archspec.harness import TrainConfig, train
from archspec.passes import Overrides
result = train(TrainConfig(spec="specs/A.txt", model=Overrides(width=0.125, batch_norm=True)))
"""

from .config import DataConfig, Recipe, TrainConfig, parse_scale
from .train import Result, evaluate, train, train_step

__all__ = ["DataConfig", "Recipe", "Result", "TrainConfig", "evaluate", "parse_scale", "train", "train_step"]

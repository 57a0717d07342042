"""Costing a suite before it runs: device figures, the cost model, the schedule, Slurm scripts and the Gantt chart.

`plan_suite` is what `archspec bench --plan` does; `plan.py` makes the plan, `cost.py` is the cost model,
`devices.py` the devices, `schedule.py` the schedule; `slurm.py` and `gantt.py` write a plan out.
"""

from __future__ import annotations

from pathlib import Path

from archspec.files import check_output

from ..suite import suite_path
from . import gantt as gantt_chart
from . import plan
from . import slurm as slurm_scripts
from .devices import DEVICES_FILE
from .loader import DEFAULT_RATE, loader_rate
from .plan import report
from .slurm import MAX_TIME_H

__all__ = ["plan_suite"]


def plan_suite(
    suite: str,
    device_name: str = plan.DEFAULT_DEVICE,
    devices_total: int | None = None,
    mfu: float | None = None,
    per_run: int | None = None,
    data: str | None = None,
    slurm: str | Path | None = None,
    gantt_png: str | Path | None = None,
    max_time_h: float = MAX_TIME_H,
) -> dict:
    """What `bench --plan` does: the plan's tables, and the Slurm scripts and the picture where asked for. Where
    they go is checked first: never onto the plan's inputs (the suite, the devices file) nor into a folder of
    files that a plan did not write."""
    if gantt_png is not None:
        check_output(gantt_png, (suite_path(suite), DEVICES_FILE), "an input of the plan", "the --gantt picture")
    if slurm is not None:
        slurm_scripts.check_slurm_folder(Path(slurm))
    p = plan.plan(suite, device_name, devices_total, mfu, per_run, data)
    out = report(p)
    written = []
    if slurm is not None:
        rate, where = _loader_rate(data)
        text = suite_path(suite).read_text(encoding="utf-8")
        scripts = slurm_scripts.write_slurm(p, slurm, text, data, max_time_h, rate)
        written.append(f"loaders sized at {rate:.0f} images/s a core ({where})")
        written += scripts.notes
        submit = Path(slurm) / "submit.sh"
        written.append(f"wrote {len(scripts.scripts)} sbatch scripts to {slurm}: submit with bash {submit}")
    if gantt_png is not None:
        written.append(f"wrote {gantt_chart.gantt(p, gantt_png)}")
    return out | {"written": written}


def _loader_rate(data: str | None) -> tuple[float, str]:
    """The loader's images/s a core: measured on `--data` where it is a folder, else the recorded figure."""
    if data and Path(data).is_dir():
        return loader_rate(Path(data) / "train" if (Path(data) / "train").is_dir() else data), f"measured on {data}"
    return DEFAULT_RATE, "measured on 500 x 375 JPEGs on one AMD EPYC core; --data FOLDER measures yours"

"""Costing a suite before it runs: device figures, the cost model, the schedule, Slurm scripts and the Gantt chart.

`plan_suite` is what `archspec bench --plan` does; `plan.py` makes the plan, `cost.py` is the cost model,
`devices.py` the devices, `schedule.py` the schedule; `slurm.py` and `gantt.py` write a plan out.
"""

from __future__ import annotations

from pathlib import Path

from archspec.files import check_output

from ..bench.suite import suite_path
from . import gantt as gantt_chart
from . import plan
from . import slurm as slurm_scripts
from .devices import DEVICES_FILE
from .plan import report


def plan_suite(
    suite: str,
    device_name: str = "h100",
    devices_total: int | None = None,
    mfu: float | None = None,
    per_run: int | None = None,
    data: str | None = None,
    slurm: str | Path | None = None,
    gantt_png: str | Path | None = None,
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
        scripts = slurm_scripts.write_slurm(p, slurm, data)
        written.append(f"wrote {len(scripts)} sbatch scripts to {slurm}: submit with bash {Path(slurm) / 'submit.sh'}")
    if gantt_png is not None:
        written.append(f"wrote {gantt_chart.gantt(p, gantt_png)}")
    return out | {"written": written}

"""The plan's schedule as a picture: bars on device lanes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .schedule import lane_devices

if TYPE_CHECKING:
    from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .plan import Plan


def gantt(p: Plan, path: str | Path) -> Path:
    """The schedule as bars on device lanes (hours), the critical path outlined in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from archspec.atomic import atomic_path

    lanes = 1 + max((s.lane for s in p.slots), default=0)  # the lanes the schedule uses, never more than its tasks
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.5 * lanes))
    for s in p.slots:
        ax.barh(
            s.lane,
            (s.end - s.start) / 3600,
            left=s.start / 3600,
            color="tab:blue" if s.kind == "train" else "tab:green",
            edgecolor="red" if s.critical else "white",
            linewidth=2 if s.critical else 0.5,
        )
        if s.end - s.start > 0.06 * p.makespan_s:
            ax.text(
                (s.start + s.end) / 7200,
                s.lane,
                s.task.removeprefix("eval ").removesuffix(" seed 0") if p.suite.suite.seeds == 1 else s.task,
                ha="center",
                va="center",
                fontsize=6,
                color="white",
            )
    ax.set_yticks(range(lanes), [f"{p.device_name} {lane_devices(i, p.per_run)}" for i in range(lanes)])
    ax.invert_yaxis()
    ax.set_xlabel("hours")
    ax.set_title(
        f"{p.suite.suite.name}: {p.devices} x {p.device_name}, {p.per_run} per run, MFU {p.mfu:g}: "
        f"{p.makespan_s / 3600:.1f} h (critical path, red: {p.critical_s / 3600:.1f} h); blue train, green evaluate",
        fontsize=9,
    )
    fig.tight_layout()
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return out

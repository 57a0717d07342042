"""The plan's schedule as a picture: one labelled row per training and evaluation, coloured by its device lane,
on a time axis in the unit that suits the span (seconds, minutes, hours or days)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .schedule import lane_devices

if TYPE_CHECKING:
    from .plan import Plan

# (span from, seconds, name)
UNITS = ((2 * 86400, 86400, "days"), (2 * 3600, 3600, "hours"), (2 * 60, 60, "minutes"), (0, 1, "seconds"))


def time_unit(span_s: float) -> tuple[float, str]:
    """(seconds a unit, its name): days for a span of two days or more, hours from two hours, minutes from two
    minutes, else seconds."""
    return next((sec, name) for start, sec, name in UNITS if span_s >= start)


def gantt(p: Plan, path: str | Path) -> Path:
    """Every task a row, its name on the axis and its lane's devices beside the bar; the critical path in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from archspec.atomic import atomic_path

    unit, unit_name = time_unit(p.makespan_s)
    slots = sorted(p.slots, key=lambda s: (s.start, s.lane))
    colours = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(12, 1.5 + 0.22 * len(slots)))
    for row, s in enumerate(slots):
        ax.barh(
            row,
            (s.end - s.start) / unit,
            left=s.start / unit,
            color=colours(s.lane % 10),
            alpha=1.0 if s.kind == "train" else 0.5,
            edgecolor="red" if s.critical else "none",
            linewidth=1.5,
        )
        ax.text(s.end / unit, row, f" {p.device_name} {lane_devices(s.lane, p.per_run)}", va="center", fontsize=6)
    ax.set_yticks(range(len(slots)), [s.task for s in slots], fontsize=6)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.15 * p.makespan_s / unit)  # room for the device labels after the last bar
    ax.set_xlabel(unit_name)
    ax.set_title(
        f"{p.suite.suite.name}: {p.devices} x {p.device_name}, {p.per_run} per run, MFU {p.mfu}: "
        f"{p.makespan_s / unit:.3g} {unit_name} (critical path, red: {p.critical_s / unit:.3g}); "
        "colour: device lane; pale: evaluation",
        fontsize=9,
    )
    fig.tight_layout()
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return out

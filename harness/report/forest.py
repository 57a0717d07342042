"""The forest plot of a report's claims: one row per claim configuration, our paired difference in top-1 error
(first row minus second, points) with its 95% interval, the paper's difference as a marker, the claim's verdict
after Holm's adjustment as the colour, a zero line, and a no_worse claim's margin. `forest_rows` gives exactly the
numbers plotted (those of claims.csv), so a test can hold the picture to the table.
"""

from __future__ import annotations

from pathlib import Path

from archspec.atomic import atomic_path

NAME = "forest.png"
COLOURS = {"holds": "tab:green", "contradicted": "tab:red", "inconclusive": "tab:gray"}


def forest_rows(claims: list[dict], per_configuration: list[dict]) -> list[dict]:
    """The measured configurations in report order: label, claim, our diff with lo/hi, the paper's diff (None where
    the paper has no figure for one of the rows), the claim's bound, and its verdict after Holm (no suffix)."""
    by_text = {c["claim"]: c for c in claims}
    rows = []
    for p in per_configuration:
        if p["diff"] is None:
            continue
        claim = by_text[p["claim"]]
        rows.append(
            {
                "claim": p["claim"],
                "configuration": p["configuration"],
                "diff": p["diff"],
                "lo": p["lo"],
                "hi": p["hi"],
                "paper_diff": p["paper_diff"],
                "bound": claim["bound"],
                "verdict": claim["verdict"].split(" (")[0],
            }
        )
    return rows


def figure(rows: list[dict], title: str):
    """The forest plot as a matplotlib Figure (Agg canvas): each claim a header line across the figure, then its
    configurations (named on the left), the legend below."""
    import textwrap

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.transforms import blended_transform_factory

    lines, claim = [], None  # (label, row or None for a claim's header)
    for r in rows:
        if r["claim"] != claim:
            claim = r["claim"]
            lines.append((f"{claim}: {r['verdict']}", None))
        lines.append((r["configuration"], r))
    height = 2.4 + 0.3 * len(lines)  # inches: the title, the axis and the legend, and a line per row
    fig = Figure(figsize=(10, height))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    across = blended_transform_factory(fig.transFigure, ax.transData)  # x across the figure, y a row
    ys = list(range(len(lines), 0, -1))
    for y, (label, r) in zip(ys, lines, strict=True):
        if r is None:
            ax.text(0.01, y, label, transform=across, ha="left", va="center", fontsize=8, weight="bold")
            continue
        colour = COLOURS[r["verdict"]]
        ax.errorbar(
            [r["diff"]], [y], xerr=[[r["diff"] - r["lo"]], [r["hi"] - r["diff"]]], fmt="o", color=colour, capsize=3
        )
        if r["paper_diff"] is not None:
            ax.plot([r["paper_diff"]], [y], "D", mfc="none", mec="black", ms=6, zorder=1)  # ours drawn over it
        if r["bound"]:
            ax.plot([r["bound"]], [y], "|", color="black", ms=10)
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_yticks(ys, [f"{label}  " if r else "" for label, r in lines], fontsize=7)
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(0.3, len(lines) + 0.7)
    ax.set_xlabel("top-1 error, first minus second (points): below 0, the first row is better", fontsize=8)
    ax.set_title(textwrap.fill(title, 110), fontsize=9)
    handles = [
        Line2D([], [], color=c, marker="o", label=f"ours, 95% interval: {v} after Holm") for v, c in COLOURS.items()
    ]
    handles += [
        Line2D([], [], ls="none", marker="D", mfc="none", mec="black", label="the paper's difference, if any"),
        Line2D([], [], ls="none", marker="|", color="black", ms=10, label="no_worse margin"),
    ]
    fig.legend(handles=handles, fontsize=7, loc="lower center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0.0, 0.7 / height, 1.0, 1.0))  # the legend's two lines below the axes
    return fig


def plot(path: Path, claims: list[dict], per_configuration: list[dict], title: str) -> list[dict]:
    """Write the forest plot (atomically) and return the rows it plots."""
    rows = forest_rows(claims, per_configuration)
    fig = figure(rows, title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return rows

"""`archspec table SPEC...`: the VGG paper's Table 1 written back from specs, one column per net.

Each column is headed by the net's name and weight-layer count ("11 weight layers"); its rows are the input,
then the net's layers top to bottom: a run of map layers (convolutions, LRN) shares a cell, and every pooling
layer, group, FC layer, written dropout and the soft-max has a row of its own, so VGG's five stages come out
separated by maxpool rows as in the paper. Only what a spec writes is shown, less batch norm, which none of the
papers' tables lists: no ReLU, no dropout implied after a hidden FC layer.

A net without groups reads as the VGG paper writes it (`conv3-64`, `maxpool`, `FC-4096`); a net with groups as
the ResNet paper's Table 1 does (`7×7, 64, stride 2`, `3×3 max pool, stride 2`, `1000-d fc`): a stage is its
repeated block and the count (`[3×3, 64; 3×3, 64] × 2`; strides inside a stage are left out, as there) and an
Inception module is one row of branches (`{1×1, 64 | 1×1, 96; 3×3, 128 | ...}`). Columns whose rows differ are
aligned by the rows' kinds (difflib), a row a net lacks left blank. A line that a column adds over its left
neighbour's cell is bold, as the paper shows the layers each configuration adds.

Pure IR (no torch): `table1` builds the table; `markdown`, `latex` (booktabs), `png` (matplotlib) and
`rich_table` (the terminal) render it, and `save` writes one of the first three.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from enum import Enum
from itertools import pairwise, zip_longest
from pathlib import Path
from typing import NamedTuple

from .atomic import atomic_path
from .errors import ArchspecError
from .files import check_output
from .ir import BatchNorm, Concat, GlobalAvgPool, Layer, MaxPool, Network, ReLU, Shape, Stage, WindowAvgPool
from .source import network

POOLS = (MaxPool, WindowAvgPool, GlobalAvgPool)
TITLE = "ConvNet Configuration"  # the paper's heading over the columns


class TableFormat(str, Enum):
    table = "table"
    markdown = "markdown"
    latex = "latex"
    png = "png"


class Line(NamedTuple):
    """One line of a cell, as the terminal and Markdown show it; a ResNet stage also as its block's layers and
    repeat count, which LaTeX stacks in brackets as the ResNet paper prints it."""

    text: str
    bold: bool = False
    block: tuple[str, ...] = ()
    times: int = 1


Cell = tuple[Line, ...]  # empty: the net has no such row


@dataclass(frozen=True)
class Table1:
    names: tuple[str, ...]  # one column per net
    rows: tuple[tuple[Cell, ...], ...]  # rows x columns: the weight-layer counts, the input, then the layers

    def spans(self, row: tuple[Cell, ...]) -> bool:
        """The same in every column and nothing bold: one cell across the table (LaTeX, PNG), as the paper's
        input and maxpool rows."""
        return len(self.names) > 1 and all(cell == row[0] for cell in row) and not any(x.bold for x in row[0])


def table1(specs: Sequence[str], **overrides) -> Table1:
    """Table 1 for `specs` (files, registered names or spec text), with the model overrides of `network`."""
    if not specs:
        raise ArchspecError("no spec given; expected one or more spec files or registered names (A A-LRN B C D E)")
    nets = [network(spec, **overrides) for spec in specs]
    head = (
        tuple((Line(f"{net.weight_layers} weight layers"),) for net in nets),
        tuple((Line(input_text(net.input)),) for net in nets),
    )
    return Table1(tuple(net.name for net in nets), head + tuple(_bold(row) for row in _align(list(map(_rows, nets)))))


def input_text(shape: Shape) -> str:
    """The input row as Table 1 writes it (and the spec language reads it): `input (224 × 224 RGB image)`."""
    kind = {3: "RGB image", 1: "gray image"}.get(shape.channels, f"× {shape.channels} image")
    return f"input ({shape.height} × {shape.width} {kind})"


# ---------------------------------------------------------------- building


def shown(layer: Layer) -> bool:
    """Whether a spec writes `layer` and a table shows it: an implied node carries the source of the token that
    implied it (a conv's text on its ReLU, an FC layer's on its dropout); no table lists ReLU or batch norm."""
    if isinstance(layer, ReLU | BatchNorm):
        return False
    token = type(layer).token
    return layer.src is None or token is None or re.fullmatch(token, layer.src.text, re.IGNORECASE) is not None


def _rows(net: Network) -> list[tuple[str, Cell]]:
    """A net's rows top to bottom, each with its kind (what columns are aligned by)."""
    say = _vgg if net.flat else _resnet
    rows: list[tuple[str, Cell]] = []
    run: list[Line] = []
    for layer in filter(shown, net.layers):
        if layer.on_maps and not layer.children() and not isinstance(layer, POOLS):
            run.append(say(layer))
            continue
        if run:
            rows.append(("layers", tuple(run)))
            run = []
        rows.append((layer.kind, (say(layer),)))
    return rows + ([("layers", tuple(run))] if run else [])


def _vgg(layer: Layer) -> Line:
    return Line(layer.label)


def _resnet(layer: Layer) -> Line:
    if isinstance(layer, Stage):  # the block the stage repeats: stride 1 throughout, as the paper's table
        block = tuple(x.repeated().resnet_label for x in layer.blocks[0].body if shown(x))
        return Line(f"[{'; '.join(block)}] × {len(layer.blocks)}", block=block, times=len(layer.blocks))
    if isinstance(layer, Concat):
        branches = ("; ".join(x.resnet_label for x in branch if shown(x)) for branch in layer.branches)
        return Line("{" + " | ".join(branches) + "}")
    return Line(layer.resnet_label)


def _align(columns: list[list[tuple[str, Cell]]]) -> list[list[Cell]]:
    """Rows x columns: each column's rows matched to the rows so far by kind (difflib's longest matching runs);
    an unmatched row of one kind beside one of another shares its row, the rest get rows of their own."""
    kinds: list[str] = []
    grid: list[list[Cell]] = []
    for j, rows in enumerate(columns):
        new = [kind for kind, _ in rows]
        merged_kinds, merged = [], []
        for _, a0, a1, b0, b1 in SequenceMatcher(None, kinds, new, autojunk=False).get_opcodes():
            for a, b in zip_longest(range(a0, a1), range(b0, b1)):
                merged_kinds.append(kinds[a] if a is not None else new[b])
                merged.append((grid[a] if a is not None else [()] * j) + [rows[b][1] if b is not None else ()])
        kinds, grid = merged_kinds, merged
    return grid


def _bold(row: list[Cell]) -> tuple[Cell, ...]:
    """A row with the lines each cell adds over its left neighbour's in bold (difflib's matching lines are not)."""
    out = [row[0]]
    for left, cell in pairwise(row):
        matcher = SequenceMatcher(None, [x.text for x in left], [x.text for x in cell], autojunk=False)
        kept = {b + k for _, b, size in matcher.get_matching_blocks() for k in range(size)}
        out.append(tuple(x._replace(bold=i not in kept) for i, x in enumerate(cell)))
    return tuple(out)


# ---------------------------------------------------------------- rendering


def markdown(table: Table1) -> str:
    """A GitHub Markdown table: lines of a cell joined by `<br>`, bold as `**...**`."""
    from tabulate import tabulate

    def cell(lines: Cell) -> str:
        return "<br>".join(f"**{x.text}**" if x.bold else x.text for x in lines).replace("|", "\\|")

    rows = [[cell(c) for c in row] for row in table.rows]
    return tabulate(
        rows, headers=table.names, tablefmt="pipe", colalign=("center",) * len(table.names), disable_numparse=True
    )


TEX = str.maketrans(
    {
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
        "\\": r"\textbackslash{}",
        "×": r"$\times$",
        "|": r"$|$",
    }
)


def latex(table: Table1) -> str:
    """A booktabs tabular (`\\usepackage{booktabs}`): the paper's heading over the columns, a rule between rows,
    a row that is the same everywhere as one cell across, a stage as the ResNet paper's bracketed block."""
    n = len(table.names)
    out = [
        r"% archspec table: needs \usepackage{booktabs}",
        rf"\begin{{tabular}}{{{'c' * n}}}",
        r"\toprule",
        rf"\multicolumn{{{n}}}{{c}}{{{TITLE}}} \\",
        r"\midrule",
        " & ".join(name.translate(TEX) for name in table.names) + r" \\",
    ]
    for i, row in enumerate(table.rows):
        if i:  # the weight-layer counts stand right under the names, as in the paper
            out.append(r"\midrule")
        cells = [rf"\multicolumn{{{n}}}{{c}}{{{_tex_cell(row[0])}}}"] if table.spans(row) else map(_tex_cell, row)
        out.append(" & ".join(cells) + r" \\")
    return "\n".join([*out, r"\bottomrule", r"\end{tabular}"])


def _tex_cell(cell: Cell) -> str:
    lines = [_tex_line(x) for x in cell]
    if len(lines) < 2:
        return "".join(lines)
    return r"\begin{tabular}[c]{@{}c@{}}" + r" \\ ".join(lines) + r"\end{tabular}"


def _tex_line(line: Line) -> str:
    if line.block:  # [3×3, 64; 3×3, 64] × 2 as a bracketed column of the block's layers
        block = r" \\ ".join(x.replace("×", r"\times ") for x in line.block)
        text = rf"$\left[\begin{{array}}{{c}}{block}\end{{array}}\right]\times {line.times}$"
        return rf"{{\boldmath{text}}}" if line.bold else text
    return rf"\textbf{{{line.text.translate(TEX)}}}" if line.bold else line.text.translate(TEX)


def rich_table(table: Table1):
    """The table for a terminal (rich), bold as bold."""
    from rich.table import Table
    from rich.text import Text

    out = Table(title=TITLE, show_lines=True)
    for name in table.names:
        out.add_column(name, justify="center")
    for row in table.rows:
        out.add_row(*(Text("\n").join(Text(x.text, style="bold" if x.bold else "") for x in cell) for cell in row))
    return out


LINE, PAD, CHAR, MARGIN = 0.2, 0.08, 0.075, 0.2  # inches: a text line, above and below one, a character, the margin


def png(table: Table1) -> bytes:
    """The table as a PNG picture (matplotlib): the paper's heading, booktabs-style rules, bold as bold."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # the object API: no pyplot import, no global state

    rows = [((Line(TITLE),),) * len(table.names), tuple((Line(name),) for name in table.names), *table.rows]
    widths = [max(0.9, CHAR * max(len(x.text) for row in rows[1:] for x in row[j])) for j in range(len(table.names))]
    heights = [LINE * max(1, *map(len, row)) + 2 * PAD for row in rows]
    fig = Figure(figsize=(sum(widths) + 2 * MARGIN, sum(heights) + 2 * MARGIN))
    FigureCanvasAgg(fig)
    y = sum(heights) + MARGIN
    _rule(fig, y, 1.2)
    for i, (row, h) in enumerate(zip(rows, heights, strict=True)):
        if i == 0 or table.spans(row):  # the heading, or a row the same everywhere: one cell across
            _cell(fig, row[0], MARGIN + sum(widths) / 2, y - h / 2)
        else:
            for j, cell in enumerate(row):
                _cell(fig, cell, MARGIN + sum(widths[:j]) + widths[j] / 2, y - h / 2)
        y -= h
        if i not in (1, len(rows) - 1):  # the counts stand right under the names; the last rule is thick
            _rule(fig, y, 0.5)
    _rule(fig, y, 1.2)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150)
    return buffer.getvalue()


def _cell(fig, cell: Cell, x: float, y: float) -> None:
    """A cell's lines centred on (x, y), in inches from the figure's bottom left."""
    width, height = fig.get_size_inches()
    for k, line in enumerate(cell):
        dy = LINE * (len(cell) - 1) / 2 - LINE * k
        weight = "bold" if line.bold else "normal"
        fig.text(x / width, (y + dy) / height, line.text, ha="center", va="center", fontsize=9, fontweight=weight)


def _rule(fig, y: float, lw: float) -> None:
    from matplotlib.lines import Line2D

    width, height = fig.get_size_inches()
    fig.add_artist(Line2D([MARGIN / width, 1 - MARGIN / width], [y / height] * 2, lw=lw, color="black"))


def save(table: Table1, fmt: TableFormat, path: str | Path, inputs: Sequence[Path | None] = ()) -> Path:
    """Write Markdown, LaTeX or PNG to `path` atomically (never over one of `inputs`, the spec files)."""
    fmt = TableFormat(fmt)
    if fmt is TableFormat.table:
        raise ArchspecError(f"{path}: -f table is for the terminal; expected -f markdown, latex or png with -o")
    path = check_output(path, inputs, role="an input spec", what=f"the {fmt.value} output")
    data = (
        png(table)
        if fmt is TableFormat.png
        else ((markdown if fmt is TableFormat.markdown else latex)(table) + "\n").encode()
    )
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path

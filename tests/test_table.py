"""`archspec table`: the VGG paper's Table 1, and the ResNet paper's, written back from the shipped specs.

The expected tables are built from the papers' facts as ../shared/paper.md transcribes them (parsed here, not
retyped), and compared cell by cell with what `archspec table ... -f markdown` prints.
"""

import re

import pytest
from PIL import Image

from archspec.errors import ArchspecError
from archspec.table import TableFormat, latex, rich_table, save, table1

from .conftest import ROOT
from .test_cli import run

PAPER = ROOT.parent / "shared" / "paper.md"
needs_paper = pytest.mark.skipif(not PAPER.is_file(), reason=f"{PAPER}: the papers' facts, beside the clone")


def section(title: str) -> str:
    """The text of paper.md's `## title...` section."""
    text = PAPER.read_text()
    start = text.index(f"## {title}")
    return text[start : text.index("\n## ", start + 1)]


def markdown_grid(out: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows x columns) of a Markdown table, `<br>` kept inside cells."""
    lines = [line for line in out.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
    assert set(lines[1]) <= set("|:- ")  # the alignment row
    return cells[0], cells[2:]


# ---------------------------------------------------------------- the VGG paper's Table 1, from paper.md


def unbold(cell: list[str]) -> list[str]:
    return [t.strip("*") for t in cell]


def vgg_columns() -> dict[str, tuple[int, list[list[str]]]]:
    """Each configuration: (weight layers, its cells top to bottom, each a list of lines; a layer the
    configuration adds over its left neighbour as `**layer**`), from paper.md's description of Table 1: A and B
    written out, A-LRN, C, D and E as changes to the one before."""
    text = " ".join(section("Table 1").split("\n", 1)[1].split("Also reported")[0].split())
    found = re.findall(r"(\S+) \((\d+)(?: weight layers)?\):(.*?)(?= \S+ \(\d+(?: weight layers)?\):|$)", text)
    entries = {name: (int(depth), body.strip()) for name, depth, body in found}
    assert list(entries) == ["A", "A-LRN", "B", "C", "D", "E"]

    def written(body: str, head: list[list[str]] | None = None) -> list[list[str]]:
        cells = []
        for part in body.rstrip(".").split(" | "):
            if part == "head":
                cells += head
                continue
            tokens = [t for tok, n in re.findall(r"(\S+)(?: x(\d))?", part) for t in [tok] * int(n or 1)]
            cells += [tokens] if "conv" in part else [[t] for t in tokens]  # a stage, or one row per layer
        return cells

    a = written(entries["A"][1])
    b = written(entries["B"][1], head=[c for c in a if c[0].startswith(("FC", "soft"))])
    stages = [i for i, c in enumerate(a) if c[0].startswith("conv")]
    for i in stages:  # B over A-LRN: the conv3 layers beyond A's in each stage
        b[i] = b[i][: len(a[i])] + [f"**{t}**" for t in b[i][len(a[i]) :]]
    plain = list(map(unbold, b))

    lrn = re.match(r"as A, with (\S+) right after the first (\S+?)\.?$", entries["A-LRN"][1])
    a_lrn = [list(c) for c in a]
    first = next(i for i, c in enumerate(a) if lrn[2] in c)
    a_lrn[first].insert(a[first].index(lrn[2]) + 1, f"**{lrn[1]}**")

    c = [list(cell) for cell in plain]
    one = re.search(r"plus (\S+) after the (\d)\w\w block's", entries["C"][1]).groups()
    layer, *blocks = re.search(r"and (\S+) after each of the (\d)\w\w and (\d)\w\w", entries["C"][1]).groups()
    for layer, n in [one, *((layer, n) for n in blocks)]:
        c[stages[int(n) - 1]].append(f"**{layer}**")

    old, new = re.search(r"with each (\S+) replaced by a (\S+) of the same width", entries["D"][1]).groups()
    d = [[f"**{new}-{t.split('-')[1]}" if t.startswith(f"**{old}-") else t.strip("*") for t in cell] for cell in c]

    which, blocks = re.search(r"with a \S+ (\S+) in blocks ([\d, ]+)", entries["E"][1]).groups()
    e = list(map(unbold, d))
    for n in map(int, blocks.split(",")):
        e[stages[n - 1]].append(f"**{which}-{e[stages[n - 1]][-1].split('-')[1]}**")

    # D's and E's own summaries of their blocks 3, 4 and 5 agree with the changes they describe
    summary = r"\((\d)\w\w block: (\S+) x(\d); (\d)\w\w and (\d)\w\w: (\S+) x(\d)\)"
    n3, layer3, k3, n4, n5, layer45, k45 = re.search(summary, entries["D"][1]).groups()
    assert [unbold(d[stages[int(n) - 1]]) for n in (n3, n4, n5)] == [[layer3] * int(k3)] + [[layer45] * int(k45)] * 2
    e_blocks = [[t] * int(k) for t, k in re.findall(r"(conv3-\d+) x(\d)", entries["E"][1])]
    assert [unbold(e[stages[n - 1]]) for n in (3, 4, 5)] == e_blocks

    columns = {"A": a, "A-LRN": a_lrn, "B": b, "C": c, "D": d, "E": e}
    return {name: (entries[name][0], cells) for name, cells in columns.items()}


@needs_paper
def test_markdown_table_1_is_the_papers_cell_by_cell(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "table", "A", "A-LRN", "B", "C", "D", "E", "-f", "markdown")
    header, rows = markdown_grid(out)
    columns = vgg_columns()
    side = re.search(r"Input: (\d+)x(\d+) RGB", section("Architecture conventions")).groups()
    expected = [
        [f"{depth} weight layers" for depth, _ in columns.values()],
        [f"input ({side[0]} × {side[1]} RGB image)"] * len(columns),  # as Table 1 writes it
        *([("<br>".join(cells[i])) for _, cells in columns.values()] for i in range(len(columns["A"][1]))),
    ]
    assert code == 0 and header == list(columns)
    assert rows == expected
    assert sum(row.count("maxpool") for row in rows) == 5 * 6 and rows[-1] == ["soft-max"] * 6


def test_the_counts_and_stages_follow_the_specs_not_the_papers_text():
    """The table is built from the IR: a spec written here gives its own rows and the overrides apply."""
    t = table1(["input 32x32x1 conv3-8 LRN maxpool conv5-16 FC-10 soft-max", "A"], width=0.5, num_classes=10)
    assert t.names == ("spec", "A")
    lines = [[[x.text for x in cell] for cell in row] for row in t.rows]
    assert lines[:4] == [
        [["3 weight layers"], ["11 weight layers"]],
        [["input (32 × 32 gray image)"], ["input (224 × 224 RGB image)"]],
        [["conv3-4", "LRN"], ["conv3-32"]],  # the width override, and LRN in the stage's cell
        [["maxpool"], ["maxpool"]],
    ]
    assert lines[-2:] == [[["FC-10"], ["FC-10"]], [["soft-max"], ["soft-max"]]]
    assert [x.bold for x in t.rows[2][1]] == [True]  # A's conv3-32 is not the first column's conv3-4


def test_implied_layers_are_not_shown_and_written_dropout_is():
    t = table1(["vgg11_bn", "alexnet"])
    texts = {x.text for row in t.rows for cell in row for x in cell}
    assert not {"relu", "batchnorm", "bn"} & texts  # vgg11_bn's implied batch norm, every implied ReLU
    alexnet = [[x.text for x in row[1]] for row in t.rows]
    assert alexnet.count(["dropout"]) == 2 and ["FC-4096"] in alexnet  # written in alexnet.txt, before its FCs
    assert ["dropout"] not in [[x.text for x in row[0]] for row in t.rows]  # A's is implied after its FC layers


# ---------------------------------------------------------------- the ResNet paper's Table 1, from paper.md


def resnet_columns() -> dict[int, list[str]]:
    """Each depth's stage cells in the ResNet paper's Table 1 notation, `[3×3, 64; 3×3, 64] × 2` (He et al. 2016,
    Table 1, typography as printed there), from paper.md's blocks per stage, widths and block shapes."""
    text = " ".join(section("Compute").split())
    widths = [int(w) for w in re.search(r"Widths c = ([\d, ]+)", text)[1].split(", ")]
    basic = re.search(r"Basic block \[(.*?)\]", text)[1].split(", ")  # 3x3 c, 3x3 c
    bottleneck = re.search(r"bottleneck \[(.*?)\]", text)[1].split(", ")  # 1x1 c, 3x3 c, 1x1 4c
    per_stage = dict(re.findall(r"(\d+): (\d+,\d+,\d+,\d+)", text))

    def stage(block: list[str], c: int, n: str) -> str:
        layers = [
            f"{k.replace('x', '×')}, {int(m or 1) * c}"
            for k, m in (re.match(r"(\S+) (\d*)c", x).groups() for x in block)
        ]
        return f"[{'; '.join(layers)}] × {n}"

    return {
        int(depth): [
            stage(basic if int(depth) < 50 else bottleneck, c, n)
            for c, n in zip(widths, counts.split(","), strict=True)
        ]
        for depth, counts in per_stage.items()
    }


@needs_paper
def test_resnet_columns_are_the_resnet_papers_table_1(monkeypatch, capsys):
    names = ["resnet18", "resnet34", "resnet50-v1", "resnet101-v1", "resnet152-v1"]
    code, out, _ = run(monkeypatch, capsys, "table", *names, "-f", "markdown")
    header, rows = markdown_grid(out)
    text = " ".join(section("Compute").split())
    stem = re.search(r"conv1 (\d)x\d-(\d+) stride (\d)", text).groups()
    pool = re.search(r"(\d)x\d maxpool stride (\d)", text).groups()
    stages = resnet_columns()
    assert code == 0 and header == names and set(stages) == {18, 34, 50, 101, 152}
    for j, depth in enumerate(stages):
        column = [row[j].replace("**", "") for row in rows]  # the ResNet paper's table marks nothing bold
        assert column == [
            f"{depth} weight layers",
            "input (224 × 224 RGB image)",
            f"{stem[0]}×{stem[0]}, {stem[1]}, stride {stem[2]}",
            f"{pool[0]}×{pool[0]} max pool, stride {pool[1]}",
            *stages[depth],
            "average pool",  # "average pool, 1000-d fc, softmax" in the paper's last row
            "1000-d fc",
            "softmax",
        ]
    assert "**" not in "".join(row[0] for row in rows) and rows[4][1] == f"**{stages[34][0]}**"  # 3 blocks, not 2


def test_inception_modules_are_one_row_each():
    t = table1(["googlenet"])
    modules = [row[0][0].text for row in t.rows if row[0] and row[0][0].text.startswith("{")]
    assert len(modules) == 9  # 3a, 3b, 4a-4e, 5a, 5b
    assert modules[0] == "{1×1, 64 | 1×1, 96; 3×3, 128 | 1×1, 16; 3×3, 32 | 3×3 max pool; 1×1, 32}"  # Inception 3a


# ---------------------------------------------------------------- LaTeX, PNG and the CLI


def test_latex_is_booktabs_with_the_papers_heading_spans_and_bold():
    tex = latex(table1(["A", "A-LRN"]))
    lines = tex.splitlines()
    assert lines[1:6] == [
        r"\begin{tabular}{cc}",
        r"\toprule",
        r"\multicolumn{2}{c}{ConvNet Configuration} \\",
        r"\midrule",
        r"A & A-LRN \\",
    ]
    assert r"\multicolumn{2}{c}{input (224 $\times$ 224 RGB image)} \\" in lines
    assert r"conv3-64 & \begin{tabular}[c]{@{}c@{}}conv3-64 \\ \textbf{LRN}\end{tabular} \\" in lines
    assert lines.count(r"\multicolumn{2}{c}{maxpool} \\") == 5 and lines[-2:] == [r"\bottomrule", r"\end{tabular}"]
    stage = r"$\left[\begin{array}{c}3\times 3, 64 \\ 3\times 3, 64\end{array}\right]\times 2$"
    assert stage in latex(table1(["resnet18"])) and rf"{{\boldmath{stage[:-4]}" not in latex(table1(["resnet18"]))
    assert tex.count("{") == tex.count("}") and tex.count(r"\begin{") == tex.count(r"\end{")


def test_the_terminal_table_has_the_papers_heading_and_bold(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "table", "A", "A-LRN")
    assert code == 0 and out.split()[:2] == ["ConvNet", "Configuration"] and out.count("maxpool") == 10
    cell = rich_table(table1(["A", "A-LRN"])).columns[1]._cells[2]  # A-LRN's first stage
    assert cell.plain == "conv3-64\nLRN" and [
        (cell.plain[x.start : x.end], x.style) for x in cell.spans if x.style
    ] == [("LRN", "bold")]


def test_png_is_a_picture_one_column_wider_per_net(tmp_path):
    two = save(table1(["A", "B"]), TableFormat.png, tmp_path / "two.png")
    six = save(table1(["A", "A-LRN", "B", "C", "D", "E"]), "png", tmp_path / "six.png")
    with Image.open(two) as a, Image.open(six) as b:
        assert a.format == b.format == "PNG" and b.width > 2 * a.width and b.height > a.height  # E adds rows
        darkest, lightest = b.convert("L").getextrema()
        assert darkest < 64 and lightest > 192  # black text on white, not a blank page


def test_the_cli_writes_markdown_and_latex_files_and_refuses_the_spec_itself(monkeypatch, capsys, tmp_path):
    code, out, _ = run(monkeypatch, capsys, "table", "A", "B", "-f", "latex", "-o", tmp_path / "t1.tex")
    assert code == 0 and f"wrote {tmp_path / 't1.tex'}" in out
    assert (tmp_path / "t1.tex").read_text() == latex(table1(["A", "B"])) + "\n"
    spec = tmp_path / "net.txt"
    spec.write_text("input 32x32x3 conv3-8 maxpool FC-10 soft-max")
    code, _, err = run(monkeypatch, capsys, "table", spec, "-f", "markdown", "-o", spec)
    assert code == 2 and "net.txt: is an input spec; expected another path for the markdown output" in err
    assert spec.read_text() == "input 32x32x3 conv3-8 maxpool FC-10 soft-max"
    with pytest.raises(ArchspecError, match="-f table is for the terminal"):
        save(table1(["A"]), "table", tmp_path / "t.txt")

"""The CLI end to end: output formats, the golden check, and one-line errors with exit status 2."""

import json
import os
import subprocess
import sys

import pytest

from archspec import cli

from .conftest import ROOT, entry_point

GOLDEN = ROOT / "tests" / "golden" / "params.csv"
ALL_SPECS = sorted(str(p) for p in (ROOT / "specs").glob("*.txt"))  # what .ci/run checks
SMALL = "input 16x16x1 conv3-4 maxpool FC-3 soft-max"


def run(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["archspec", *map(str, args)])
    try:
        cli.main()
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_params_json_has_integer_keys_in_argument_order(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "params", "E", "vgg16_bn", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and [r["name"] for r in rows] == ["E", "D-BN"]
    assert rows[0]["params"] == 143_667_240 and rows[0]["macs"] == 19_632_062_464 and rows[0]["weight_layers"] == 19
    assert rows[1]["params"] == 138_365_992


def test_params_table_shows_paper_rounding(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "params")
    assert code == 0 and "132,863,336" in out and "143,667,240" in out
    assert [line.split("│")[5].strip() for line in out.splitlines() if line.startswith("│ C ")] == ["134"]


def test_params_layers_in_csv_and_json(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "params", "A", "--layers", "-f", "csv")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("name,index,layer,src,out_shape,params,macs")
    assert lines[1].startswith("A,0,conv3-64,3:1,224x224x64,1792,86704128")
    code, out, _ = run(monkeypatch, capsys, "params", "A", "--layers", "-f", "json")
    # conv+relu, pools, FCs, relu+dropout, soft-max
    assert len(json.loads(out)[0]["layers"]) == 8 * 2 + 5 + 3 + 2 * 2 + 1


def test_params_markdown(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "params", "D", "-f", "markdown", "--classes", "10", "--input", "32x32x3")
    assert code == 0 and out.startswith("| name") and "| D " in out


def test_check_passes_on_the_repos_golden_and_fails_with_a_diff(monkeypatch, capsys, tmp_path):
    code, _, err = run(monkeypatch, capsys, "params", *ALL_SPECS, "--check", GOLDEN)
    assert code == 0 and f"all {len(ALL_SPECS)} rows match" in err
    bad = tmp_path / "bad.csv"
    bad.write_text(GOLDEN.read_text().replace("138357544", "138357545"))
    code, _, err = run(monkeypatch, capsys, "params", *ALL_SPECS, "--check", bad)
    assert code == 1 and "mismatch: D: params is 138,357,544, golden says 138,357,545" in err


def test_compile_prints_summary_and_total(monkeypatch, capsys, tmp_path):
    out_file = tmp_path / "a.pt2"
    code, out, _ = run(
        monkeypatch, capsys, "compile", "A", "--classes", "10", "--input", "32x32x3", "--width", "0.125", "-o", out_file
    )
    assert code == 0 and "features.0" in out and "classifier.6" in out and out_file.is_file()
    # by hand: convs 8,16,32,32,64,64,64,64 -> 144,560; FC 64->512->512->10 -> 301,066
    assert "total parameters: 445,626" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["params", "{bad}"], "bad.txt:2:1: found 'conv3_64'; expected a layer"),
        (["params", "{tmp}"], "is a directory"),
        (["params", "nope.txt"], "nope.txt: no such file; expected a spec file, a registered name or spec text"),
        (["params", "my spec.txt"], "my spec.txt: no such file"),
        (["params", "/dev/zero"], "/dev/zero: is not a regular file"),
        (["compile", "{bad}", "-o", "{bad}"], "bad.txt: is the input spec; expected another path"),
        (["compile", "A", "-o", "/dev/full"], "/dev/full: is not a regular file"),
        (["compile", "A", "-o", "{tmp}"], "is a directory; expected a file path for the .pt2 output"),
        (["compile", "A", "-o", "{tmp}/no/such/a.pt2"], "no such folder; expected an existing folder"),
        (["compile", SMALL, "-o", "{tmp}/a.onnx", "--opset", "6"], "--opset 6: onnxruntime 1."),
        (["compile", SMALL, "-o", "{tmp}/a.onnx", "--opset", "99"], "--opset 99: torch 2."),
        (["compile", "A", "-o", "{tmp}/a.pt2", "--opset", "17"], "is written as a .pt2 program, which has none"),
        (["table", "A", "-f", "png"], "-f png: a picture is not printed; expected -o FILE.png"),
        (["table", "A", "-o", "{tmp}/t.txt"], "-f table is for the terminal; expected -f markdown, latex or png"),
        (["table", "A", "-f", "latex", "-o", "{tmp}"], "is a directory; expected a file path for the latex output"),
        (["table", "A", "nope.txt"], "nope.txt: no such file; expected a spec file"),
        (["compile", "A", "--width", "64"], "A: needs about 1967.1 GiB for building it (527,637,963,752 parameters)"),
        (["compile", "A", "--input", "4096x4096x3"], "needs about 136.1 GiB for building it"),
        (["train", "A", "--momentum", "5"], "momentum: Input should be less than 1"),
        (["params", "A", "--input", ""], "input '': expected HxWxC"),
        (["train", "A", "--gpus", "2"], "--gpus 2: no CUDA device is visible; expected a GPU machine, or --nproc 2"),
        (["eval", "{tmp}", "--gpus", "4"], "--gpus 4: no CUDA device is visible"),
        (["params", "A", "--input", "32"], "expected HxWxC"),
        (["params", "D", "--input", "16x16x3"], "found maxpool on a 1x1 map"),
        (["params", "A", "--check", "{tmp}/missing.csv"], "missing.csv: no such file"),
        (["compile", "A", "--backend", "tpu"], "backend 'tpu'"),
        (["train", "A", "--data", "{tmp}/imagenet"], "imagenet: no such folder; expected an ImageNet-layout folder"),
        (["train", "--resume", "{tmp}/run"], "run.json: no such file; expected a run folder"),
        (["train", "A", "--scale", "20", "--crop", "32"], "scale S=20 is smaller than crop 32"),
        (["train", "A", "--batch", "9", "--nproc", "2"], "batch 9 does not split over 2 processes"),
        (["train", "{bad}"], "bad.txt:2:1: found 'conv3_64'"),
        (["eval", "{tmp}/nothing"], "nothing: no such run folder or weights file"),
        (["eval", "{tmp}", "--scales", "a,b"], "expected test scales such as 256,384,512"),
        (["bench", "--suite", "{tmp}/none.toml"], "none.toml: no such file; expected a TOML suite file"),
        (["bench", "--suite", "{tmp}"], "is a directory; expected a TOML suite file"),
        (["bench", "--suite", "../pyproject"], "../pyproject: no such file; expected a TOML suite file"),
        (["bench", "--out", "{bad}"], "bad.txt: is a file, or under one; expected a folder for the bench"),
        (["params", ""], "'': an empty name; expected a spec file"),
        (["params", "A", "--check", "/dev/zero"], "/dev/zero: is not a regular file (a device, FIFO or socket)"),
        (["train", "A", "--lr", "1e308"], "lr: Input should be less than or equal to 100"),
        (["train", "resnet18", "--pretrained-a", "{tmp}", "--out", "{tmp}/r"], "resnet18: has residual blocks"),
        (["train", "A", "--out", "{bad}"], "bad.txt: is a file, or under one; expected a folder for the run"),
        (["train", "A", "--out", "{tmp}"], "holds bad.txt (and 1 more), which archspec train did not write"),
        (["train", "--resume", "{bad}"], "run.json: cannot read (Not a directory); expected a run folder"),
        (["bench", "--suite", "{tmp}/fifo.toml"], "fifo.toml: is not a regular file (a device, FIFO or socket)"),
        (["bench", "--suite", "quick", "--out", "{tmp}"], "holds bad.txt (and 1 more), which archspec bench did not"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path, args, message):
    bad = tmp_path / "bad.txt"
    bad.write_text("input 32x32x3\nconv3_64\n")
    os.mkfifo(tmp_path / "fifo.toml")  # a reader that opened it would block forever
    args = [a.format(bad=bad, tmp=tmp_path) for a in args]
    code, out, err = run(monkeypatch, capsys, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_train_in_bf16_on_a_cpu_without_bf16_units_stops_before_training_with_the_fix(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setattr("torch.cpu._is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr("torch.cpu._is_avx512_bf16_supported", lambda: False, raising=False)
    code, _, err = run(monkeypatch, capsys, "train", "A", "--precision", "bf16", "--out", tmp_path / "run")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "--precision: found bf16 on a CPU without bf16 units (AMX, AVX512-BF16)" in err
    assert "expected auto (fp32 on this CPU, bf16 where it has the units) or fp32" in err
    assert not (tmp_path / "run").exists()  # stopped before the run folder was made


def test_console_script_checks_the_golden_file_from_a_shell():
    """The CI guard exactly as .ci/run calls it, through the installed `archspec` script."""
    env = {**os.environ, "COLUMNS": "200"}
    ok = subprocess.run(
        [entry_point(), "params", *ALL_SPECS, "--check", str(GOLDEN)], capture_output=True, text=True, env=env
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([entry_point(), "params", str(ROOT / "pyproject.toml")], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "pyproject.toml:1:2: found 'build-system'" in bad.stderr  # after the '[' that opens a block


def test_train_options_come_from_the_config_fields(monkeypatch, capsys):
    from archspec.harness.training.config import OPTIONS, option_field

    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = run(monkeypatch, capsys, "train", "--help")
    assert code == 0
    entries = []  # one per option: its first line and the lines its help wraps onto, joined
    for line in out.splitlines():
        if line.startswith("  -"):
            entries.append(line)
        elif entries and line.startswith("     "):
            entries[-1] += " " + line.strip()
    for flag in OPTIONS:
        entry = " ".join(next(e for e in entries if f" {flag} " in f"{e} ").split())
        text = option_field(flag).description
        assert (f"No {text[0].lower()}{text[1:]}" if flag.startswith("--no-") else text) in entry, entry
    assert "[default: 74]" in out and "--checkpoint-every" in out and "--resume" in out


def test_train_writes_a_run_and_prints_the_epochs(monkeypatch, capsys, tmp_path):
    spec = tmp_path / "tiny.txt"
    spec.write_text("input 16x16x3 conv3-4 maxpool FC-8 FC-4 soft-max")
    args = [
        "train",
        spec,
        "--data",
        "synthetic",
        "--crop",
        "16",
        "--scale",
        "16:20",
        "--epochs",
        "2",
        "--batch",
        "32",
        "--init",
        "glorot",
        "--out",
        tmp_path / "run",
        "--backend",
        "torch",
    ]
    code, out, _ = run(monkeypatch, capsys, *args)
    assert code == 0 and "last epochs" in out and "holdout top1 err" in out
    assert {p.name for p in (tmp_path / "run").iterdir()} >= {
        "run.json",
        "checkpoint.pt",
        "model.safetensors",
        "best.safetensors",
        "holdout.json",
        "metrics.csv",
        "metrics.png",
    }
    code, _, err = run(monkeypatch, capsys, *args)  # the same --out again: refused, nothing overwritten
    assert code == 2 and "already holds a checkpoint" in err
    code, _, err = run(monkeypatch, capsys, "train", "--resume", tmp_path / "run", "--lr", "0.5", "--batch", "8")
    assert code == 2 and "--batch, --lr would change the run's recipe mid-run; expected only --epochs" in err
    code, out, _ = run(monkeypatch, capsys, "train", "--resume", tmp_path / "run", "--epochs", "3")
    lines = [line for line in out.splitlines() if line.startswith("│")]
    assert code == 0 and [line.split("│")[1].strip() for line in lines] == ["1", "2", "3"]  # extended, in order
    epochs = [line.split(",")[0] for line in (tmp_path / "run" / "metrics.csv").read_text().splitlines()[1:]]
    assert epochs == ["1", "2", "3"]  # integers, not 1.0


def test_eval_prints_every_protocol_as_json(monkeypatch, capsys, tmp_path):
    spec = tmp_path / "tiny.txt"
    spec.write_text("input 16x16x3 conv3-4 maxpool FC-8 FC-4 soft-max")
    run(
        monkeypatch,
        capsys,
        "train",
        spec,
        "--data",
        "synthetic",
        "--crop",
        "16",
        "--scale",
        "18",
        "--epochs",
        "1",
        "--batch",
        "32",
        "--init",
        "glorot",
        "--out",
        tmp_path / "run",
        "--backend",
        "torch",
    )
    code, out, _ = run(monkeypatch, capsys, "eval", tmp_path / "run", "--limit", "8", "-f", "json")
    rows = json.loads(out)
    assert code == 0 and {(r["protocol"], r["method"]) for r in rows} == {
        ("single", "dense"),
        ("single", "multi-crop"),
        ("single", "multi-crop & dense"),
        ("single", "centre"),
        ("multi", "dense"),
        ("multi", "multi-crop"),
        ("multi", "multi-crop & dense"),
    }
    assert rows[0]["model"] == "tiny/18/18" and rows[0]["images"] == 8
    assert next(r for r in rows if r["protocol"] == "multi")["test_scales"] == "16,18,20"
    assert all(r["top1_lo"] <= r["top1_err"] <= r["top1_hi"] for r in rows)  # 95% Wilson intervals
    code, _, err = run(monkeypatch, capsys, "eval", tmp_path / "run", "--data", "embedded")
    assert code == 2 and "--data embedded: 10 classes (T-shirt/top, Trouser, Pullover, ...); expected the 10" in err
    code, _, err = run(monkeypatch, capsys, "eval", tmp_path / "run", "--scales", "8")
    assert code == 2 and "--scales 8: smaller than tiny/18's crop 16; expected test scales of at least 16" in err
    code, _, err = run(monkeypatch, capsys, "eval", tmp_path / "run", "--scales", "99999")
    assert code == 2 and "--scales 99999: evaluating tiny/18 at that scale needs about" in err


def test_an_interrupted_run_says_how_to_continue_and_resumes_without_its_spec_file(monkeypatch, capsys, tmp_path):
    """SIGTERM or Ctrl-C: exit 130 with the line that says where it saved; resume needs only run.json."""
    import importlib

    train_module = importlib.import_module("archspec.harness.training.train")
    spec = tmp_path / "tiny.txt"
    spec.write_text("input 16x16x3 conv3-4 maxpool FC-8 FC-4 soft-max")
    real, calls = train_module.train_step, {"n": 0}

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(train_module, "train_step", interrupted)
    args = ["--data", "synthetic", "--crop", "16", "--scale", "18", "--epochs", "1", "--batch", "32"]
    code, _, err = run(monkeypatch, capsys, "train", spec, *args, "--out", tmp_path / "run", "--backend", "torch")
    assert (
        code == 130 and "archspec: interrupted; saved" in err and "at epoch 1, step 1; continue with: archspec" in err
    )
    spec.unlink()
    code, out, _ = run(monkeypatch, capsys, "train", "--resume", tmp_path / "run")
    assert code == 0 and "last epochs" in out


def test_an_interrupt_outside_a_training_step_still_says_what_it_means(monkeypatch, capsys):
    """typer turns a KeyboardInterrupt into a bare exit 130; the CLI still prints its one line."""
    from archspec import counts

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(counts, "params", interrupted)
    monkeypatch.setattr(sys, "argv", ["archspec", "params", "A"])
    with pytest.raises(SystemExit) as e:
        cli.main()
    assert e.value.code == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("archspec: interrupted; every file already saved is intact")


@pytest.mark.parametrize(
    "args",
    [
        ["train", "A", "--threads", "{n}", "--out", "{tmp}/run"],
        ["eval", "{tmp}", "--threads", "{n}"],
        ["bench", "--threads", "{n}"],
        ["bench", "--jobs", "{n}"],
        ["train", "A", "--nproc", "{n}", "--out", "{tmp}/run"],
    ],
    ids=["train-threads", "eval-threads", "bench-threads", "bench-jobs", "train-nproc"],
)
def test_threads_and_processes_past_the_cores_are_refused_naming_the_bound(monkeypatch, capsys, tmp_path, args):
    """One more than the cores this process may use (its affinity mask) is one line saying how many there are,
    before anything starts."""
    cores = len(os.sched_getaffinity(0))
    flag = args[args.index("{n}") - 1]
    code, out, err = run(monkeypatch, capsys, *[a.format(n=cores + 1, tmp=tmp_path) for a in args])
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"{flag} {cores + 1}: more than the {cores} CPU cores this process may use" in err
    assert f"expected at most {cores}" in err and not list(tmp_path.iterdir())

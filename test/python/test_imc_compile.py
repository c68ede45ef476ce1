"""`imc-compile`: the main job, end to end, with the default and the tiled pipeline."""

import json

import pytest

from imc.tools.imc_compile import main

SPAD_4K = """name = "spad-4k"
base = "default"

[memory]
scratchpad_bytes = 4096
"""


def test_tiled_pipeline_compiles_runs_and_reports(tmp_path, capsys):
    hw = tmp_path / "spad-4k.toml"
    hw.write_text(SPAD_4K)
    out = tmp_path / "out"
    assert main(["lenet5", "--hardware", str(hw), "--pipeline", "imc-tiled", "--out-dir", str(out), "--remarks"]) == 0
    text = capsys.readouterr().out
    assert "[imc-tile-rows] tiled over output rows" in text
    assert "stored row tile by row tile" in text  # conv1's result, read by the pool
    assert "model input streamed in rows" in text
    assert "placement verified" in text
    report = json.loads((out / "lenet5.json").read_text())
    totals = report["totals"]
    assert report["max_relative_error"] < 1e-4
    assert totals["dram_read_bytes"] + totals["dram_write_bytes"] >= report["layer_at_a_time_bound_bytes"] > 0


def test_the_timeline_is_printed_written_and_traced(tmp_path, capsys):
    out = tmp_path / "out"
    trace = tmp_path / "trace.json"
    assert main(["lenet5", "--out-dir", str(out), "--trace", str(trace)]) == 0
    text = capsys.readouterr().out
    assert "timeline: a warm call takes" in text
    timeline = json.loads((out / "lenet5.json").read_text())["timeline"]
    assert timeline["warm_makespan_ns"] >= timeline["bound_ns"] > 0
    assert {layer["name"] for layer in timeline["layers"]} >= {"conv1", "fc1"}
    assert any(e["ph"] == "X" for e in json.loads(trace.read_text())["traceEvents"])


def test_no_timeline_skips_it_and_refuses_a_trace(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["mlp", "--out-dir", str(out), "--no-timeline"]) == 0
    assert "timeline:" not in capsys.readouterr().out
    assert "timeline" not in json.loads((out / "mlp.json").read_text())
    with pytest.raises(SystemExit) as exc:
        main(["mlp", "--out-dir", str(out), "--no-timeline", "--trace", str(tmp_path / "t.json")])
    assert exc.value.code == 2
    assert "--trace needs the timeline" in capsys.readouterr().err


def test_unknown_pipeline_is_an_error(tmp_path, capsys):
    assert main(["lenet5", "--pipeline", "imc-nonsense", "--out-dir", str(tmp_path)]) == 1
    assert "imc-nonsense" in capsys.readouterr().err


@pytest.mark.parametrize(
    "source, cls, message",
    [
        ("x = 1\nraise RuntimeError('no GPU here')\n", "M", "{path}:2: loading the model file raised RuntimeError: no GPU here"),
        ("def (:\n", "M", "{path}:1: not a Python file: invalid syntax"),
        (
            "import torch\nclass M(torch.nn.Module):\n    def __init__(self, n):\n        super().__init__()\n",
            "M",
            "{path}: M() raised TypeError:",
        ),
    ],
)
def test_a_model_file_that_fails_is_one_line(tmp_path, capsys, source, cls, message):
    """Found by the fuzz suite: the user's exception escaped with a traceback."""
    path = tmp_path / "model.py"
    path.write_text(source)
    assert main([f"{path}:{cls}", "--input-shape", "1,8", "--out-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"imc-compile: error: {message.format(path=path)}" in err
    assert "Traceback" not in err


CONV_BN = """import torch


class ConvBN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(self.conv(x))
"""


@pytest.mark.parametrize("fold", [True, False])
def test_batchnorm_is_folded_unless_asked_not_to(tmp_path, fold):
    path = tmp_path / "conv_bn.py"
    path.write_text(CONV_BN)
    out = tmp_path / "out"
    extra = [] if fold else ["--no-fold-batchnorm"]
    argv = [f"{path}:ConvBN", "--input-shape", "1,3,8,8", "--out-dir", str(out), "--no-timeline", *extra]
    assert main(argv) == 0
    report = json.loads((out / "conv_bn.json").read_text())
    assert report["max_relative_error"] < 1e-4
    assert ("bn" in {layer["name"] for layer in report["layers"]}) != fold

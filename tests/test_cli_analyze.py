"""``weightspace analyze`` end to end through typer's CliRunner."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from weightspace.cli import app
from weightspace.cli.analyze import _parse_layers, demo_model

runner = CliRunner()


def _run(*args: str) -> object:
    return runner.invoke(app, ["analyze", *args, "--quiet", "--threads", "1"])


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    weights = {"conv.weight": torch.randn(16, 3, 3, 3), "fc.weight": torch.randn(48, 64),
               "head.weight": torch.randn(4, 48), "head.bias": torch.zeros(4)}  # fmt: skip
    path = tmp_path_factory.mktemp("m") / "model.safetensors"
    save_file(weights, str(path))  # file order: conv, fc, head.bias, head (by name)
    return path


def test_demo_prints_table_and_summary() -> None:
    result = _run("demo")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for token in ("layer_id", "longname", "alpha", "stable_rank", "conv1", "fc1", "fc2"):
        assert token in out
    assert "layers: 4 success, 0 failed, 0 skipped" in out and "median" in out
    # the heavy-tailed fc1 has the smallest alpha of the demo's layers
    table = {line.split()[1]: line.split() for line in out.splitlines()[1:5]}
    alphas = {name: float(cols[2]) for name, cols in table.items()}
    assert min(alphas, key=alphas.get) == "fc1"


def test_demo_model_is_deterministic() -> None:
    a, b = demo_model(), demo_model()
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q), name


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_out_formats(tmp_path: Path, model_file: Path, suffix: str) -> None:
    out = tmp_path / f"table{suffix}"
    result = _run(str(model_file), "--out", str(out))
    assert result.exit_code == 0, result.output
    if suffix == ".csv":
        df = pd.read_csv(out)
    elif suffix == ".parquet":
        df = pd.read_parquet(out)
    else:
        df = pd.read_json(out, orient="records")
    assert list(df["longname"]) == ["conv", "fc", "head"]
    assert list(df["layer_id"]) == [0, 1, 3]
    assert list(df["status"]) == ["success", "success", "skipped"]
    assert df.loc[2, "reason"] == "num_evals 4 < min_evals 8"
    assert {"alpha", "D", "log_norm", "stable_rank", "reason", "compat"} <= set(df.columns)
    assert df["alpha"].iloc[:2].notna().all()
    assert "num_evals 4 < min_evals 8" in result.stdout  # the reason is on the printed table


def test_compat_layers_and_min_evals(tmp_path: Path, model_file: Path) -> None:
    out = tmp_path / "t.csv"
    result = _run(str(model_file), "--compat", "ww", "--layers", "1,head", "--min-evals", "2",
                  "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out)
    assert list(df["longname"]) == ["fc", "head"] and (df["compat"] == "ww").all()
    assert list(df["status"]) == ["success", "success"]


def test_plot_writes_one_png_per_analysed_layer(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    plots = tmp_path / "plots"
    result = _run("demo", "--plot", str(plots), "--mp-fit")
    assert result.exit_code == 0, result.output
    pngs = sorted(p.name for p in plots.glob("*.png"))
    assert pngs == ["001_conv1.png", "003_conv2.png", "008_fc1.png", "010_fc2.png"]
    assert all((plots / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/model.safetensors"], "no such file or directory"),
        (["demo", "--out", "table.xlsx"], "unknown table format '.xlsx'"),
        (["demo", "--layers", "nope*"], "matches no layer"),
        (["demo", "--min-evals", "-3"], "min_evals must be an integer >= 0"),
    ],
)
def test_bad_input_exits_2_with_message(args: list[str], message: str) -> None:
    result = _run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "error:" in result.output


def test_garbage_and_malicious_files_exit_2(tmp_path: Path) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    result = _run(str(junk))
    assert result.exit_code == 2 and "cannot read" in result.output

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    torch.save({"w": Payload()}, evil)
    result = _run(str(evil))
    assert result.exit_code == 2 and "refusing" in result.output
    assert not marker.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_without_cuda_exits_2() -> None:
    result = _run("demo", "--device", "cuda")
    assert result.exit_code == 2 and "no CUDA device" in result.output


def test_parse_layers() -> None:
    assert _parse_layers(["3", "fc,layer1.*", " 10 "]) == [3, "fc", "layer1.*", 10]
    assert _parse_layers(None) is None and _parse_layers([","]) is None


def test_directory_prints_a_progress_line_per_matrix(tmp_path: Path) -> None:
    root = tmp_path / "sharded"
    root.mkdir()
    torch.manual_seed(1)
    save_file({"a.weight": torch.randn(40, 24).to(torch.bfloat16)}, str(root / "m-1.safetensors"))
    save_file({"b.weight": torch.randn(30, 50), "c.weight": torch.randn(2, 3)},
              str(root / "m-2.safetensors"))  # fmt: skip
    result = runner.invoke(app, ["analyze", str(root), "--threads", "1"])
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("analyze ")]
    assert [ln.split(":")[0] for ln in lines] == ["analyze 1/3 a", "analyze 2/3 b", "analyze 3/3 c"]
    assert all(ln.endswith(" s total)") for ln in lines)
    quiet = runner.invoke(app, ["analyze", str(root), "--threads", "1", "--quiet"])
    assert quiet.exit_code == 0 and "analyze 1/3" not in quiet.stderr


def _run_cli(args: list[str]) -> dict[str, object]:
    """Run the CLI in a fresh interpreter; report the exit code and which heavy modules loaded."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from weightspace.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "    rc = 0\n"
        "except SystemExit as e:\n"
        "    rc = e.code or 0\n"
        "print(json.dumps({'rc': rc, 'torch': 'torch' in sys.modules,\n"
        "                  'pandas': 'pandas' in sys.modules}))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_help_imports_no_sub_command() -> None:
    seen = _run_cli(["--help"])
    assert seen == {"rc": 0, "torch": False, "pandas": False}


def test_analyze_of_weights_files_never_imports_torch(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    save_file({"fc.weight": rng.standard_normal((64, 32)).astype(np.float32)},
              str(tmp_path / "m.safetensors"))  # fmt: skip
    np.savez(tmp_path / "m.npz", fc=rng.standard_normal((64, 32)))
    names = ["m.safetensors", "m.npz"]
    try:
        import onnx
        from onnx import helper, numpy_helper

        init = numpy_helper.from_array(rng.standard_normal((64, 32)).astype(np.float32), "fc")
        graph = helper.make_graph([], "g", [], [], initializer=[init])
        onnx.save(helper.make_model(graph), str(tmp_path / "m.onnx"))
        names.append("m.onnx")
    except ImportError:  # the onnx extra is optional
        pass
    for name in names:
        seen = _run_cli(["analyze", str(tmp_path / name), "-q", "--threads", "1"])
        assert seen == {"rc": 0, "torch": False, "pandas": True}, name


def test_listed_help_is_each_commands_own_first_line() -> None:
    from weightspace.cli._app import COMMANDS, real_command

    for name, short in COMMANDS.items():
        real = real_command(name)
        first = " ".join((real.help or "").strip().split("\n\n")[0].split())
        assert first == short, name

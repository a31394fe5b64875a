"""`weightspace study` on the command line: dry run, overrides, errors."""

from __future__ import annotations

import typer
from typer.testing import CliRunner


def invoke(args: list[str]):
    from weightspace.cli import app

    command = typer.main.get_command(app)
    if not isinstance(command, typer.core.TyperGroup):  # only `study` registered
        args = args[1:]
    return CliRunner().invoke(app, args)


def test_dry_run_of_the_default_preset_lists_its_69_pending_runs(tmp_path):
    """The main job's design: the baseline at 9 seeds, the 20 other conditions at 3 of them
    in rotation (the k-th condition at seeds k, k+1, k+2 modulo 9)."""
    result = invoke(["study", "--dry-run", "--out", str(tmp_path / "q")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["condition", "category", "strength", "seed", "run_id", "status"]
    rows = [line.split() for line in lines[1:] if line.strip().endswith("pending")]
    assert len(rows) == 69
    assert rows[0][:3] == ["bs", "bs", "-"] and rows[-1][:2] == ["divAuto3", "div"]
    assert ["wd5e-05", "wd", "5e-05"] in [r[:3] for r in rows]
    assert sorted(int(r[3]) for r in rows if r[0] == "bs") == list(range(9))
    assert [int(r[3]) for r in rows if r[0] == "dp0.1"] == [0, 1, 2]
    assert [int(r[3]) for r in rows if r[0] == "divAuto3"] == [
        1,
        2,
        3,
    ]  # the 20th: 19, 20, 21 mod 9
    assert "69 runs (69 pending)" in result.output and "estimated" in result.output
    assert not (tmp_path / "q").exists()  # a dry run writes nothing


def test_dry_run_with_a_spec_file_and_overrides(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('[study]\nname = "mine"\n[conditions]\ndropout = [0.1]\nbaseline = true\n')
    result = invoke(
        [
            "study",
            str(spec),
            "--seeds",
            "0",
            "--seeds",
            "1",
            "--seeds",
            "2",
            "--epochs",
            "1",
            "--dry-run",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "6 runs (6 pending) in studies/mine" in result.output


def test_errors_exit_2_with_the_reason(tmp_path, capsys):
    from weightspace.cli import main

    spec = tmp_path / "s.toml"
    spec.write_text("[train]\nepoch = 3\n")
    for args, fragment in [
        (["study", str(spec), "--dry-run"], "did you mean 'epochs'?"),
        (["study", "--preset", "scrach", "--dry-run"], "did you mean 'scratch'?"),
        (["study", str(spec), "--preset", "quick"], "not both"),
    ]:
        try:
            main(args)
        except SystemExit as exit_:
            assert exit_.code == 2, args
        else:
            raise AssertionError(f"{args} did not exit")
        err = capsys.readouterr().err
        assert err.startswith("error: ") and fragment in err, (args, err)

"""The ``socmc`` command line: version, one-line errors, the steady-state table."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from surrogate import cli

ROOT = Path(__file__).resolve().parents[1]


def test_entry_point_is_in_the_top_floor():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["socmc"] == "surrogate.cli:main"
    assert not (ROOT / "socmodels" / "cli.py").exists()  # socmodels must not import surrogate


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"socmc {version('socmc')}"


def test_version_as_a_module():
    proc = subprocess.run([sys.executable, "-m", "surrogate.cli", "--version"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("socmc ")


def test_config_error_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("calibration:\n  num_chains: 0\n")
    rc = cli.main(["run", "--config", str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "calibration.num_chains: must be >= 1 (got 0)" in err and str(bad) in err
    assert not (tmp_path / "o").exists()  # nothing started


def test_other_errors_are_one_line_and_debug_shows_the_traceback(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    args = ["run", "--preset", "tiny", "--out", str(blocker)]
    rc = cli.main(args)
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1
    assert err.startswith("socmc: FileExistsError:") and "--debug" in err
    with pytest.raises(FileExistsError):
        cli.main(["--debug", *args])
    with pytest.raises(FileExistsError):
        cli.main([*args, "--debug"])
    assert cli.main(args) == 1  # (--debug is off unless given)
    capsys.readouterr()


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "--preset", "huge"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.fixture(scope="module")
def rows():
    return cli.steady_state_examples()


def test_steady_state_rows(rows):
    from surrogate.config import model_names

    assert len(rows) == len(cli.EXAMPLE_SITES) * len(model_names())
    for r in rows:
        assert r["stock_0_1m_kgC_m2"] <= r["stock_total_kgC_m2"] * (1 + 1e-9)
        # in steady state, respiration balances the input
        assert r["respiration_gC_m2_yr"] == pytest.approx(r["input_gC_m2_yr"], rel=1e-6)
        assert r["feasible"] == (r["status"] == 0)
        assert bool(r["reasons"]) == (not r["feasible"])


def test_steady_state_table_explains_infeasible_rows(rows):
    text = cli._table(rows)
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["site", "model"] and "kgC m-2" in lines[1]
    for r in rows:
        assert any(line.startswith(r["site"]) and r["model"] in line for line in lines)
    bad = [r for r in rows if not r["feasible"]]
    if bad:
        assert "Infeasible steady states" in text
        for r in bad:
            assert f"{r['site']} / {r['model']}: " + "; ".join(r["reasons"]) in text
    # an infeasible row is explained even if every example is feasible today
    fake = [dict(rows[0], feasible=False, status=1, reasons=["non-finite pools"])]
    assert "non-finite pools" in cli._table(fake) and "NO (see below)" in cli._table(fake)


def test_steady_state_command(rows, capsys, monkeypatch):
    monkeypatch.setattr(cli, "steady_state_examples", lambda: rows)
    assert cli.main(["steady-state", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == rows
    assert cli.main(["steady-state"]) == 0
    assert capsys.readouterr().out.strip() == cli._table(rows)

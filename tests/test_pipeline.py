"""The whole PRODA pipeline end to end on a tiny virtual world (smoke + consistency)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from surrogate.pipeline import ConfigError, load_config, run_pipeline


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline")
    cfg = load_config(preset="tiny", out=str(out))
    summary = run_pipeline(cfg)
    return out, cfg, summary


def test_pipeline_writes_all_outputs(tiny_run):
    out, cfg, summary = tiny_run
    for f in ("report.md", "analyses.json", "maps/clm5.nc", "maps/compas.nc",
              "figures/soc_maps.png", "network/clm5_ensemble.npz", "config.json"):
        assert (out / f).exists(), f
    res = json.loads((out / "analyses.json").read_text())
    for m in ("clm5", "compas"):
        r = res["models"][m]
        assert r["sites"]["n"] > 0 and 0 < r["sites"]["kept"] <= r["sites"]["n"]
        assert np.isfinite(r["heldout"]["nse"]) and r["heldout"]["n_profiles"] > 0
        assert r["total_PgC_proda"] > 0
        ds = xr.load_dataset(out / "maps" / f"{m}.nc")
        land = np.isfinite(ds["stock_1m"].values)
        assert land.sum() > 10
        assert np.all(ds["stock_1m"].values[land] > 0)
    assert -1 <= res["log_soc_correlation"]["proda"] <= 1
    report = (out / "report.md").read_text()
    assert "Correlation of log SOC" in report and "Truth recovery" in report


def test_pipeline_resumes_without_redoing(tiny_run):
    out, cfg, _ = tiny_run
    stamp = {p.name: p.stat().st_mtime for p in (out / "stages").glob("*.json")
             if not p.name.startswith("report")}
    maps_mtime = (out / "maps" / "clm5.nc").stat().st_mtime
    run_pipeline(cfg)
    assert (out / "maps" / "clm5.nc").stat().st_mtime == maps_mtime
    for name, t in stamp.items():
        assert (out / "stages" / name).stat().st_mtime == t, name


def test_config_rejects_unknown_keys(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("calibration:\n  num_warmpu: 10\n")
    with pytest.raises(ConfigError, match="num_warmpu"):
        load_config(str(p))
    with pytest.raises(ConfigError, match="preset"):
        load_config(preset="huge")

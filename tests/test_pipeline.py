"""The whole PRODA pipeline end to end on a tiny virtual world: outputs, fingerprinted resume.

One tiny-preset run (module fixture) is shared by every test here; the tests that change the
configuration run only the stages downstream of the change.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import xarray as xr

from surrogate import pipeline
from surrogate.pipeline import (
    ConfigError,
    load_config,
    plausibility_flags,
    run_pipeline,
    stage_plan,
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline")
    cfg = load_config(preset="tiny", out=str(out))
    summary = run_pipeline(cfg)
    return out, cfg, summary


def _mtimes(out) -> dict[str, float]:
    """Modification times of every file the pipeline wrote (config.json aside)."""
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*")
            if p.is_file() and p.name != "config.json"}


def _markers(out) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "stages").glob("*.json")}


def test_pipeline_writes_all_outputs(tiny_run):
    out, cfg, summary = tiny_run
    for f in ("report.md", "analyses.json", "maps/clm5.nc", "maps/compas.nc",
              "figures/soc_maps.png", "network/clm5_ensemble.npz", "config.json"):
        assert (out / f).exists(), f
    res = json.loads((out / "analyses.json").read_text())
    for m in ("clm5", "compas"):
        r = res["models"][m]
        assert r["sites"]["n"] > 0 and 0 < r["sites"]["kept"] <= r["sites"]["n"]
        # the mixed virtual world: counts per generating model add up to the totals
        by_gen = r["sites"]["by_generator"]
        assert set(by_gen) == {"clm5", "compas"}
        for key in ("n", "kept"):
            assert sum(b[key] for b in by_gen.values()) == r["sites"][key]
        assert all(b["kept"] <= b["n"] and b["converged"] <= b["n"] for b in by_gen.values())
        assert np.isfinite(r["heldout"]["nse"]) and r["heldout"]["n_profiles"] > 0
        assert r["total_PgC_proda"] > 0
        ds = xr.load_dataset(out / "maps" / f"{m}.nc")
        land = np.isfinite(ds["stock_1m"].values)
        assert land.sum() > 10
        assert np.all(ds["stock_1m"].values[land] > 0)
    assert -1 <= res["log_soc_correlation"]["proda"] <= 1
    report = (out / "report.md").read_text()
    assert "Correlation of log SOC" in report and "Truth recovery" in report
    assert "| sites COMPAS generated: calibrated / kept |" in report
    # the report's flags are those of its numbers
    assert summary["flags"] == plausibility_flags(res)
    for flag in summary["flags"]:
        assert flag in report
    assert json.loads((out / "config.json").read_text()) == cfg


def test_markers_record_fingerprints(tiny_run):
    out, cfg, _ = tiny_run
    plan = stage_plan(cfg)
    markers = _markers(out)
    assert set(markers) == set(plan)
    for name, m in markers.items():
        assert m["status"] == "done" and m["fingerprint"] == plan[name]["fingerprint"], name
        assert m["seconds"] >= 0
    assert markers["network_clm5"]["inputs"]["network"] == cfg["network"]
    assert markers["network_clm5"]["upstream"] == {
        "data": plan["data"]["fingerprint"],
        "calibrate_clm5": plan["calibrate_clm5"]["fingerprint"]}


def test_noop_rerun_recomputes_nothing(tiny_run, capsys):
    out, cfg, summary = tiny_run
    before = _mtimes(out)
    again = run_pipeline(copy.deepcopy(cfg))
    assert "nothing to do" in capsys.readouterr().out
    assert _mtimes(out) == before
    assert again == json.loads((out / "summary.json").read_text())


def _changed(cfg, **sections) -> dict:
    new = copy.deepcopy(cfg)
    for section, values in sections.items():
        new[section].update(values)
    return new


def test_stage_plan_follows_the_changes():
    cfg = load_config(preset="tiny", out="x")
    base = stage_plan(cfg)

    def rerun(**sections) -> set[str]:
        plan = stage_plan(_changed(cfg, **sections))
        return {s for s in plan if plan[s]["fingerprint"] != base[s]["fingerprint"]}

    later = {"maps", "analyses", "comparison", "report"}
    assert rerun() == set()
    assert rerun(calibration={"chunk_size": 7}) == set()  # batching only
    assert rerun(network={"n_members": 3}) == {"network_clm5", "network_compas"} | later
    every_cal = {"calibrate_clm5", "calibrate_compas"}
    every_net = {"network_clm5", "network_compas"}
    assert rerun(calibration={"num_samples": 401}) == every_cal | every_net | later
    # a per-model sampler space reruns that model's chains only (the default samples COMPAS
    # in its feasible space; the same mapping given again changes nothing)
    assert cfg["calibration"]["space"] == {"compas": "feasible"}
    assert rerun(calibration={"space": {"compas": "feasible"}}) == set()
    assert rerun(calibration={"space": {}}) == {"calibrate_compas", "network_compas"} | later
    # run until converged: the criterion decides when chains stop, so it redoes them
    assert rerun(calibration={"max_segments": 3}) == every_cal | every_net | later
    conv = _changed(cfg, calibration={"max_segments": 3})
    assert stage_plan(_changed(conv, calibration={"rhat_max": 1.05}))["calibrate_clm5"][
        "core"] != stage_plan(conv)["calibrate_clm5"]["core"]
    assert rerun(data={"noise_sd": 0.3}) == {"data"} | every_cal | every_net | later
    # a pure world is another world; unset (the mixed world) keeps the old fingerprints
    assert rerun(data={"generators": ["compas"]}) == {"data"} | every_cal | every_net | later
    assert "generators" not in base["data"]["inputs"]["data"]
    # the chains are redone for a sampler change, reused for a screening change
    assert stage_plan(_changed(cfg, calibration={"num_samples": 401}))["calibrate_clm5"][
        "core"] != base["calibrate_clm5"]["core"]
    assert stage_plan(_changed(cfg, calibration={"rhat_max": 3.0}))["calibrate_clm5"][
        "core"] == base["calibrate_clm5"]["core"]
    assert stage_plan(_changed(cfg, data={"noise_sd": 0.3}))["calibrate_clm5"][
        "core"] != base["calibrate_clm5"]["core"]


class _Killed(Exception):
    pass


def test_changed_config_kill_and_resume(tiny_run, monkeypatch, capsys):
    """Change the network and the screening, die in the maps stage, resume, then no-op."""
    out, cfg, _ = tiny_run
    new = _changed(cfg, network={"n_members": 1}, calibration={"rhat_max": 9.0})
    chunks = {p: t for p, t in _mtimes(out).items() if "/chunks/" in p}
    assert chunks
    old_maps = _mtimes(out)["maps/clm5.nc"]

    from surrogate import _proda

    def die(*args, **kwargs):
        raise _Killed

    with monkeypatch.context() as m:
        m.setattr(_proda, "make_maps", die)
        with pytest.raises(_Killed):
            run_pipeline(new)
    log = capsys.readouterr().out
    assert "calibration.rhat_max" in log and "network.n_members" in log
    markers = _markers(out)
    plan = stage_plan(new)
    for name in ("calibrate_clm5", "calibrate_compas", "network_clm5", "network_compas"):
        assert markers[name]["status"] == "done"
        assert markers[name]["fingerprint"] == plan[name]["fingerprint"]
    assert markers["maps"]["status"] == "running"
    assert markers["report"]["fingerprint"] != plan["report"]["fingerprint"]
    assert json.loads((out / "config.json").read_text()) == new
    # the screening changed, not the sampler: the chains were reused, not redone
    now = _mtimes(out)
    assert {p: now[p] for p in chunks} == chunks
    from surrogate import load_ensemble

    assert len(load_ensemble(out / "network" / "clm5_ensemble.npz")) == 1

    between = _mtimes(out)
    run_pipeline(new)
    log = capsys.readouterr().out
    assert "stage 3/6 network" not in log and "stage 2/6 calibrate" not in log
    after = _mtimes(out)
    for f in ("network/clm5_ensemble.npz", "stages/calibrate_clm5.json"):
        assert after[f] == between[f], f
    assert after["maps/clm5.nc"] != old_maps
    assert _markers(out)["report"]["fingerprint"] == plan["report"]["fingerprint"]
    assert "R-hat <= 9.0" in (out / "report.md").read_text()

    run_pipeline(new)
    assert "nothing to do" in capsys.readouterr().out
    assert _mtimes(out) == after


def test_sampler_change_redoes_the_chains(tiny_run, monkeypatch):
    """A changed sampler budget passes ``overwrite=True`` to the runner (no stale chains)."""
    out, cfg, _ = tiny_run
    seen = {}

    def fake_calibrate(cfg_, out_, world, model, *, overwrite=False):
        seen[model] = overwrite
        raise _Killed

    with monkeypatch.context() as m:
        m.setattr(pipeline, "_world", lambda *a: None)
        m.setattr(pipeline, "_calibrate", fake_calibrate)
        with pytest.raises(_Killed):
            run_pipeline(_changed(cfg, calibration={"num_samples": 401}))
        assert seen == {"clm5": True}
        # a run killed in the calibration resumes it (same fingerprint: no overwrite)
        with pytest.raises(_Killed):
            run_pipeline(_changed(cfg, calibration={"num_samples": 401}))
        assert seen == {"clm5": False}


def test_plausibility_flags():
    ok = {"models": {"clm5": {"total_PgC_proda": 1500.0, "total_PgC_customary": 2100.0,
                              "feasible_cells_fraction": 1.0,
                              "heldout": {"feasible_fraction": 1.0}}}}
    assert plausibility_flags(ok) == []
    bad = copy.deepcopy(ok)
    bad["models"]["clm5"].update(total_PgC_proda=7623.0, total_PgC_customary=float("nan"),
                                 feasible_cells_fraction=0.7)
    flags = plausibility_flags(bad)
    assert len(flags) == 3
    assert "7,623 Pg C" in flags[0] and "500-5,000" in flags[0]
    assert "nan" in flags[1] and "30 %" in flags[2]


def test_config_rejects_unknown_keys(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("calibration:\n  num_warmpu: 10\n")
    with pytest.raises(ConfigError, match="num_warmpu"):
        load_config(str(p))
    with pytest.raises(ConfigError, match="preset"):
        load_config(preset="huge")


def _write_user_data(folder, n_sites=12, seed=1):
    """A small CSV of profiles, a climate table and a covariate table (synthetic)."""
    rng = np.random.default_rng(seed)
    rows = ["profile_id,lat,lon,upper_depth,lower_depth,soc,bulk_density"]
    clim = ["profile_id,mat,mat_amplitude,moisture,npp"]
    cov = ["profile_id,elevation,aridity,clay"]
    for k in range(n_sites):
        pid = f"P{k:02d}"
        lat, lon = rng.uniform(-40, 60), rng.uniform(-120, 140)
        mat = 25 - 0.4 * abs(lat) + rng.normal(0, 2)
        top = rng.uniform(15, 40)  # g/kg in the topsoil
        for up, lo in ((0, 10), (10, 30), (30, 60), (60, 100)):
            soc = top * np.exp(-(up + lo) / 2 / 40) * rng.lognormal(0, 0.1)
            rows.append(f"{pid},{lat:.2f},{lon:.2f},{up},{lo},{soc:.2f},1.3")
        clim.append(f"{pid},{mat:.1f},{rng.uniform(2, 15):.1f},{rng.uniform(0.3, 0.9):.2f},"
                    f"{rng.uniform(200, 900):.0f}")
        cov.append(f"{pid},{rng.uniform(0, 2000):.0f},{rng.uniform(0, 1):.2f},"
                   f"{rng.uniform(5, 50):.1f}")
    for name, lines in (("profiles.csv", rows), ("climate.csv", clim), ("covariates.csv", cov)):
        (folder / name).write_text("\n".join(lines) + "\n")
    (folder / "run.yaml").write_text(
        "models: [clm5]\n"
        "data: {source: csv, path: profiles.csv, climate: {kind: sites, path: climate.csv},"
        " covariates: covariates.csv, reader: {soc_unit: g/kg}}\n"
        "calibration: {num_warmup: 200, num_samples: 100, num_chains: 2, num_draws: 20,"
        " chunk_size: 16, rhat_max: 100.0, ess_min: 0.0, max_segments: null, nse_min: -1000.0}\n"
        "network: {n_members: 1, max_epochs: 10, patience: 5, hidden: [8],"
        " epochs_per_call: 5, heldout_fraction: 0.25}\n")


def test_run_on_your_own_csv(tmp_path, capsys):
    """``data.source: csv`` with per-site climate and covariate tables: calibrate, network,
    report; no map grid, so maps and analyses are skipped with a note; a changed climate
    file reruns everything."""
    _write_user_data(tmp_path)
    cfg = load_config(str(tmp_path / "run.yaml"), out=str(tmp_path / "out"))
    assert cfg["data"]["path"] == str(tmp_path / "profiles.csv")  # relative to the config
    summary = run_pipeline(cfg)
    out = tmp_path / "out"
    report = (out / "report.md").read_text()
    assert "Maps and map analyses skipped" in report and "| CLM5 | 12 / " in report
    assert "per-site table" in report and "Truth recovery" not in report
    assert "elevation, aridity, clay" in report          # the table's covariates are used
    markers = _markers(out)
    assert set(markers) == {"data", "calibrate_clm5", "network_clm5", "maps", "analyses",
                            "report"}
    assert markers["maps"]["skipped"] and markers["analyses"]["skipped"]
    assert np.isfinite(summary["heldout_nse"]["clm5"])
    assert not (out / "maps" / "clm5.nc").exists()
    capsys.readouterr()
    run_pipeline(cfg)
    assert "nothing to do" in capsys.readouterr().out
    # the climate file is an input: editing it reruns the calibration (all chains redone)
    text = (tmp_path / "climate.csv").read_text().replace(",0.", ",0.0", 1)
    (tmp_path / "climate.csv").write_text(text)
    plan = stage_plan(cfg)
    assert _markers(out)["calibrate_clm5"]["core"] != plan["calibrate_clm5"]["core"]


def _wosis_config(tmp_path, climate_rows: str, covariates: str | None = None) -> dict:
    from pathlib import Path

    wosis = Path(__file__).parent / "fixtures" / "data" / "wosis_2019"
    (tmp_path / "climate.csv").write_text("profile_id,mat,mat_amplitude,moisture,npp\n"
                                          + climate_rows)
    cov = ""
    if covariates is not None:
        (tmp_path / "cov.csv").write_text(covariates)
        cov = ", covariates: cov.csv"
    (tmp_path / "run.yaml").write_text(
        f"data: {{source: wosis, path: {wosis}, climate: {{kind: sites, path: climate.csv}}"
        f"{cov}}}\n")
    return load_config(str(tmp_path / "run.yaml"), out=str(tmp_path / "out"))


_IDS = (101, 102, 105, 107, 108)


def test_site_climate_from_a_wosis_folder(tmp_path):
    """``climate: {kind: sites}``: one row per profile_id -> ``climate_forcing``; no grid."""
    rows = "".join(f"{p},{t},8,0.6,{n}\n" for p, t, n in
                   ((101, 10, 500), (102, 26, 1100), (105, 20, 700), (107, 27, 900),
                    (108, -2, 200), (999, 5, 300)))  # 999: not in the download, ignored
    cfg = _wosis_config(tmp_path, rows, "profile_id,clay\n" +
                        "".join(f"{p},{10 + k}\n" for k, p in enumerate(_IDS)))
    site = pipeline._world(cfg, tmp_path / "out")
    ids = [str(p) for p in site.profiles["profile_id"].values]
    assert ids == [str(p) for p in _IDS]
    f = site.forcing
    total = sum(np.asarray(getattr(f, k)) for k in
                ("input_cwd", "input_litr1", "input_litr2", "input_litr3"))
    np.testing.assert_allclose(total, [500, 1100, 700, 900, 200])  # NPP = total input, row order
    assert np.asarray(f.tsoi).shape == (len(ids), 12, 20)
    assert site.grid is None and site.grid_cells is None
    assert list(site.covariates.columns) == ["Lon", "Lat", "BIO1", "BIO4", "cesm2_npp", "clay"]
    np.testing.assert_allclose(site.covariates["clay"], [10, 11, 12, 13, 14])
    np.testing.assert_allclose(site.covariates["BIO1"], [10, 26, 20, 27, -2])
    assert set(stage_plan(cfg)["data"]["inputs"]["files"]) == {"path", "climate.path",
                                                               "covariates"}


@pytest.mark.parametrize(("rows", "cov", "expected"), [
    ("101,10,8,0.6,500\n", None,
     "climate.csv', column 'profile_id': no climate for 4 profile(s), e.g. ['102', '105',"),
    ("".join(f"{p},10,8,0.6\n" for p in _IDS), None,
     "climate.csv', column 'npp': empty for profile(s) ['101', '102'"),
    ("".join(f"{p},10,8,0.6,x\n" for p in _IDS), None,
     "climate.csv', column 'npp': not a number for profile(s) ['101'"),
    ("".join(f"{p},10,8,0.6,500\n" for p in (101, *_IDS)), None,
     "climate.csv', column 'profile_id': profile_id ['101'] listed more than once"),
    ("".join(f"{p},10,8,0.6,500\n" for p in _IDS), "profile_id,clay\n101,3\n",
     "cov.csv', column 'profile_id': no covariates for 4 profile(s)"),
    ("".join(f"{p},10,8,0.6,500\n" for p in _IDS),
     "profile_id,clay\n" + "".join(f"{p},\n" for p in _IDS),
     "cov.csv', column 'clay': covariate 'clay' is missing at profile 101"),
], ids=["missing_rows", "empty", "non_numeric", "duplicate", "cov_missing_rows", "cov_nan"])
def test_site_climate_errors_name_the_file(tmp_path, rows, cov, expected):
    from socmodels.data import DataError

    cfg = _wosis_config(tmp_path, rows, cov)
    with pytest.raises(DataError) as info:
        pipeline._world(cfg, tmp_path / "out")
    assert expected in str(info.value)


def test_calibration_passes_the_model_space_to_run_sites(monkeypatch, tmp_path):
    import inference

    seen = {}

    def fake_run_sites(profiles, forcing, *, model, space, **kw):
        seen[model] = space
        return type("Run", (), {"table": None})()

    monkeypatch.setattr(inference, "run_sites", fake_run_sites)
    path = tmp_path / "c.yaml"
    path.write_text("calibration: {space: {compas: feasible}}\n")
    cfg = load_config(str(path), preset="tiny")
    world = type("World", (), {"profiles": None, "forcing": None})()
    for m in ("clm5", "compas"):
        pipeline._calibrate(cfg, tmp_path, world, m)
    assert seen == {"clm5": None, "compas": "feasible"}

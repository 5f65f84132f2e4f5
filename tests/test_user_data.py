"""``socmc run`` on a user's own data: WoSIS/CSV profiles + a climate table -> the pipeline.

A small user dataset is written with the project's own writers (a WoSIS web-service export
by :func:`socmodels.data.write_wosis`, a one-table CSV, a climate CSV on a 2-degree grid),
read by :func:`surrogate.sources.user_world`, and the whole pipeline is run on it with tiny
budgets (slow test). The fast tests check the world's shape and that every bad input gives
an error naming the file or config key.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from socmodels.data import DataError, write_covariates, write_wosis
from surrogate.sources import user_world

N_PROFILES = 16
DEPTHS = ((0, 10), (10, 30), (30, 60), (60, 100), (100, 150))


def _profiles(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    lat = np.round(rng.uniform(44.0, 56.0, N_PROFILES), 4)
    lon = np.round(rng.uniform(2.0, 20.0, N_PROFILES), 4)
    pid = 500 + np.arange(N_PROFILES)
    prof = pd.DataFrame({"profile_id": pid, "latitude": lat, "longitude": lon,
                         "dataset_id": "USER", "country_id": "EU", "licence": "CC-BY"})
    rows = []
    for p, la in zip(pid, lat, strict=True):
        top = 20.0 + 1.5 * (la - 44.0) + rng.normal(0, 3.0)      # g/kg in the topsoil
        for q, (u, lo) in enumerate(DEPTHS):
            mid = 0.5 * (u + lo)
            rows.append(dict(profile_id=p, profile_layer_id=p * 10 + q, upper_depth=u,
                             lower_depth=lo, layer_name=f"H{q}", litter=0,
                             orgc=top * np.exp(-mid / 45.0) * np.exp(rng.normal(0, 0.1)),
                             bdfiod=np.nan if q == 4 else 1.2 + 0.003 * mid,
                             bdfi33=1.2 + 0.003 * mid if q == 4 else np.nan, cfvo=5.0,
                             clay=20.0, sand=40.0, silt=40.0))
    return prof, pd.DataFrame(rows)


def _climate_table(path) -> None:
    la, lo = np.meshgrid(np.arange(40.0, 61.0, 2.0), np.arange(0.0, 25.0, 2.0), indexing="ij")
    la, lo = la.ravel(), lo.ravel()
    pd.DataFrame({"lat": la, "lon": lo, "mat": 16.0 - 0.6 * (la - 40.0) - 0.1 * lo,
                  "map": 600.0 + 15.0 * lo + 5.0 * (la - 40.0),
                  "mat_amplitude": 6.0 + 0.2 * lo}).to_csv(path, index=False)


@pytest.fixture(scope="module")
def user_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("userdata")
    prof, lay = _profiles(np.random.default_rng(3))
    write_wosis(root / "wosis", prof, lay, layout="webservice")
    m = lay.merge(prof, on="profile_id")
    pd.DataFrame({"profile_id": m["profile_id"], "lat": m["latitude"],
                  "lon": m["longitude"], "upper_depth": m["upper_depth"],
                  "lower_depth": m["lower_depth"], "soc": m["orgc"],
                  "bulk_density": m["bdfiod"].fillna(m["bdfi33"]),
                  "coarse_fragments": m["cfvo"]}).to_csv(root / "profiles.csv", index=False)
    _climate_table(root / "climate.csv")
    return root


def _cfg(root, **over):
    d = {"source": "wosis", "path": str(root / "wosis"),
         "climate": {"kind": "table", "path": str(root / "climate.csv")}}
    d.update(over)
    return d


def test_user_world_from_wosis_and_climate_table(user_files, tmp_path):
    w = user_world(_cfg(user_files), tmp_path, 0)
    n = w.profiles.sizes["profile"]
    assert n == N_PROFILES
    assert w.forcing.batch_shape == (n,)
    ids = [str(p) for p in w.profiles["profile_id"].values]
    assert list(w.covariates.index.astype(str)) == ids
    assert set(w.covariates.columns) == {"Lon", "Lat", "BIO1", "BIO4", "BIO12", "cesm2_npp"}
    np.testing.assert_allclose(w.covariates["Lat"], w.profiles["lat"].values)
    # the map grid is the climate table's 11 x 13 cells; every covariate is mapped
    assert w.grid.sizes == {"lat": 11, "lon": 13}
    assert len(w.grid_cells) == 143 and w.grid_forcing.batch_shape == (143,)
    for c in w.covariates.columns:
        assert np.all(np.isfinite(w.grid[c].values)), c
    # warmer cells have warmer soils: the forcing follows the table
    t_soil = np.asarray(w.forcing.tsoi).mean(axis=(1, 2))
    assert np.corrcoef(t_soil, w.covariates["BIO1"])[0, 1] > 0.99
    assert len(w.truth.data_vars) == 0
    assert w.info["climate_distance_km_max"] < 160
    assert (tmp_path / "data" / "screening.txt").exists()
    assert len(pd.read_csv(tmp_path / "data" / "sites.csv")) == n


def test_user_world_from_csv_matches_wosis(user_files, tmp_path):
    a = user_world(_cfg(user_files), tmp_path / "a", 0)
    b = user_world(_cfg(user_files, source="csv", path=str(user_files / "profiles.csv")),
                   tmp_path / "b", 0)
    np.testing.assert_allclose(np.asarray(a.forcing.tsoi), np.asarray(b.forcing.tsoi))
    np.testing.assert_allclose(a.profiles["soc_density"].values,
                               b.profiles["soc_density"].values, rtol=1e-8)


def test_covariate_grid_is_the_map_grid(user_files, tmp_path):
    lat, lon = np.arange(43.0, 58.0, 1.0), np.arange(1.0, 22.0, 1.0)
    la, _ = np.meshgrid(lat, lon, indexing="ij")
    clay = xr.DataArray(10.0 + la, dims=("lat", "lon"))
    clay[0, 0] = np.nan                                            # one sea cell
    write_covariates(xr.Dataset({"Clay_Content_0cm": clay}, coords={"lat": lat, "lon": lon}),
                     tmp_path / "cov.nc")
    w = user_world(_cfg(user_files, covariates=str(tmp_path / "cov.nc")), tmp_path, 0)
    assert "Clay_Content_0cm" in w.covariates.columns and "BIO1" in w.covariates.columns
    assert len(w.grid_cells) == lat.size * lon.size - 1
    assert w.grid_forcing.batch_shape == (len(w.grid_cells),)
    for c in w.covariates.columns:
        v = np.asarray(w.grid[c].values)[w.grid_cells["j"], w.grid_cells["i"]]
        assert np.all(np.isfinite(v)), c


def test_scattered_climate_points_give_no_grid(user_files, tmp_path):
    rng = np.random.default_rng(0)
    pd.DataFrame({"lat": rng.uniform(40, 60, 30), "lon": rng.uniform(0, 24, 30),
                  "mat": 8.0, "map": rng.uniform(500, 900, 30), "mat_amplitude": 8.0}
                 ).to_csv(tmp_path / "points.csv", index=False)
    w = user_world(_cfg(user_files, climate={"kind": "table",
                                             "path": str(tmp_path / "points.csv")}),
                   tmp_path, 0)
    assert w.grid is None and w.grid_cells is None and w.grid_forcing is None
    assert any("no map grid" in s for s in w.info["notes"])


@pytest.mark.parametrize("over, match", [
    ({"source": "excel"}, "data.source"),
    ({"path": "/nonexistent/wosis"}, "/nonexistent/wosis"),
    ({"climate": None}, "data.climate"),
    ({"climate": {"kind": "era5", "path": "x"}}, "data.climate.kind"),
    ({"climate": {"kind": "table", "path": "/no/climate.csv"}}, "/no/climate.csv"),
    ({"climate": {"kind": "table", "path": "CLIMATE", "years": [1, 2]}}, "years"),
    ({"reader": {"on_eror": "drop"}}, "on_eror"),
    ({"colour": 1}, "colour"),
])
def test_bad_config_names_the_key_or_file(user_files, tmp_path, over, match):
    cfg = _cfg(user_files, **over)
    if isinstance(cfg.get("climate"), dict) and cfg["climate"].get("path") == "CLIMATE":
        cfg["climate"]["path"] = str(user_files / "climate.csv")
    with pytest.raises(DataError, match=match):
        user_world(cfg, tmp_path, 0)


def test_site_far_from_the_climate_grid(user_files, tmp_path):
    cfg = _cfg(user_files)
    cfg["climate"]["max_distance_km"] = 10.0
    with pytest.raises(DataError, match="climate.csv.*km from"):
        user_world(cfg, tmp_path, 0)


def test_climate_table_without_precipitation(user_files, tmp_path):
    pd.read_csv(user_files / "climate.csv").drop(columns="map").to_csv(tmp_path / "c.csv",
                                                                       index=False)
    cfg = _cfg(user_files, climate={"kind": "table", "path": str(tmp_path / "c.csv")})
    with pytest.raises(DataError, match="c.csv.*'map'"):
        user_world(cfg, tmp_path, 0)


def _run_yaml(root, tmp_path, **data) -> str:
    """A ``socmc run`` config file for the user files (tiny budgets)."""
    import yaml

    cfg = {"preset": "tiny", "out": str(tmp_path / "run"), "data": _cfg(root, **data),
           "calibration": {"num_warmup": 300, "num_samples": 200, "num_draws": 20,
                           "chunk_size": 16, "rhat_max": 10.0, "nse_min": -1e9},
           "network": {"n_members": 2, "max_epochs": 10, "patience": 5, "hidden": [8, 8],
                       "epochs_per_call": 5, "heldout_fraction": 0.2}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_config_drives_the_data_stage(user_files, tmp_path):
    """``socmc run`` config -> ``_world`` = user_world; the input files are fingerprinted."""
    from surrogate import pipeline
    from surrogate.pipeline import load_config, stage_plan
    from surrogate.sources import UserWorld

    cfg = load_config(_run_yaml(user_files, tmp_path))
    w = pipeline._world(cfg, tmp_path / "run")
    assert isinstance(w, UserWorld) and w.profiles.sizes["profile"] == N_PROFILES
    assert w.grid is not None                              # the climate table is a grid
    plan = stage_plan(cfg)
    files = plan["data"]["inputs"]["files"]
    assert set(files) == {"path", "climate.path"}
    assert {"maps", "analyses", "network_clm5"} <= set(plan)
    # a second download folder: both hashed; a changed climate file: a new fingerprint
    second = tmp_path / "wosis2"
    import shutil

    shutil.copytree(user_files / "wosis", second)
    two = load_config(_run_yaml(user_files, tmp_path, path=[str(user_files / "wosis"),
                                                            str(second)]))
    assert set(stage_plan(two)["data"]["inputs"]["files"]) == {"path.0", "path.1",
                                                               "climate.path"}
    clim = tmp_path / "climate.csv"
    shutil.copy(user_files / "climate.csv", clim)
    moved = load_config(_run_yaml(user_files, tmp_path,
                                  climate={"kind": "table", "path": str(clim)}))
    before = stage_plan(moved)
    df = pd.read_csv(clim)
    df.loc[0, "mat"] += 1.0
    df.to_csv(clim, index=False)
    after = stage_plan(moved)
    key = "climate.path"
    assert after["data"]["inputs"]["files"][key] != before["data"]["inputs"]["files"][key]
    assert after["data"]["fingerprint"] != before["data"]["fingerprint"]
    assert after["calibrate_clm5"]["core"] != before["calibrate_clm5"]["core"]  # chains redone


@pytest.mark.slow
def test_whole_pipeline_on_user_data(user_files, tmp_path):
    """``socmc run`` end to end on a WoSIS folder + a gridded climate table (config file)."""
    from surrogate.pipeline import load_config, run_pipeline

    cfg = load_config(_run_yaml(user_files, tmp_path))
    run_pipeline(cfg)
    out = tmp_path / "run"
    res = json.loads((out / "analyses.json").read_text())
    for m in cfg["models"]:
        r = res["models"][m]
        assert r["sites"]["n"] == N_PROFILES
        assert r["recovery"] == {}                       # no truth for user data
        assert r["heldout"]["n_profiles"] > 0 and np.isfinite(r["heldout"]["nse"])
        ds = xr.load_dataset(out / "maps" / f"{m}.nc")
        assert ds["stock_1m"].shape == (11, 13)
        # every climate cell is a map cell (feasibility is 0/1 there, NaN nowhere); the
        # customary map does not depend on the (tiny, untrained) network
        assert set(np.unique(ds["feasible"].values)) <= {0.0, 1.0}
        assert np.all(ds["stock_1m_customary"].values[ds["feasible_customary"].values > 0]
                      > 0)
        assert np.nanmean(ds["feasible_customary"].values) > 0.5
    report = (out / "report.md").read_text()
    assert "Truth recovery" not in report                 # no truth for user data
    assert "Correlation of log SOC" in report


def test_user_world_from_cesm_history(user_files, tmp_path):
    from socmodels.data import climate_forcing, write_clm5_history

    lat, lon = np.arange(40.0, 61.0, 4.0), np.arange(0.0, 25.0, 4.0)
    land = np.ones((lat.size, lon.size), bool)
    land[0, -1] = False                                            # one sea cell
    j, i = np.nonzero(land)
    mat = 16.0 - 0.6 * (lat[j] - 40.0)
    forcing = climate_forcing(mat, np.full(j.size, 8.0), np.full(j.size, 0.6),
                              300.0 + 10.0 * lon[i], latitude=lat[j])
    write_clm5_history(tmp_path / "case.clm2.h0.0001.nc", forcing, lat, lon, land)
    cfg = _cfg(user_files, climate={"kind": "cesm",
                                    "path": str(tmp_path / "case.clm2.h0.*.nc")})
    w = user_world(cfg, tmp_path, 0)
    assert set(w.covariates.columns) == {"Lon", "Lat", "cesm2_npp", "nbedrock"}
    assert w.info["covariates_constant"] == ["nbedrock"]
    assert w.grid.sizes == {"lat": lat.size, "lon": lon.size}
    assert len(w.grid_cells) == land.sum() and w.grid_forcing.batch_shape == (land.sum(),)
    # NPP covariate = the total litter input of the nearest cell
    np.testing.assert_allclose(np.sort(np.unique(w.grid["cesm2_npp"].values[land])),
                               np.sort(np.unique(300.0 + 10.0 * lon)), rtol=1e-4)

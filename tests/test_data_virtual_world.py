"""The virtual world: determinism, file round trip, feasible truths, consistent observations.

A small world (10-degree grid, 40 profiles) keeps this fast; the paper-size world is a
``slow`` test.
"""

from __future__ import annotations

import filecmp

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import socmodels
from socmodels import clm5, compas
from socmodels.data import (
    COVARIATES,
    climate_forcing,
    screening_report,
    virtual_world,
)
from socmodels.data.world import world_covariates

KW = dict(seed=3, resolution=10.0, n_profiles=40)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return virtual_world(**KW, out_dir=tmp_path_factory.mktemp("world"))


def test_files_and_shapes(world):
    p = world.profiles
    n = p.sizes["profile"]
    assert 25 <= n <= 40
    for name in ("covariates", "history", "truth", "manifest", "wosis",
                 "wosis_201909_profiles.tsv", "wosis_201909_layers_chemical.tsv",
                 "wosis_201909_layers_physical.tsv"):
        assert world.files[name].exists(), name
    assert world.forcing.batch_shape == (n,)
    assert list(world.covariates.index) == list(p["profile_id"].values)
    assert list(world.covariates.columns) == list(COVARIATES)
    assert all(c in world.grid for c in COVARIATES)
    ncell = world.info["n_land_cells"]
    assert world.grid_forcing.batch_shape == (ncell,) and len(world.grid_cells) == ncell
    assert int(world.grid["land"].sum()) == ncell
    t = world.truth
    assert t["clm5_theta"].shape == (n, 21) and t["compas_theta"].shape == (n, 23)
    assert t["clm5_theta_map"].shape == (21,) + world.grid["BIO1"].shape
    assert set(t["generating_model"].values) <= {"clm5", "compas"}
    rep = screening_report(p)
    rep.check()
    assert rep.layers_kept == int(p["layer_mask"].sum())


def test_round_trip_files_to_arrays(world):
    """What the generator wrote is what the readers return (float tolerance)."""
    p, t = world.profiles, world.truth
    m = p["layer_mask"].values
    np.testing.assert_allclose(p["soc_density"].values[m], t["obs_density"].values[m],
                               rtol=1e-8)
    np.testing.assert_allclose(p["bulk_density"].values[m], t["bulk_density"].values[m],
                               rtol=1e-8)
    assert (p["bd_estimated"].values[m] == t["bd_estimated"].values[m]).all()
    assert p["bd_estimated"].values[m].any() and not p["bd_estimated"].values[m].all()
    # the forcing read back from the history file is the generator's, to float32 precision
    cells = world.grid_cells.iloc[t["cell"].values]
    land, cov, desc = world_covariates(cells["lat"].values, cells["lon"].values, KW["seed"])
    assert land.all()
    gen = climate_forcing(desc["mat"], desc["mat_amplitude"], desc["moisture"], desc["npp"],
                          desc["bedrock_depth"], latitude=cells["lat"].values,
                          sand=desc["sand"], fpi=desc["fpi"],
                          woody_fraction=desc["woody_fraction"])
    for name in ("tsoi", "w_scalar", "o_scalar", "altmax_lastyear", "nbedrock", "cellsand",
                 "input_cwd", "input_litr2"):
        np.testing.assert_allclose(getattr(world.forcing, name), getattr(gen, name),
                                   rtol=2e-6, atol=1e-4, err_msg=name)
    # the site covariates are the grid's at the site's cell; Lon/Lat are the site's own
    for c in ("BIO1", "Clay_Content_30cm", "cesm2_npp"):
        np.testing.assert_allclose(world.covariates[c].values, cov[c], rtol=1e-12)
    np.testing.assert_allclose(world.covariates["Lat"].values, p["lat"].values)


def test_truth_is_feasible_and_generates_the_observations(world):
    t = world.truth
    out = {}
    for name, model in (("clm5", clm5), ("compas", compas)):
        fn = jax.jit(jax.vmap(lambda th, f, m=model: m.steady_state(th, f)))
        ss = fn(jnp.asarray(t[f"{name}_theta"].values), world.forcing)
        assert bool(np.all(ss.feasible)), name
        np.testing.assert_allclose(ss.soc, t[f"{name}_soc"].values, rtol=1e-7)
        out[name] = np.asarray(ss.soc)
        model.PARAMETERS.validate(t[f"{name}_theta"].values)
        np.testing.assert_allclose(model.PARAMETERS.to_physical(t[f"{name}_u"].values),
                                   t[f"{name}_theta"].values, rtol=1e-12)
    gen = np.where((t["generating_model"].values == "compas")[:, None], out["compas"],
                   out["clm5"])
    depth = np.nan_to_num(world.profiles["node_depth"].values, nan=0.5)
    model_obs = np.asarray(jax.vmap(socmodels.observe)(jnp.asarray(gen), jnp.asarray(depth)))
    m = world.profiles["layer_mask"].values
    np.testing.assert_allclose(model_obs[m], t["obs_density_true"].values[m], rtol=1e-9)
    # multiplicative lognormal noise, sd 0.25 in log space (capped values excepted)
    r = np.log(t["obs_density"].values[m] / t["obs_density_true"].values[m])
    assert abs(r.mean()) < 0.15 and 0.15 < r.std() < 0.35
    # the true maps cover exactly the land and give plausible 0-1 m stocks
    land = world.grid["land"].values.astype(bool)
    for name in ("clm5", "compas"):
        st = t[f"{name}_stock_1m_map"].values
        assert np.isfinite(st[land]).all() and np.isnan(st[~land]).all()
        assert 1e3 < np.median(st[land]) < 1e5


def test_deterministic(world, tmp_path):
    again = virtual_world(**KW, out_dir=tmp_path)
    for name in ("wosis_201909_profiles.tsv", "wosis_201909_layers_chemical.tsv",
                 "wosis_201909_layers_physical.tsv"):
        assert filecmp.cmp(world.files[name], again.files[name], shallow=False), name
    assert world.truth["compas_theta"].equals(again.truth["compas_theta"])
    assert world.truth["clm5_theta_map"].equals(again.truth["clm5_theta_map"])
    assert world.profiles.equals(again.profiles)
    other = virtual_world(seed=4, resolution=10.0, n_profiles=40, out_dir=tmp_path / "s4")
    assert not np.array_equal(other.profiles["lat"].values[:5],
                              world.profiles["lat"].values[:5])


def test_other_layout_same_profiles(world, tmp_path):
    w23 = virtual_world(**KW, out_dir=tmp_path, layout="2023")
    assert (tmp_path / "wosis_2023" / "wosis_202312_orgc.tsv").exists()
    for v in ("soc_density", "bulk_density", "upper_depth", "lower_depth", "lat", "lon"):
        np.testing.assert_allclose(w23.profiles[v].values, world.profiles[v].values,
                                   rtol=1e-9, equal_nan=True)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="size"):
        virtual_world(size="huge")
    with pytest.raises(ValueError, match="layout"):
        virtual_world(layout="1999")
    with pytest.raises(ValueError, match="observation_model"):
        virtual_world(observation_model="both")


@pytest.mark.slow
def test_paper_size(tmp_path):
    w = virtual_world(seed=1, size="paper", out_dir=tmp_path)
    assert w.info["n_profiles_generated"] == 70_000
    assert w.profiles.sizes["profile"] > 55_000
    screening_report(w.profiles).check()


def test_infeasible_truths_are_repaired(monkeypatch, tmp_path):
    """A design that breaks COMPAS is pulled toward the temperature anchor until feasible."""
    import socmodels.data.world as vw

    original = vw.true_parameters

    def broken(cov, desc, models):
        truths = original(cov, desc, models)
        u_comp, u_anchor = truths["compas"]
        u_comp = u_comp.copy()
        names = compas.PARAMETERS.names
        u_comp[:, names.index("q10")] = 0.98     # cold cells break the MIC <= 10 % rule
        return {**truths, "compas": (u_comp, u_anchor)}

    monkeypatch.setattr(vw, "true_parameters", broken)
    w = vw.virtual_world(**KW, out_dir=tmp_path)
    assert w.info["compas_infeasible_before_repair"] > 0
    assert w.info["repaired_cells"] >= w.info["compas_infeasible_before_repair"]
    assert int(np.nansum(w.truth["repaired"].values)) == w.info["repaired_cells"]
    fn = jax.jit(jax.vmap(compas.steady_state))
    assert bool(np.all(fn(jnp.asarray(w.truth["compas_theta"].values), w.forcing).feasible))


def test_generators_choose_the_generating_models(world, tmp_path):
    """A pure COMPAS world: every profile from COMPAS, the same truths as the mixed world."""
    pure = virtual_world(**KW, out_dir=tmp_path, generators=("compas",))
    t, t0 = pure.truth, world.truth
    assert set(t["generating_model"].values) == {"compas"}
    assert pure.info["generators"] == ["compas"] and pure.info["models"] == ["clm5", "compas"]
    assert pure.info["generated_by_compas"] == pure.profiles.sizes["profile"]
    # the generators change the observations only, not the truths or the sites
    np.testing.assert_array_equal(t["compas_theta_map"].values, t0["compas_theta_map"].values)
    np.testing.assert_array_equal(t["clm5_theta_map"].values, t0["clm5_theta_map"].values)
    was_compas = t0["generating_model"].values == "compas"
    assert was_compas.any() and not was_compas.all()
    same = np.isin(pure.profiles["profile_id"].values, world.profiles["profile_id"].values[
        was_compas])
    m = pure.profiles["layer_mask"].values[same]
    ids = pure.profiles["profile_id"].values[same]
    ref = world.truth.set_index(profile="profile_id").sel(profile=ids)["obs_density_true"]
    np.testing.assert_allclose(t["obs_density_true"].values[same][m], ref.values[m],
                               rtol=1e-12)
    only = virtual_world(**KW, out_dir=tmp_path / "only", models=("compas",))
    assert "clm5_theta" not in only.truth and "compas_theta" in only.truth
    with pytest.raises(ValueError, match="generators"):
        virtual_world(**KW, generators=("clm5", "nosuchmodel"))
    with pytest.raises(ValueError, match="unknown model"):
        virtual_world(**KW, models=("nosuchmodel",))

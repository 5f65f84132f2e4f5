"""A third soil model defined only in ``tests/`` runs end to end with no edit to the package.

``tests/support/two_pool_model.py`` is registered with ``socmodels.register_model`` and
then used by name through every stage: ``prepare`` -> ``steady_state`` -> the NumPyro site
model -> ``inference.run_sites`` -> the site table -> a ``surrogate`` network -> maps of
predicted parameters and SOC on a small grid.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from numpyro.infer.util import log_density as numpyro_log_density

import inference
import socmodels
import surrogate as sg
from inference.testing import example_forcing, synthetic_sites
from tests.support import two_pool_model

MODEL = socmodels.register_model(two_pool_model)
N_SITES = 8


def _covariates(forcing) -> np.ndarray:
    """Two site covariates from the forcing: mean soil temperature and total input."""
    t = np.asarray(forcing.tsoi).mean(axis=(-2, -1)) - 273.15
    i = (np.asarray(forcing.input_cwd) + np.asarray(forcing.input_litr1)
         + np.asarray(forcing.input_litr2) + np.asarray(forcing.input_litr3))
    return np.stack([t, i], axis=-1)


def test_registered_and_found_by_name():
    assert socmodels.get_model("twopool") is two_pool_model
    assert socmodels.MODELS["twopool"] is two_pool_model
    assert isinstance(two_pool_model, socmodels.SoilModel)
    assert socmodels.register_model(two_pool_model) is two_pool_model  # idempotent
    with pytest.raises(ValueError, match="already registered"):
        socmodels.register_model(type("Other", (), {
            a: getattr(two_pool_model, a) for a in socmodels.contract.REQUIRED})())


def test_contract_jit_vmap_grad():
    f = example_forcing(3, seed=1)
    prep = jax.vmap(MODEL.prepare)(f)
    theta = jnp.asarray(MODEL.customary_theta(f))
    ss = jax.jit(jax.vmap(MODEL.steady_state))(theta, prep)
    assert ss.pools.shape == (3, 2, 20) and ss.status.dtype == jnp.int32
    assert bool(np.all(ss.feasible)) and np.all(np.asarray(ss.stock) > 0)
    g = jax.grad(lambda t: MODEL.steady_state(t, f[0]).stock)(theta[0])
    p = MODEL.PARAMETERS.unpack(g)
    assert float(p.tau_soil) > 0 and np.isfinite(float(p.q10))


def test_end_to_end(tmp_path):
    # data: synthetic sites observed from the model at known parameters
    profiles, forcing, truth = synthetic_sites("twopool", N_SITES, seed=5, noise_sd=0.05)
    assert list(truth["parameter"].values) == list(MODEL.PARAMETERS.names)

    # site model (NumPyro) and the pure log density agree
    site = inference.make_site(profiles["soc_density"].values[0][:5],
                               profiles["node_depth"].values[0][:5], forcing[0], model="twopool")
    u = jnp.full(3, 0.4)
    lp, _ = inference.log_density(jnp.log(u) - jnp.log1p(-u), site, model="twopool",
                                  space="logit")
    theta = MODEL.PARAMETERS.to_physical(u)  # the site model samples named parameters
    nlp, _ = numpyro_log_density(inference.site_model, (site,), {"soil_model": "twopool"},
                                 dict(zip(MODEL.PARAMETERS.names, theta, strict=True)))
    assert np.isfinite(float(lp)) and np.isfinite(float(nlp))

    # batched MCMC over the sites, site table
    sampler = inference.adaptive_metropolis(num_warmup=600, num_samples=400, adapt_start=100)
    run = inference.run_sites(profiles, forcing, "twopool", sampler, output_dir=tmp_path / "run",
                              num_chains=2, num_draws=50, progress=False,
                              likelihood=inference.lognormal(0.1))
    table = run.table
    assert table.sizes["site"] == N_SITES and table["mean"].shape == (N_SITES, 3)
    assert run.config.model == "twopool"
    mean = np.asarray(table["mean"].values)
    MODEL.PARAMETERS.validate(mean)

    # network: covariates -> unit-cube posterior means
    y = (np.asarray(table["mean_unit"].values) if "mean_unit" in table
         else np.asarray(MODEL.PARAMETERS.to_unit(mean)))
    x_raw = _covariates(forcing)
    scaler = sg.MinMaxScaler.fit(x_raw, names=["tsoil", "input"])
    config = sg.TrainConfig(hidden=(8,), dropout=0.0, max_epochs=20, patience=None,
                            epochs_per_call=10, batch_size=4)
    ens = sg.best_guess_ensemble(scaler.transform(x_raw), y, n_members=2, config=config,
                                 seed=0, progress=False, scaler=scaler,
                                 param_names=MODEL.PARAMETERS.names)

    # maps on a small grid: predicted parameters, then the model's SOC stock there
    grid_forcing = example_forcing(12, seed=9)
    cov = _covariates(grid_forcing).reshape(3, 4, 2)
    grid = xr.Dataset({"tsoil": (("lat", "lon"), cov[..., 0]),
                       "input": (("lat", "lon"), cov[..., 1])},
                      coords={"lat": [-10.0, 0.0, 10.0], "lon": [0.0, 10.0, 20.0, 30.0]})
    maps = sg.predict_maps(ens, grid, table=MODEL.PARAMETERS)
    theta_map = np.stack([maps[n].values for n in MODEL.PARAMETERS.names], axis=-1)
    assert theta_map.shape == (3, 4, 3)
    MODEL.PARAMETERS.validate(theta_map, atol=1e-6)
    ss = jax.jit(jax.vmap(MODEL.steady_state))(jnp.asarray(theta_map.reshape(12, 3)),
                                                jax.vmap(MODEL.prepare)(grid_forcing))
    stock = np.asarray(ss.stock_1m).reshape(3, 4)
    assert np.all(np.asarray(ss.feasible)) and np.all(np.isfinite(stock) & (stock > 0))

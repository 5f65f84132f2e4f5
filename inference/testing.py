"""Synthetic sites with known truth, for tests, benchmarks and examples.

:func:`synthetic_sites` draws true parameters, evaluates the model, and observes the
steady state at a few depths with multiplicative (lognormal) noise, returning profiles in
the ``socmodels.data`` profile contract, a batched forcing and the truth.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from socmodels import Forcing, layers
from socmodels.contract import resolve_model
from socmodels.observation import observe

__all__ = ["example_forcing", "synthetic_sites", "profiles_dataset"]


def example_forcing(n: int, seed: int = 0) -> Forcing:
    """``n`` temperate, well-drained sites with perturbed temperature and inputs."""
    rng = np.random.default_rng(seed)
    z = layers.zsoi
    m = np.arange(12)
    season = np.cos(2 * np.pi * (m - 6) / 12)[:, None]
    mat = 283.15 + rng.normal(0.0, 3.0, n)
    amp = rng.uniform(5.0, 12.0, n)
    tsoi = mat[:, None, None] + amp[:, None, None] * season[None] * np.exp(-z / 1.5)[None, None]
    w = np.clip(rng.uniform(0.4, 0.8, n)[:, None, None] * np.ones((1, 12, 20)), 0, 1)
    inputs = rng.uniform(0.7, 1.3, (n, 1)) * np.array([50.0, 150.0, 250.0, 100.0])
    return Forcing.create(
        tsoi=tsoi, w_scalar=w, o_scalar=np.ones((n, 12, 20)),
        fpi_vr=np.full((n, 12, 20), 0.7), altmax=np.full((n, 12), 8.6),
        altmax_lastyear=np.full((n, 12), 8.6), nbedrock=np.full((n, 12), 20.0),
        input_cwd=inputs[:, 0], input_litr1=inputs[:, 1], input_litr2=inputs[:, 2],
        input_litr3=inputs[:, 3], cellsand=np.full((n, 20), 40.0))


def profiles_dataset(obs, depth, site_ids=None, *, mask=None, lat=None, lon=None) -> xr.Dataset:
    """A profile Dataset (the ``socmodels.data`` contract) from (n, L) arrays."""
    obs = np.asarray(obs, float)
    depth = np.asarray(depth, float)
    n, L = obs.shape
    ids = np.array([f"site{i:04d}" for i in range(n)]) if site_ids is None else np.asarray(
        site_ids)
    mask = np.isfinite(obs) if mask is None else np.asarray(mask, bool)
    rng = np.random.default_rng(0)
    lat = rng.uniform(-50, 70, n) if lat is None else np.asarray(lat, float)
    lon = rng.uniform(-180, 180, n) if lon is None else np.asarray(lon, float)
    dims = ("profile", "layer")
    return xr.Dataset(
        {"soc_density": (dims, obs, {"units": "gC m-3"}),
         "node_depth": (dims, depth, {"units": "m"}),
         "layer_mask": (dims, mask)},
        coords={"profile_id": ("profile", ids), "lat": ("profile", lat),
                "lon": ("profile", lon)})


def synthetic_sites(model, n: int, *, seed: int = 0, depths=(0.05, 0.15, 0.3, 0.6, 1.0),
                    noise_sd: float = 0.1, u_range=(0.2, 0.8), max_tries: int = 200,
                    ) -> tuple[xr.Dataset, Forcing, xr.DataArray]:
    """``n`` sites whose observations come from ``model`` at known parameters.

    Args:
        model (str or module): A registered model name (``socmodels.MODELS``) or a model object.
        n: int
        seed: int
        depths (sequence of float): Observation depths [m] (the same at every site).
        noise_sd (float): Sd of the multiplicative lognormal noise (log space).
        u_range ((float, float)):
            Truths are drawn uniformly in this sub-box of the unit cube, re-drawn until the
            state is feasible with positive predictions.

    Returns:
        (profiles, forcing, truth):
            ``truth`` is a DataArray (profile, parameter) of physical values with coordinate
            ``profile_id``.
    """
    module = resolve_model(model)
    params = module.PARAMETERS
    d = len(params)
    rng = np.random.default_rng(seed)
    forcing = example_forcing(n, seed)
    z = jnp.asarray(depths, float)

    @jax.jit
    def evaluate(theta, f):
        prep = module.prepare(f)
        ss = module.steady_state(theta, prep)
        pred = observe(ss.soc, z)
        return pred, jnp.all(jnp.asarray(ss.feasible)) & jnp.all(jnp.isfinite(pred) & (pred > 0))

    truth = np.zeros((n, d))
    obs = np.zeros((n, len(depths)))
    for i in range(n):
        fi = forcing[i]
        for _ in range(max_tries):
            u = rng.uniform(*u_range, d)
            th = np.asarray(params.to_physical(u))
            pred, ok = evaluate(jnp.asarray(th), fi)
            if bool(ok):
                break
        else:
            raise RuntimeError(f"no feasible truth found for site {i} in {max_tries} draws")
        truth[i] = th
        obs[i] = np.asarray(pred) * np.exp(rng.normal(0.0, noise_sd, len(depths)))
    profiles = profiles_dataset(obs, np.tile(np.asarray(depths, float), (n, 1)))
    da = xr.DataArray(truth, dims=("profile", "parameter"),
                      coords={"profile_id": ("profile", profiles["profile_id"].values),
                              "parameter": list(params.names)}, name="truth")
    return profiles, forcing, da

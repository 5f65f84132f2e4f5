"""Synthetic sites with known truth, for tests, benchmarks and examples.

:func:`synthetic_sites` draws true parameters, evaluates the model, and observes the
steady state at a few depths with multiplicative (lognormal) noise, returning profiles in
the ``socmodels.data`` profile contract, a batched forcing and the truth.

:func:`twin_sites` is the validation twin: sites of several kinds (temperate, tropical,
arid, cold with permafrost, shallow bedrock, long profiles) with realistic climates and
WoSIS-like horizons, truths drawn from the prior restricted to the feasible set and
observations drawn from the same likelihood that fits them, so simulation-based
calibration (:mod:`inference.calibration_checks`, ``benchmarks/validation.py``) is exact.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from socmodels import Forcing, layers
from socmodels.contract import resolve_model
from socmodels.observation import observe

__all__ = ["example_forcing", "synthetic_sites", "profiles_dataset", "twin_sites", "TwinSites",
           "TWIN_KINDS", "TWIN_MAX_TRIES"]


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


# -- twin sites: known truth drawn from the prior, realistic climates and horizons ----------

TWIN_KINDS = ("temperate", "tropical", "arid", "cold", "shallow_bedrock", "long_profile")
"""Site kinds of :func:`twin_sites` (site ``i`` is ``kinds[i % len(kinds)]``)."""

EXTREME_TWIN_KINDS = ("deep_permafrost", "very_long_profile", "cold_long_profile")
"""Opt-in kinds beyond the default set, like the real profiles issue 9 measured: permafrost
at MAT -17 to -10 degC, 28-38 horizons to 2-3 m, and 18-29 horizons to 1.5 m at a cold site."""

TWIN_MAX_TRIES = 2_000
"""Prior draws per site before :func:`twin_sites` gives up on finding a usable truth."""

_TRUTH_BATCH = 64

# kind -> ranges of |latitude| [deg], MAT [degC], seasonal semi-amplitude [K], MAP [mm yr-1]
# and the share of sites in the southern hemisphere
_CLIMATES = {
    "temperate": dict(lat=(35.0, 55.0), mat=(4.0, 15.0), amp=(6.0, 13.0), map=(500.0, 1300.0),
                      south=0.2),
    "tropical": dict(lat=(0.0, 15.0), mat=(22.0, 28.0), amp=(0.5, 3.0), map=(1500.0, 3500.0),
                     south=0.5),
    "arid": dict(lat=(18.0, 38.0), mat=(12.0, 26.0), amp=(5.0, 12.0), map=(80.0, 350.0),
                 south=0.3),
    "cold": dict(lat=(62.0, 72.0), mat=(-10.0, -2.0), amp=(14.0, 22.0), map=(200.0, 600.0),
                 south=0.0),
    "shallow_bedrock": dict(lat=(30.0, 55.0), mat=(4.0, 18.0), amp=(5.0, 12.0),
                            map=(400.0, 1200.0), south=0.2),
    "long_profile": dict(lat=(30.0, 55.0), mat=(2.0, 18.0), amp=(6.0, 12.0),
                         map=(500.0, 1500.0), south=0.2),
    "deep_permafrost": dict(lat=(66.0, 78.0), mat=(-17.0, -10.0), amp=(16.0, 25.0),
                            map=(100.0, 400.0), south=0.0),
    "very_long_profile": dict(lat=(30.0, 55.0), mat=(2.0, 18.0), amp=(6.0, 12.0),
                              map=(500.0, 1500.0), south=0.2),
    "cold_long_profile": dict(lat=(60.0, 70.0), mat=(-6.0, -1.0), amp=(14.0, 22.0),
                              map=(200.0, 600.0), south=0.0),
}


class TwinSites(NamedTuple):
    """Twin sites with known truth (:func:`twin_sites`).

    Attributes:
        profiles: profile Dataset in the runner's input format (:func:`profiles_dataset`),
            plus per-profile ``kind``, ``mat`` [degC], ``map`` [mm yr-1], ``npp``
            [gC m-2 yr-1], ``bedrock_depth`` and ``active_layer_depth`` [m] (NaN: none).
        forcing: batched ``socmodels.Forcing`` aligned with ``profiles.profile``.
        truth_unit: (n, d) true parameters in the unit cube.
        truth: (n, d) true physical parameters.
        kind: (n,) site kinds (:data:`TWIN_KINDS`).
        tries: (n,) prior draws spent to find each truth (1 = the first was usable).
        prediction: (n, L) noise-free model prediction at the observed layers (NaN on padding).
    """

    profiles: xr.Dataset
    forcing: Forcing
    truth_unit: np.ndarray
    truth: np.ndarray
    kind: np.ndarray
    tries: np.ndarray
    prediction: np.ndarray


def _horizon_midpoints(rng: np.random.Generator, k: int, bottom: float) -> np.ndarray:
    """Mid-points [m] of ``k`` WoSIS-like horizons from the surface to ``bottom`` [m].

    Thicknesses are gamma-distributed and grow with depth (thin topsoil horizons, thicker
    subsoil ones), boundaries rounded to whole centimetres, every horizon >= 2 cm.
    """
    th = rng.gamma(4.0, 1.0, k) * (1.0 + 0.3 * np.arange(k))
    bounds = np.round(np.concatenate([[0.0], np.cumsum(th / th.sum())]) * bottom * 100.0)
    bounds = np.maximum(bounds, 2.0 * np.arange(k + 1))   # strictly increasing, >= 2 cm each
    for j in range(k - 1, -1, -1):                         # keep the bottom where it was
        bounds[j] = min(bounds[j], bounds[j + 1] - 2.0)
    return 0.5 * (bounds[:-1] + bounds[1:]) / 100.0


def _twin_design(kind: str, rng: np.random.Generator) -> dict:
    """Climate descriptors and observation depths of one twin site of ``kind``."""
    from socmodels.data.climate import thaw_depth

    c = _CLIMATES[kind]
    lat = rng.uniform(*c["lat"]) * (-1.0 if rng.uniform() < c["south"] else 1.0)
    d = dict(kind=kind, lat=lat, lon=rng.uniform(-180.0, 180.0), mat=rng.uniform(*c["mat"]),
             amp=rng.uniform(*c["amp"]), map=rng.uniform(*c["map"]),
             npp_factor=float(np.exp(rng.normal(0.0, 0.15))), sand=rng.uniform(15.0, 70.0),
             woody=rng.uniform(0.1, 0.9), fpi=rng.uniform(0.5, 0.9), bedrock=np.nan,
             alt=np.nan)
    if kind in ("cold", "deep_permafrost", "cold_long_profile"):
        # what the climate can thaw: the thaw depth of the full air-temperature wave on the
        # mean soil temperature MAT + 1 K (climate_forcing)
        reach = float(thaw_depth(d["mat"] + 1.0, d["amp"], peak_month=6.5).max())
        if kind == "cold":          # an active layer of at most 90 % of the reach
            d["alt"] = rng.uniform(0.4, max(0.45, min(1.2, 0.9 * reach)))
        elif reach > 0.3:           # 50-90 % of the reach
            d["alt"] = float(rng.uniform(0.5, 0.9) * reach)
        # else: it thaws < 0.3 m; the active layer is derived from the climate (NaN)
    if kind == "shallow_bedrock":
        d["bedrock"] = rng.uniform(0.3, 0.6)
        d["depth"] = _horizon_midpoints(rng, int(rng.integers(4, 7)), d["bedrock"])
    elif kind == "long_profile":
        d["depth"] = _horizon_midpoints(rng, 18, rng.uniform(1.8, 2.2))
    elif kind == "very_long_profile":
        d["depth"] = _horizon_midpoints(rng, int(rng.integers(28, 39)), rng.uniform(2.0, 3.0))
    elif kind == "cold_long_profile":
        d["depth"] = _horizon_midpoints(rng, int(rng.integers(18, 30)), 1.5)
    else:
        d["depth"] = _horizon_midpoints(rng, int(rng.integers(4, 9)), rng.uniform(0.8, 1.6))
    return d


@functools.lru_cache(maxsize=None)
def _truth_search_fn(module, likelihood):
    """jit(vmap over sites of vmap over candidates): predictions and usability of (n, B, d)."""
    from inference.models import predict
    from inference.sites import SiteData

    def one_site(us, forcing, depth, mask):
        site = SiteData(jnp.ones_like(depth), depth, mask, jnp.ones_like(depth),
                        module.prepare(forcing))
        return jax.vmap(lambda u: predict(module.PARAMETERS.to_physical(u), site, module,
                                          likelihood))(us)

    return jax.jit(jax.vmap(one_site))


def twin_sites(model, n: int, *, seed: int = 0, likelihood=None, kinds=None,
               truth="prior") -> TwinSites:
    """``n`` twin sites: realistic climates and horizons, truth from the prior, exact noise.

    Site ``i`` is of kind ``kinds[i % len(kinds)]`` (default :data:`TWIN_KINDS`):
    ``temperate``, ``tropical``, ``arid``, ``cold`` (MAT < 0 degC, permafrost with an active
    layer of 0.4-1.2 m), ``shallow_bedrock`` (bedrock at 0.3-0.6 m: fewer active model
    layers, 4-6 horizons above it) and ``long_profile`` (18 horizons to about 2 m); the others
    have 4-8 horizons to 0.8-1.6 m; opt-in :data:`EXTREME_TWIN_KINDS`. Observations are at
    the horizon mid-points. Climates
    (latitude, MAT, seasonal amplitude, MAP) are drawn per site in the ranges of its kind;
    NPP is the Miami model times a lognormal factor (sd 0.15), moisture from MAP and
    Thornthwaite PET (:func:`socmodels.data.climate.site_climate`).

    With ``truth="prior"``, ``u ~ U(0, 1)^d`` is drawn until the steady state is feasible
    and the predictions at the observed depths are usable by ``likelihood`` (the conditions
    under which :func:`inference.log_density` is finite): a draw from the prior restricted
    to the feasible set, which is the prior the posterior has (its density is 0 elsewhere),
    so simulation-based calibration is valid. Observations are ``likelihood.sample(key,
    pred, pred, mask)``: exact for ``lognormal`` (the default); likelihoods whose scale
    depends on the observation itself (``gaussian_relative``, ``nse``) use the prediction
    in its place.

    Every random number of site ``i`` comes from ``(seed, i)``: a site does not depend on
    ``n`` (the first sites of a larger set are the same sites).

    Args:
        model (str or module): A registered model name or a model object.
        n (int): Number of sites (>= 1).
        seed (int): Seed.
        likelihood (Likelihood, optional): The observation model used to fit (default
            ``inference.lognormal()``).
        kinds (sequence of str, optional): Kinds to cycle through.
        truth ("prior" or array (n, d)): ``"prior"``, or given unit-cube truths (checked to
            be usable).

    Returns:
        TwinSites

    Raises:
        ValueError: an unknown kind, ``n < 1``, or given truths that are not usable.
        RuntimeError: no usable truth at a site in :data:`TWIN_MAX_TRIES` prior draws
            (names the site and its kind).
    """
    from inference.likelihoods import get_likelihood, lognormal
    from socmodels.data.climate import miami_npp, site_climate

    module = resolve_model(model)
    lik = lognormal() if likelihood is None else get_likelihood(likelihood)
    if int(n) != n or n < 1:
        raise ValueError(f"twin_sites: n must be a positive integer, got {n!r}")
    kinds = TWIN_KINDS if kinds is None else tuple(kinds)
    bad = [k for k in kinds if k not in _CLIMATES]
    if bad or not kinds:
        raise ValueError(f"twin_sites: unknown kinds {bad}; choose among {TWIN_KINDS}")
    params = module.PARAMETERS
    d = len(params)
    n = int(n)
    design = [_twin_design(kinds[i % len(kinds)], np.random.default_rng([seed, i, 0]))
              for i in range(n)]
    col = {k: np.array([s[k] for s in design]) for k in design[0] if k != "depth"}
    mat, map_mm = col["mat"], col["map"]
    clim = site_climate(mat, map_mm, col["amp"], latitude=col["lat"],
                        npp=miami_npp(mat, map_mm) * col["npp_factor"])
    forcing = clim.forcing(bedrock_depth=col["bedrock"], active_layer_depth=col["alt"],
                           sand=col["sand"][:, None] * np.ones(layers.NLEV),
                           fpi=col["fpi"], woody_fraction=col["woody"])
    L = max(len(s["depth"]) for s in design)
    depth = np.zeros((n, L))
    mask = np.zeros((n, L), bool)
    for i, s in enumerate(design):
        k = len(s["depth"])
        depth[i, :k], depth[i, k:], mask[i, :k] = s["depth"], s["depth"][0], True
    search = _truth_search_fn(module, lik)
    args = (jax.tree_util.tree_map(jnp.asarray, forcing), jnp.asarray(depth), jnp.asarray(mask))

    if isinstance(truth, str):
        if truth != "prior":
            raise ValueError(f"twin_sites: truth must be 'prior' or an (n, d) array, got"
                             f" {truth!r}")
        streams = [np.random.default_rng([seed, i, 1]) for i in range(n)]
        truth_unit = np.full((n, d), np.nan)
        pred = np.full((n, L), np.nan)
        tries = np.zeros(n, int)
        pending = np.ones(n, bool)
        cand = np.full((n, _TRUTH_BATCH, d), 0.5)
        for r in range(-(-TWIN_MAX_TRIES // _TRUTH_BATCH)):
            for i in np.flatnonzero(pending):
                cand[i] = streams[i].uniform(size=(_TRUTH_BATCH, d))
            p, ok = search(jnp.asarray(cand), *args)
            ok = np.asarray(ok) & pending[:, None]
            ok[:, max(0, TWIN_MAX_TRIES - r * _TRUTH_BATCH):] = False
            for i in np.flatnonzero(ok.any(axis=1)):
                j = int(np.argmax(ok[i]))
                truth_unit[i], pred[i], tries[i] = cand[i, j], np.asarray(p[i, j]), (
                    r * _TRUTH_BATCH + j + 1)
                pending[i] = False
            if not pending.any():
                break
        if pending.any():
            i = int(np.flatnonzero(pending)[0])
            raise RuntimeError(
                f"twin_sites: no usable {module.NAME} truth for site {i} (kind"
                f" {design[i]['kind']!r}) in {TWIN_MAX_TRIES} prior draws"
                f" ({int(pending.sum())} site(s) failed)")
    else:
        truth_unit = np.asarray(truth, float)
        if truth_unit.shape != (n, d):
            raise ValueError(f"twin_sites: truth must have shape ({n}, {d}), got"
                             f" {truth_unit.shape}")
        # the same compiled program as the search (same batch shape: the same bits)
        tiled = np.broadcast_to(truth_unit[:, None, :], (n, _TRUTH_BATCH, d))
        p, ok = search(jnp.asarray(tiled), *args)
        bad_sites = np.flatnonzero(~np.asarray(ok)[:, 0])
        if bad_sites.size:
            raise ValueError(f"twin_sites: given truth is not usable (infeasible steady state"
                             f" or unusable predictions) at sites {bad_sites[:10].tolist()}")
        pred, tries = np.asarray(p[:, 0]), np.ones(n, int)
    pred = np.where(mask, pred, np.nan)

    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(seed), i))(jnp.arange(n))
    safe = jnp.asarray(np.where(mask, pred, 1.0))
    obs = np.asarray(jax.vmap(lik.sample)(keys, safe, safe, jnp.asarray(mask)))
    kind = col["kind"].astype(str)
    ids = [f"twin{i:04d}_{k}" for i, k in enumerate(kind)]
    profiles = profiles_dataset(np.where(mask, obs, np.nan), depth, ids, mask=mask,
                                lat=col["lat"], lon=col["lon"])
    per = {"kind": kind, "mat": mat, "map": map_mm, "npp": np.asarray(clim.npp),
           "bedrock_depth": col["bedrock"], "active_layer_depth": col["alt"]}
    units = {"mat": "degC", "map": "mm yr-1", "npp": "gC m-2 yr-1", "bedrock_depth": "m",
             "active_layer_depth": "m"}
    profiles = profiles.assign({k: ("profile", v, {"units": units[k]} if k in units else {})
                                for k, v in per.items()})
    theta = np.asarray(params.to_physical(jnp.asarray(truth_unit)))
    return TwinSites(profiles, forcing, truth_unit, theta, kind, tries, pred)

"""Sampler spaces: the ``"feasible"`` space (a model's ``feasible_parameters`` capability) in
the log density, the run configuration and the runner."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import inference
from inference.config import RunConfig, RunConfigError
from inference.models import REJECTION_BITS, from_unit, log_density, position_to_unit, to_unit
from inference.sites import SiteData
from inference.testing import synthetic_sites
from socmodels import clm5, compas


@pytest.fixture(scope="module")
def world():
    return synthetic_sites("compas", 2, seed=4, noise_sd=0.1)


@pytest.fixture(scope="module")
def site(world):
    profiles, forcing, _ = world
    prep = compas.prepare(forcing[0])
    p = profiles.isel(profile=0)
    depth = jnp.asarray(p["node_depth"].values)
    return SiteData(jnp.asarray(p["soc_density"].values), depth, jnp.ones(depth.shape, bool),
                    jnp.ones(depth.shape), prep)


def _logit_jacobian(x):
    return -jnp.sum(jax.nn.softplus(x) + jax.nn.softplus(-x))


def test_feasible_density_has_the_box_likelihood_and_the_documented_prior(site):
    """At the same physical theta the likelihood parts agree; the feasible space's prior part
    is the logit log-Jacobian plus log_volume; both are -inf on the same points."""
    x = jax.random.normal(jax.random.PRNGKey(5), (64, 23)) * 1.5

    def both(xx):
        lp_f, info_f = log_density(xx, site, model="compas", space="feasible")
        fm = compas.feasible_parameters(jax.nn.sigmoid(xx), site.prepared)
        u = position_to_unit(xx, site, "compas", "feasible")
        xo = from_unit(u, "logit")
        lp_o, info_o = log_density(xo, site, model=compas, space="logit")
        return (lp_f, jnp.sum(info_f.log_likelihood), info_f.status, fm, u,
                lp_o, jnp.sum(info_o.log_likelihood), _logit_jacobian(xx), _logit_jacobian(xo))

    lp_f, ll_f, status, fm, u, lp_o, ll_o, jac_f, jac_o = (
        jax.tree_util.tree_map(np.asarray, jax.jit(jax.vmap(both))(x)))
    finite = np.isfinite(lp_f)
    assert 0.2 < finite.mean() < 1.0
    assert np.array_equal(finite, np.isfinite(lp_o))
    np.testing.assert_allclose(ll_f[finite], ll_o[finite], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(lp_f[finite] - ll_f[finite],
                               jac_f[finite] + fm.log_volume[finite], rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(lp_o[finite] - ll_o[finite], jac_o[finite], rtol=1e-12,
                               atol=1e-10)
    # differences of log densities between feasible points: likelihood + the two priors
    i, j = np.flatnonzero(finite)[:2]
    np.testing.assert_allclose((lp_f[i] - jac_f[i] - fm.log_volume[i])
                               - (lp_f[j] - jac_f[j] - fm.log_volume[j]),
                               (lp_o[i] - jac_o[i]) - (lp_o[j] - jac_o[j]), rtol=1e-8, atol=1e-8)
    # position_to_unit is the unit cube of the mapped theta, not sigmoid(x)
    np.testing.assert_allclose(u, np.asarray(jax.vmap(compas.PARAMETERS.to_unit)(fm.theta)))
    sig = np.asarray(jax.nn.sigmoid(x))
    others = [k for k in range(23) if k not in (compas.IDX_DEATH, compas.IDX_S4)]
    np.testing.assert_allclose(u[:, others], sig[:, others], rtol=1e-12)
    assert np.abs(u[:, compas.IDX_S4] - sig[:, compas.IDX_S4]).max() > 1e-3
    # an empty interval is rejected with its own status bit (and only that one)
    empty = ~fm.nonempty
    assert np.all(np.isneginf(lp_f[empty]))
    assert np.all(status[empty] == REJECTION_BITS["empty_interval"])
    assert np.all(status[finite] == 0)


def test_feasible_space_needs_the_capability(site):
    with pytest.raises(ValueError, match="CLM5.*feasible"):
        log_density(jnp.zeros(len(clm5.PARAMETERS)), site, model="clm5", space="feasible")
    with pytest.raises(ValueError, match="unknown space 'box'"):
        log_density(jnp.zeros(23), site, model="compas", space="box")
    for fn in (to_unit, from_unit):  # site-free conversions refuse the site-aware space
        with pytest.raises(ValueError, match="position_to_unit"):
            fn(jnp.full(23, 0.5), "feasible")
    np.testing.assert_array_equal(position_to_unit(jnp.zeros(3), None, clm5, "logit"),
                                  np.full(3, 0.5))


def _am(**kw):
    return inference.adaptive_metropolis(num_warmup=60, num_samples=30, adapt_start=20, **kw)


def test_run_config_space_validation_and_round_trip():
    lik = inference.lognormal()
    with pytest.raises(RunConfigError, match="space.*CLM5.*feasible"):
        RunConfig(model="clm5", sampler=_am(), likelihood=lik, space="feasible")
    with pytest.raises(RunConfigError, match="space must be one of"):
        RunConfig(model="compas", sampler=_am(), likelihood=lik, space="box")
    with pytest.raises(RunConfigError, match="space 'feasible'.*'unit'"):
        RunConfig(model="compas", sampler=_am(space="unit"), likelihood=lik, space="feasible")
    with pytest.raises(RunConfigError, match="space 'feasible'.*'unit'"):
        RunConfig(model="compas", sampler=inference.two_phase(num_test=50, num_formal=60),
                  likelihood=lik, space="feasible")
    with pytest.raises(ValueError, match="run option"):  # not a sampler setting
        _am(space="feasible")
    # None: the sampler's own space; to_dict unchanged unless the space differs from it
    own = RunConfig(model="compas", sampler=_am(space="unit"), likelihood=lik)
    same = RunConfig(model="compas", sampler=_am(space="unit"), likelihood=lik, space="unit")
    assert own.space == "unit" and own == same and "space" not in own.to_dict()
    assert own.to_dict() == same.to_dict()
    cfg = RunConfig(model="compas", sampler=_am(), likelihood=lik, space="feasible")
    d = json.loads(json.dumps(cfg.to_dict()))
    assert d["space"] == "feasible" and RunConfig.from_dict(d) == cfg
    nuts_unit = RunConfig(model="clm5", sampler=inference.nuts(num_warmup=5, num_samples=5),
                          likelihood=lik, space="unit")
    assert RunConfig.from_dict(nuts_unit.to_dict()).space == "unit"


def test_run_sites_in_the_feasible_space(world, tmp_path):
    profiles, forcing, _ = world
    run = inference.run_sites(profiles, forcing, "compas", _am(), output_dir=tmp_path,
                              num_chains=2, seed=1, num_draws=15, chunk_size=2,
                              progress=False, space="feasible")
    assert run.config.space == "feasible"
    assert json.loads((tmp_path / "run_config.json").read_text())["space"] == "feasible"
    t = run.table
    mu = np.asarray(t["mean_unit"].values)
    assert mu.shape == (2, 23) and np.all((mu > 0) & (mu < 1))
    lo, hi = np.asarray(compas.PARAMETERS.lower), np.asarray(compas.PARAMETERS.upper)
    names = compas.PARAMETERS.names
    for sid in np.asarray(t["site"].values):
        post = inference.load_site(tmp_path, str(sid))["posterior"]
        theta = np.stack([post[n].values for n in names], -1).reshape(-1, 23)
        assert np.all((theta >= lo) & (theta <= hi))
        # every stored draw is feasible: tau4s4 lies inside its feasible interval
        i = int(np.flatnonzero(profiles["profile_id"].values == sid)[0])
        prep = compas.prepare(forcing[i])
        death, s4 = jax.vmap(compas.feasible_ranges, (0, None))(jnp.asarray(theta), prep)
        t4 = theta[:, compas.IDX_S4]
        assert np.all((t4 >= np.asarray(s4)[:, 0]) & (t4 <= np.asarray(s4)[:, 1]))
        assert np.all(theta[:, compas.IDX_DEATH] >= np.asarray(death)[:, 0])
        # mean_unit is the mean of the stored draws' unit-cube values
        u = np.asarray(compas.PARAMETERS.to_unit(theta))
        np.testing.assert_allclose(t["mean_unit"].sel(site=sid).values, u.mean(0), rtol=1e-9)

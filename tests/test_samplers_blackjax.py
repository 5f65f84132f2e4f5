"""BlackJAX samplers under the sampler contract: moments and simulation-based calibration."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from inference.samplers_blackjax import CORES, get_core, register_all

KINDS = sorted(CORES)
N_CHAINS = 8
# SBC settings: 128 replications, 8 chains x 384 kept iterations thinned by 32 = 96 draws.
N_REPS, N_SAMPLES, THIN, N_BINS = 128, 384, 32, 8
SETTINGS = {"chees": dict(num_warmup=300), "mams": dict(num_warmup=300),
            "nuts_bj": dict(num_warmup=300)}
THIN_FOR = {"chees": THIN, "mams": 2 * THIN, "nuts_bj": THIN}


def _logit_target(y):
    """u ~ U(0,1)^2; y1 ~ N(u1, 0.15), y2 ~ N(u1 + u2, 0.15); density of x = logit(u)."""
    def logdensity(x):
        u = jax.nn.sigmoid(x)
        mean = jnp.stack([u[0], u[0] + u[1]])
        ll = -0.5 * jnp.sum(((y - mean) / 0.15) ** 2)
        return ll - jnp.sum(jax.nn.softplus(x) + jax.nn.softplus(-x))
    return logdensity


def _run(kind, logdensity_fn, key, num_samples, thin):
    cfg_type, core = get_core(kind)
    cfg = cfg_type(num_samples=num_samples, **SETTINGS[kind])
    k0, k1, k2, k3 = jax.random.split(key, 4)
    positions = jax.random.normal(k0, (N_CHAINS, 2))
    state = core.init(cfg, logdensity_fn, positions, k1)
    state, tuning = core.warmup(cfg, logdensity_fn, state, k2)
    state, draws, info = core.run_segment(cfg, logdensity_fn, state, tuning, k3,
                                          num_samples, thin)
    return draws, info


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trip(kind):
    cfg_type, _ = get_core(kind)
    cfg = cfg_type(num_warmup=10, num_samples=20)
    d = cfg.to_dict()
    assert d["kind"] == kind and cfg_type.from_dict(d) == cfg
    with pytest.raises(ValueError):
        cfg_type(num_warmup=0)
    with pytest.raises(ValueError):
        cfg_type.from_dict({**d, "kind": "other"})
    assert dataclasses.is_dataclass(cfg)


def test_register_all_uses_given_registry():
    seen = {}
    register_all(lambda kind, cfg, core: seen.setdefault(kind, (cfg, core)))
    assert set(seen) == set(CORES)


@pytest.mark.parametrize("kind", KINDS)
def test_sbc_rank_uniformity(kind):
    """Simulation-based calibration (Talts et al. 2018): ranks of the truth among posterior
    draws are uniform; chi-square per parameter, fixed seed, Bonferroni over 2."""
    key = jax.random.PRNGKey(2024)
    k_truth, k_noise, k_run = jax.random.split(key, 3)
    u_true = jax.random.uniform(k_truth, (N_REPS, 2))
    y = jnp.stack([u_true[:, 0], u_true[:, 0] + u_true[:, 1]], 1) + 0.15 * jax.random.normal(
        k_noise, (N_REPS, 2))
    thin = THIN_FOR[kind]
    n_samples = N_SAMPLES * thin // THIN

    @jax.jit
    def one(yy, kk):
        draws, info = _run(kind, _logit_target(yy), kk, n_samples, thin)
        return jax.nn.sigmoid(draws.reshape(-1, 2)), info

    draws, info = one_batch = jax.vmap(one)(y, jax.random.split(k_run, N_REPS))
    del one_batch
    draws = np.asarray(draws)
    assert draws.shape == (N_REPS, N_CHAINS * n_samples // thin, 2)
    assert np.all(np.isfinite(draws))
    assert int(np.asarray(info["divergent"]).sum()) == 0
    ranks = (draws < np.asarray(u_true)[:, None, :]).sum(axis=1)       # 0..L
    L = draws.shape[1]
    for j in range(2):
        counts = np.histogram(ranks[:, j] / (L + 1), bins=N_BINS, range=(0, 1))[0]
        p = stats.chisquare(counts).pvalue
        assert p > 0.005 / 2, (kind, j, counts, p)


@pytest.mark.slow
def test_posterior_moments_against_closed_form():
    """A correlated Gaussian: every core recovers mean and covariance."""
    cov = jnp.array([[1.0, 2.4], [2.4, 9.0]])
    prec = jnp.linalg.inv(cov)

    def logdensity(x):
        return -0.5 * x @ prec @ x

    for kind in KINDS:
        thin = max(THIN_FOR[kind] // 16, 1)
        run = jax.jit(lambda k, kind=kind, thin=thin: _run(kind, logdensity, k, 2000 * thin,
                                                           thin))
        draws, _ = run(jax.random.PRNGKey(3))
        d = np.asarray(draws).reshape(-1, 2)
        assert np.allclose(d.mean(0), 0.0, atol=0.25), kind
        assert np.allclose(np.cov(d.T), np.asarray(cov), rtol=0.2, atol=0.2), kind

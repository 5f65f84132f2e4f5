"""The adaptive-Metropolis core and its NumPyro wrapper: known targets, SBC, stubbed steps."""

from __future__ import annotations

import arviz_stats as azs
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC, NUTS

from inference import AdaptiveMetropolis, am
from inference.calibration_checks import rank_uniformity
from inference.welford import welford_algorithm, welford_covariance, welford_init

KEY = jax.random.PRNGKey(20240601)


def run_chains(logdensity, x0, keys, num_warmup, num_samples, thin=1, **options):
    """vmap over chains, scan over iterations; returns kept positions (chain, draw, d)."""
    algo = am.as_top_level_api(logdensity, adapt_until=num_warmup, **options)

    def chain(key, x):
        state = algo.init(x)

        def body(s, i):
            s, info = algo.step(jax.random.fold_in(key, i), s, i)
            return s, (s.position, info.is_accepted)

        state, (xs, acc) = jax.lax.scan(body, state, jnp.arange(num_warmup + num_samples))
        return xs[num_warmup::thin], acc[num_warmup:].mean(), state

    return jax.jit(jax.vmap(chain))(keys, x0)


def test_welford_matches_numpy():
    x = np.random.default_rng(0).normal(size=(50, 4)) @ np.diag([1.0, 2.0, 0.5, 3.0])
    init, update, final = welford_algorithm(4)
    s = init()
    for row in x:
        s = update(s, jnp.asarray(row))
    np.testing.assert_allclose(s.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(final(s), np.cov(x.T), rtol=1e-10)
    assert np.allclose(welford_covariance(welford_init(3)), 0.0)


def test_scaling_factors_and_validation():
    assert am.scaling_factor("haario", 21) == pytest.approx(2.38**2 / 21)
    assert am.scaling_factor("proda", 21) == pytest.approx(2.4 / 21)
    assert am.scaling_factor(0.3, 5) == 0.3
    with pytest.raises(ValueError, match="scaling"):
        am.scaling_factor("gelman", 3)
    with pytest.raises(ValueError, match="acceptance"):
        am.build_kernel(acceptance="greedy")
    with pytest.raises(ValueError, match="regularization"):
        am.build_kernel(regularization=-1.0)


def test_correlated_gaussian_20d():
    """Means within 4 MCSE, covariances within 5 sd of their sampling error, R-hat < 1.01."""
    d = 20
    rng = np.random.default_rng(1)
    a = rng.normal(size=(d, d))
    cov = a @ a.T / d + 0.1 * np.eye(d)
    mu = np.linspace(-1.0, 1.0, d)
    prec = jnp.asarray(np.linalg.inv(cov))

    def logdensity(x):
        r = x - mu
        return -0.5 * r @ prec @ r

    keys = jax.random.split(KEY, 4)
    x0 = jnp.asarray(mu) + 2.0 * jax.random.normal(jax.random.PRNGKey(1), (4, d))
    xs, acc, _ = run_chains(logdensity, x0, keys, 20_000, 40_000, initial_step_size=1.0,
                            adapt_start=1_000, adapt_every=50)
    xs = np.asarray(xs)
    assert np.all((np.asarray(acc) > 0.15) & (np.asarray(acc) < 0.35))  # ~0.23 for AM
    assert azs.rhat(xs, chain_axis=0, draw_axis=1).max() < 1.01
    ess = azs.ess(xs, chain_axis=0, draw_axis=1)
    mcse = azs.mcse(xs, chain_axis=0, draw_axis=1)
    z = (xs.reshape(-1, d).mean(0) - mu) / mcse
    assert np.abs(z).max() < 4.0, z
    # Var of a sample covariance entry ~ (S_ii S_jj + S_ij^2) / n_eff.
    est = np.cov(xs.reshape(-1, d).T)
    n_eff = np.minimum.outer(ess, ess)
    se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n_eff)
    assert np.abs((est - cov) / se).max() < 5.0


def _sbc_ranks(acceptance: str, n_rep: int = 400, n_draws: int = 99, thin: int = 25):
    """Ranks of the true theta among posterior draws for a conjugate 2-D Gaussian model."""
    n_obs, sigma = 3, 1.0
    key_theta, key_y, key_chain = jax.random.split(jax.random.PRNGKey(7), 3)
    theta = jax.random.normal(key_theta, (n_rep, 2))
    y = theta[:, None, :] + sigma * jax.random.normal(key_y, (n_rep, n_obs, 2))

    def posterior(yr):
        return lambda x: -0.5 * jnp.sum(x**2) - 0.5 * jnp.sum((yr - x) ** 2) / sigma**2

    warm = 1_000
    kernel = am.build_kernel(adapt_until=warm, adapt_start=200, acceptance=acceptance)

    def chain(key, yr, x0):
        ld = posterior(yr)
        state = am.init(x0, ld, initial_step_size=0.5)

        def body(s, i):
            s, _ = kernel(jax.random.fold_in(key, i), s, ld, i)
            return s, s.position

        _, xs = jax.lax.scan(body, state, jnp.arange(warm + n_draws * thin))
        return xs[warm + thin - 1::thin]

    keys = jax.random.split(key_chain, n_rep)
    draws = jax.jit(jax.vmap(chain))(keys, y, theta)  # start at truth: a posterior draw
    ranks = np.asarray((draws < theta[:, None, :]).sum(axis=1))  # (n_rep, 2), 0..n_draws
    return ranks, n_draws


def test_simulation_based_calibration():
    """Ranks are uniform for AM (chi2, 9 df, 0.1 % critical value 27.9, per dimension);
    the same check rejects PRODA's annealed acceptance, which samples a sharper target."""
    ranks, n = _sbc_ranks("metropolis")
    assert np.all(rank_uniformity(ranks, n, bins=10).chi2 < 27.9)
    bad, n = _sbc_ranks("annealed")
    assert rank_uniformity(bad[:, :1], n, bins=10).chi2[0] > 100.0


def _state(x, lp):
    x = jnp.asarray(x, float)
    return am.init(x, lambda _: lp)


def _scan(kernel, state, logdensity, n, start=0):
    """n jitted steps; returns the final state and the per-step states and infos."""
    def body(s, i):
        s, info = kernel(jax.random.fold_in(KEY, i), s, logdensity, i)
        return s, (s, info)

    return jax.jit(lambda s: jax.lax.scan(body, s, start + jnp.arange(n)))(state)


def test_stub_steps_minus_inf_nan_and_flat():
    kernel = am.build_kernel()
    for bad in (-jnp.inf, jnp.nan, jnp.inf):
        s, (_, info) = _scan(kernel, _state([0.3, 0.4], 0.0), lambda _, b=bad: b, 50)
        assert not np.any(info.is_accepted)
        assert int(s.num_accepted) == 0
        np.testing.assert_array_equal(s.position, [0.3, 0.4])
    # a flat target: every proposal is at least as good, so every one is accepted
    s, (_, info) = _scan(kernel, _state([0.3, 0.4], 0.0), lambda _: 0.0, 50)
    assert np.all(info.is_accepted)


def test_annealed_acceptance_rule():
    """PRODA: alpha = min(1, exp(dlogp * ln(n + 2))), n = 1-based iteration in the phase."""
    kernel = am.build_kernel(acceptance="annealed", num_test_steps=10)
    plain = am.build_kernel()
    s = _state([0.5, 0.5], 0.0)
    ld = lambda _: -1.0  # noqa: E731  every proposal is worse by 1
    _, info = plain(KEY, s, ld, 0)
    assert float(info.acceptance_probability) == pytest.approx(np.exp(-1.0))
    for it, n in [(0, 1), (7, 8), (10, 1), (109, 100)]:  # phase restarts at the formal run
        _, info = kernel(KEY, s, ld, it)
        assert float(info.acceptance_probability) == pytest.approx(1.0 / (n + 2))
    keys = jax.vmap(lambda i: jax.random.fold_in(KEY, i))(jnp.arange(600))
    hits = jax.jit(jax.vmap(lambda k: kernel(k, s, ld, 0)[1].is_accepted))(keys)
    assert abs(np.mean(hits) - 1 / 3) < 4 * np.sqrt(2 / 9 / 600)


def test_test_phase_steps_and_adaptation_freeze():
    h = 0.1
    kernel = am.build_kernel(num_test_steps=100, test_step_size=h, adapt_start=50,
                             adapt_every=10, adapt_until=400)
    ld = lambda x: -0.5 * jnp.sum((x - 0.5) ** 2 / 0.01)  # noqa: E731
    s0 = am.init(jnp.full(3, 0.5), ld)
    s, (states, _) = _scan(kernel, s0, ld, 600)
    pos = np.concatenate([np.asarray(s0.position)[None], np.asarray(states.position)])
    assert np.all(np.abs(np.diff(pos[:101], axis=0)) <= h + 1e-15)  # uniform test steps
    chols = np.asarray(states.proposal_cholesky)
    assert not np.allclose(chols[100], chols[0])  # the formal run starts from the test cov
    assert not np.allclose(chols[399], chols[149])  # adapting during warm-up
    for i in range(400, 600):  # frozen afterwards
        np.testing.assert_array_equal(chols[i], chols[399])
    cov = welford_covariance(s.statistics)
    expected = np.linalg.cholesky(am.scaling_factor("haario", 3) * (cov + 1e-8 * np.eye(3)))
    np.testing.assert_allclose(chols[399], expected, rtol=1e-10)


def _model(y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(2.0))
    numpyro.sample("y", dist.Normal(mu, sigma), obs=y)


def test_numpyro_kernel_vectorized_sequential_and_nuts():
    y = np.random.default_rng(0).normal(3.0, 1.5, size=50)
    out = {}
    for method in ("vectorized", "sequential"):
        mcmc = MCMC(AdaptiveMetropolis(_model, adapt_every=10), num_warmup=2_000,
                    num_samples=4_000, num_chains=3, chain_method=method, progress_bar=False)
        mcmc.run(jax.random.PRNGKey(0), y=y)
        out[method] = mcmc.get_samples(group_by_chain=True)
    for k in ("mu", "sigma"):
        np.testing.assert_allclose(out["vectorized"][k], out["sequential"][k], rtol=1e-10)
    nuts = MCMC(NUTS(_model), num_warmup=500, num_samples=1_000, num_chains=2,
                chain_method="vectorized", progress_bar=False)
    nuts.run(jax.random.PRNGKey(1), y=y)
    ref = nuts.get_samples(group_by_chain=True)
    for k in ("mu", "sigma"):
        a, b = np.asarray(out["vectorized"][k]), np.asarray(ref[k])
        se = np.hypot(azs.mcse(a, chain_axis=0, draw_axis=1), azs.mcse(b, chain_axis=0,
                                                                      draw_axis=1))
        assert abs(a.mean() - b.mean()) < 4 * se
        assert azs.rhat(a, chain_axis=0, draw_axis=1) < 1.02


def test_numpyro_kernel_errors_and_potential_fn():
    with pytest.raises(ValueError, match="Only one of"):
        AdaptiveMetropolis(_model, potential_fn=lambda z: 0.0)
    with pytest.raises(ValueError, match="Only one of"):
        AdaptiveMetropolis()
    kernel = AdaptiveMetropolis(potential_fn=lambda z: 0.5 * jnp.sum(z["x"] ** 2))
    mcmc = MCMC(kernel, num_warmup=1_000, num_samples=3_000, progress_bar=False)
    with pytest.raises(ValueError, match="init_params"):
        mcmc.run(KEY)
    mcmc.run(KEY, init_params={"x": jnp.zeros(2)})
    x = np.asarray(mcmc.get_samples()["x"])
    assert x.shape == (3_000, 2)
    assert np.all(np.abs(x.mean(0)) < 0.3) and np.all(np.abs(x.std(0) - 1) < 0.2)
    assert "acc. prob" in kernel.get_diagnostics_str(mcmc.last_state)


def test_sbc_with_adaptation_between_segments():
    """Re-adapting the proposal between segments from the chains' own draws
    (``adapt_between_segments``) leaves the posterior calibrated: SBC ranks of the draws of
    three segments (the last two with the pooled proposal) are uniform, on the conjugate
    2-D model of :func:`_sbc_ranks` with a strongly correlated prior (posterior correlation
    0.73) after a short warm-up (chi2, 9 df, 0.1 % critical value 27.9)."""
    from inference import samplers

    n_rep, n_obs, n_draws, rho = 400, 3, 99, 0.95
    prior_cov = jnp.array([[1.0, rho], [rho, 1.0]])
    prior_prec = jnp.linalg.inv(prior_cov)
    k_theta, k_y, k_chain = jax.random.split(jax.random.PRNGKey(11), 3)
    theta = jax.random.multivariate_normal(k_theta, jnp.zeros(2), prior_cov, (n_rep,))
    y = theta[:, None, :] + jax.random.normal(k_y, (n_rep, n_obs, 2))
    cfg = samplers.AMConfig(num_warmup=200, num_samples=400, adapt_start=100,
                            adapt_every=50, initial_step_size=0.3,
                            adapt_between_segments=True)
    core = samplers.sampler_core(cfg)
    chains, thin, n_seg = 4, 4, 3

    def one(key, yr, th):
        ld = lambda x: -0.5 * x @ prior_prec @ x - 0.5 * jnp.sum((yr - x) ** 2)  # noqa: E731
        st = core.init(cfg, ld, jnp.broadcast_to(th, (chains, 2)), key)  # truth: a draw
        st, tuning = core.warmup(cfg, ld, st, key)
        out = []
        for j in range(n_seg):
            st, d, _ = core.run_segment(cfg, ld, st, tuning, jax.random.fold_in(key, j),
                                        cfg.num_samples, thin)
            out.append(d)
        draws = jnp.concatenate(out, axis=1).reshape(-1, 2)  # (chains * 300, 2)
        step = draws.shape[0] // n_draws
        return draws[step - 1::step][:n_draws], st.chains.proposal_cholesky[0]

    keys = jax.random.split(k_chain, n_rep)
    draws, chol = jax.jit(jax.vmap(one))(keys, y, theta)
    ranks = np.asarray((draws < theta[:, None, :]).sum(axis=1))
    assert np.all(rank_uniformity(ranks, n_draws, bins=10).chi2 < 27.9)
    # the pooled proposal learned the posterior correlation the warm-up could not
    c = np.einsum("rij,rkj->rik", np.asarray(chol), np.asarray(chol))
    corr = c[:, 0, 1] / np.sqrt(c[:, 0, 0] * c[:, 1, 1])
    assert np.median(corr) > 0.5


def test_symmetric_normal_is_standard_normal_and_symmetric():
    """The random-walk increments: float64 N(0, 1) to float32 resolution (KS, moments), the
    tails cut at ~5.3 sd, and z, -z equally likely (signs and magnitudes independent)."""
    from scipy import stats

    keys = jax.random.split(jax.random.PRNGKey(7), 20_000)
    z = np.asarray(jax.vmap(lambda k: am.symmetric_normal(k, 23))(keys))
    assert z.dtype == np.float64 and z.shape == (20_000, 23)
    flat = z.ravel()
    assert stats.kstest(flat, "norm").pvalue > 1e-3
    assert abs(flat.mean()) < 4 / np.sqrt(flat.size)
    assert abs(flat.var() - 1) < 0.01
    assert np.abs(flat).max() < 5.4
    # the magnitude's distribution is the same for both signs (two-sample KS)
    assert stats.ks_2samp(flat[flat > 0], -flat[flat < 0]).pvalue > 1e-3
    # coordinates are uncorrelated
    c = np.corrcoef(z[:, :5].T)
    assert np.max(np.abs(c - np.eye(5))) < 0.05


@pytest.mark.parametrize("target_acceptance", [None, 0.3])
def test_refresh_between_blocks_is_the_same_chain(target_acceptance):
    """Steps with ``refresh_here=False`` and ``kernel.refresh_proposal`` after every block of
    ``adapt_every`` steps (how the runner's warm-up runs) give the per-step chain bit for
    bit, through adaptation start, refreshes and the freeze, for a batch of chains."""
    cov = jnp.asarray([[1.0, 0.8, 0.0], [0.8, 1.0, 0.3], [0.0, 0.3, 2.0]])
    prec = jnp.linalg.inv(cov)

    def logdensity(x):
        return -0.5 * x @ prec @ x

    every, n = 10, 120
    kernel = am.build_kernel(adapt_start=25, adapt_every=every, adapt_until=90,
                             target_acceptance=target_acceptance)
    keys = jax.random.split(jax.random.key(3), 5)
    start = jax.vmap(lambda x: am.init(x, logdensity))(
        jax.random.normal(jax.random.key(4), (5, 3)))

    def step(chains, i, refresh_here):
        return jax.vmap(lambda k, s: kernel(jax.random.fold_in(k, i), s, logdensity, i,
                                            refresh_here=refresh_here)[0])(keys, chains)

    @jax.jit
    def per_step(chains):
        return jax.lax.scan(lambda c, i: (step(c, i, True), c.position), chains,
                            jnp.arange(n))

    @jax.jit
    def blocked(chains):
        def block(c, idx):
            c, xs = jax.lax.scan(lambda c, i: (step(c, i, False), c.position), c, idx)
            return jax.vmap(lambda s: kernel.refresh_proposal(s, idx[-1]))(c), xs
        c, xs = jax.lax.scan(block, chains, jnp.arange(n).reshape(-1, every))
        return c, xs.reshape(n, *xs.shape[2:])

    a, xa = per_step(start)
    b, xb = blocked(start)
    np.testing.assert_array_equal(xa, xb)
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(u, v)
    # the proposal did adapt (a refresh happened), so the equality is not vacuous
    assert not np.allclose(a.proposal_cholesky, start.proposal_cholesky)
    # and skipping the refresh without calling refresh_proposal is a different chain
    c, _ = jax.jit(lambda ch: jax.lax.scan(lambda c, i: (step(c, i, False), None), ch,
                                           jnp.arange(n)))(start)
    np.testing.assert_array_equal(c.proposal_cholesky, start.proposal_cholesky)

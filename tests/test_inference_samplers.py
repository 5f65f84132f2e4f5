"""The sampler registry and contract: presets, round trips, registration, the AM core."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import inference
from inference import samplers
from inference.models import REJECTION_BITS


def test_presets_apply_the_budget_rules():
    am = inference.get_sampler({"kind": "am", "num_warmup": 4_000, "num_samples": 2_000})
    assert (am.num_warmup, am.num_samples, am.adapt_start, am.num_test_steps) == (
        4_000, 2_000, 1_000, 0)
    small = inference.sampler_from_budget("am", 400, 100)
    assert small.adapt_start == 100  # min(1000, num_warmup // 4)
    two = inference.get_sampler({"kind": "am_two_phase", "num_warmup": 3_000,
                                 "num_samples": 1_000})
    assert two.num_test_steps == 1_000 and two.adapt_start == 750 and two.name == "am_two_phase"
    proda = inference.sampler_from_budget("proda_compat", 3_000, 1_000)
    assert (proda.acceptance, proda.scaling, proda.freeze_after_warmup, proda.space) == (
        "annealed", "proda", False, "unit")
    assert proda.num_test_steps == 1_000
    nuts = inference.get_sampler({"kind": "nuts", "num_warmup": 50, "num_samples": 60})
    assert isinstance(nuts, inference.NUTSConfig) and nuts.num_samples == 60
    # the paper budget; the preset re-adapts between segments, AMConfig() is Haario's AM
    assert inference.get_sampler("am") == inference.AMConfig(adapt_between_segments=True)
    assert not proda.adapt_between_segments and two.adapt_between_segments
    for cfg in (am, two, proda, nuts):  # to_dict round-trips through the registry
        assert inference.get_sampler(cfg.to_dict()) == cfg
        assert type(cfg).from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown sampler 'slice'"):
        inference.get_sampler("slice")


def test_a_new_sampler_is_one_registration(monkeypatch, tmp_path):
    """A random-walk sampler defined here runs through the registry's contract."""

    @dataclasses.dataclass(frozen=True)
    class RWConfig:
        num_warmup: int = 10
        num_samples: int = 20
        step: float = 0.5
        name: str = "rw"
        kind = "rw_test"

        def to_dict(self):
            return {"kind": self.kind, **dataclasses.asdict(self)}

    def init(config, logdensity_fn, positions, key):
        return positions, samplers.chain_keys(key, positions.shape[0])

    def warmup(config, logdensity_fn, state, key):
        return state, {}

    def run_segment(config, logdensity_fn, state, tuning, key, num_steps, thin):
        x, _ = state
        keys = jax.random.split(key, num_steps)

        def step(x, k):
            prop = x + config.step * jax.random.normal(k, x.shape)
            lp_new, lp = jax.vmap(logdensity_fn)(prop), jax.vmap(logdensity_fn)(x)
            acc = jnp.log(jax.random.uniform(k, (x.shape[0],))) < lp_new - lp
            return jnp.where(acc[:, None], prop, x), acc

        x, acc = jax.lax.scan(step, x, keys[: num_steps // thin * thin])
        draws = jnp.zeros((x.shape[0], num_steps // thin, x.shape[1])) + x[:, None]
        info = {"accepted": acc.sum(0).astype(float),
                "n_evals": jnp.full(x.shape[0], 2.0 * num_steps),
                "divergent": jnp.zeros(x.shape[0])}
        return (x, state[1]), draws, info

    monkeypatch.setattr(samplers, "_KINDS", dict(samplers._KINDS))
    monkeypatch.setattr(samplers, "SAMPLERS", dict(samplers.SAMPLERS))
    samplers.register_sampler("rw_test", RWConfig, samplers.SamplerCore(init, warmup,
                                                                        run_segment))
    cfg = inference.get_sampler({"kind": "rw_test", "step": 0.3})
    assert cfg == RWConfig(step=0.3) and samplers.sampler_core(cfg).init is init
    ld = samplers.DensityWithStatus(lambda x: (-0.5 * jnp.sum(x**2), jnp.int32(0)))
    state = init(cfg, ld, jnp.zeros((2, 3)), jax.random.PRNGKey(0))
    state, draws, info = run_segment(cfg, ld, state, {}, jax.random.PRNGKey(1), 20, 5)
    assert draws.shape == (2, 4, 3) and info["accepted"].shape == (2,)
    # and through the runner, which never looks at the config's class
    from inference.testing import synthetic_sites

    profiles, forcing, _ = synthetic_sites("toy", 2, seed=1, noise_sd=0.05)
    run = inference.run_sites(profiles, forcing, "toy", cfg, output_dir=tmp_path, num_chains=2,
                              num_draws=5, progress=False)
    assert run.complete and run.table.attrs["sampler"] == "rw"
    assert np.all(run.table["n_evals"].values >= 2 * (10 + 2 * 20))
    assert inference.load_site(tmp_path, "site0001")["posterior"]["a"].shape == (2, 5)


def test_am_core_counts_rejections_by_reason():
    """Proposals beyond x0 > 1 are infeasible (reason 'negative'): counted, never accepted."""
    bit = REJECTION_BITS["negative"]

    def fn(x):
        bad = x[0] > 1.0
        return jnp.where(bad, -jnp.inf, -0.5 * jnp.sum(x**2)), jnp.where(bad, bit, 0)

    ld = samplers.DensityWithStatus(fn)
    cfg = inference.adaptive_metropolis(num_warmup=200, num_samples=400, adapt_start=50,
                                        initial_step_size=1.0)
    core = samplers.sampler_core(cfg)
    state = core.init(cfg, ld, jnp.zeros((3, 2)), jax.random.PRNGKey(0))
    state, tuning = core.warmup(cfg, ld, state, jax.random.PRNGKey(1))
    state, draws, info = jax.jit(core.run_segment, static_argnums=(0, 1, 5, 6))(
        cfg, ld, state, tuning, jax.random.PRNGKey(2), 400, 4)
    assert draws.shape == (3, 100, 2)
    assert np.all(np.asarray(draws)[..., 0] <= 1.0)  # never accepted
    neg = np.asarray(info["rejected_negative"])
    assert np.all(neg > 0) and np.all(neg + np.asarray(info["accepted"]) <= 400)
    assert np.all(np.asarray(info["rejected_nonfinite"]) == 0)
    assert np.all(np.asarray(tuning["rejected_negative"]) > 0)
    # the same core without status: the same chain (the status is only bookkeeping)
    plain = lambda x: fn(x)[0]  # noqa: E731
    s2 = core.init(cfg, plain, jnp.zeros((3, 2)), jax.random.PRNGKey(0))
    s2, t2 = core.warmup(cfg, plain, s2, jax.random.PRNGKey(1))
    _, d2, i2 = core.run_segment(cfg, plain, s2, t2, jax.random.PRNGKey(2), 400, 4)
    np.testing.assert_array_equal(np.asarray(d2), np.asarray(draws))
    assert "rejected_negative" not in i2


def test_welford_merge_equals_the_statistics_of_the_union():
    from inference.welford import welford_covariance, welford_init, welford_merge, welford_of

    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(7, 3)), rng.normal(2.0, 3.0, size=(40, 3))
    m = welford_merge(welford_of(a), welford_of(b))
    both = np.concatenate([a, b])
    np.testing.assert_allclose(np.asarray(m.mean), both.mean(0), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(welford_covariance(m)), np.cov(both.T), rtol=1e-12)
    empty = welford_merge(welford_init(3), welford_of(b))
    np.testing.assert_allclose(np.asarray(welford_covariance(empty)), np.cov(b.T), rtol=1e-12)


def test_am_adapts_between_segments_from_the_pooled_draws():
    """With adapt_between_segments every chain starts a later segment with the proposal
    s_d (Sigma + eps I) of all chains' stored draws so far; within a segment it is fixed,
    and the first segment keeps each chain's own warm-up proposal."""
    scale = jnp.array([3.0, 0.2, 1.0])
    ld = lambda x: -0.5 * jnp.sum((x / scale) ** 2)  # noqa: E731
    cfg = inference.adaptive_metropolis(num_warmup=300, num_samples=400, adapt_start=100,
                                        adapt_every=50, adapt_between_segments=True)
    core = samplers.sampler_core(cfg)
    state = core.init(cfg, ld, jnp.zeros((4, 3)), jax.random.PRNGKey(0))
    state, tuning = core.warmup(cfg, ld, state, jax.random.PRNGKey(1))
    own = np.asarray(state.chains.proposal_cholesky)
    assert not np.allclose(own[0], own[1])  # per-chain warm-up estimates
    run = jax.jit(core.run_segment, static_argnums=(0, 1, 5, 6))
    s1, d1, _ = run(cfg, ld, state, tuning, jax.random.PRNGKey(2), 400, 4)
    np.testing.assert_array_equal(np.asarray(s1.chains.proposal_cholesky), own)
    assert float(s1.pooled.count) == 4 * 100
    s2, d2, _ = run(cfg, ld, s1, tuning, jax.random.PRNGKey(3), 400, 4)
    pooled = np.asarray(d1).reshape(-1, 3)
    want = np.linalg.cholesky(2.38**2 / 3 * (np.cov(pooled.T) + 1e-8 * np.eye(3)))
    for c in range(4):
        np.testing.assert_allclose(np.asarray(s2.chains.proposal_cholesky)[c], want,
                                   rtol=1e-8)
    assert float(s2.pooled.count) == 4 * 200
    # the pooled proposal follows the target's scales (sd 3 vs 0.2)
    sd = np.sqrt(np.diag(want @ want.T) * 3 / 2.38**2)
    assert sd[0] > 5 * sd[1]
    # off by default: the frozen warm-up proposal is kept
    plain = inference.adaptive_metropolis(num_warmup=300, num_samples=400, adapt_start=100,
                                          adapt_every=50)
    p1, _, _ = run(plain, ld, state, tuning, jax.random.PRNGKey(2), 400, 4)
    p2, _, _ = run(plain, ld, p1, tuning, jax.random.PRNGKey(3), 400, 4)
    np.testing.assert_array_equal(np.asarray(p2.chains.proposal_cholesky), own)
    with pytest.raises(ValueError, match="adapt_between_segments"):
        inference.adaptive_metropolis(adapt_between_segments=True, acceptance="annealed")

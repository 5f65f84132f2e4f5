"""The custom JVP of the environmental-modifier means (``socmodels.processes``).

It must leave the forward values unchanged, give the gradients of the plain rule (to
round-off) in both models, agree with finite differences for the two parameters it
differentiates, and still differentiate with respect to the site inputs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from socmodels import clm5, compas, processes
from tests.support.forcings import FORCING_KINDS, synthetic_forcing

MODELS = {"clm5": clm5, "compas": compas}


def _plain_means(q10, w_scaling, t10, w, o, on):
    return processes._modifier_means.fun(q10, w_scaling, t10, w, o, on)


@pytest.fixture(scope="module")
def preps():
    return {k: processes.prepare_site(synthetic_forcing(k)) for k in FORCING_KINDS}


def _args(prep, q10, ws):
    return (jnp.asarray(q10), jnp.asarray(ws), prep.t10, prep.w, prep.o, prep.on)


@pytest.mark.parametrize("kind", FORCING_KINDS)
def test_values_and_partials_match_the_plain_rule(preps, kind):
    prep = preps[kind]
    # w_scaling values below, at and above the cap min(1, s W) for some months
    for q10, ws in [(1.3, 0.7), (2.5, 1.0 / 0.6), (1.8, 3.0)]:
        args = _args(prep, q10, ws)
        new = processes._modifier_means(*args)
        old = _plain_means(*args)
        for a, b in zip(new, old, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        for i in (0, 1):
            for out in (0, 1):
                jn = jax.jacfwd(lambda x, i=i, out=out, args=args: processes._modifier_means(
                    *args[:i], x, *args[i + 1:])[out])(args[i])
                jr = jax.jacrev(lambda x, i=i, out=out, args=args: processes._modifier_means(
                    *args[:i], x, *args[i + 1:])[out])(args[i])
                jo = jax.jacfwd(lambda x, i=i, out=out, args=args: _plain_means(
                    *args[:i], x, *args[i + 1:])[out])(args[i])
                scale = np.abs(np.asarray(jo)).max()
                capped = i == 1 and ws * float(np.min(prep.w)) > 1.0  # d/ds min(1, sW) = 0
                assert (scale == 0) == capped
                np.testing.assert_allclose(np.asarray(jn), np.asarray(jo), rtol=1e-12,
                                           atol=1e-14 * scale)
                np.testing.assert_allclose(np.asarray(jr), np.asarray(jo), rtol=1e-12,
                                           atol=1e-14 * scale)


def test_partials_match_finite_differences(preps):
    args = _args(preps["permafrost"], 2.2, 1.1)

    def f(q10, ws):
        xi, xi_n = processes._modifier_means(q10, ws, *args[2:])
        return jnp.sum(jnp.log(xi)) + 0.5 * jnp.sum(jnp.log(xi_n))

    g = np.asarray(jax.grad(f, argnums=(0, 1))(args[0], args[1]))
    h = 1e-6
    fd = np.array([(f(args[0] + h, args[1]) - f(args[0] - h, args[1])) / (2 * h),
                   (f(args[0], args[1] + h) - f(args[0], args[1] - h)) / (2 * h)])
    np.testing.assert_allclose(g, fd, rtol=1e-6)


def test_site_inputs_are_still_differentiated(preps):
    args = _args(preps["tropical"], 1.7, 0.9)
    for i in (2, 3, 4, 5):
        jn = jax.jacrev(lambda x, i=i: sum(processes._modifier_means(
            *args[:i], x, *args[i + 1:])))(args[i])
        jo = jax.jacrev(lambda x, i=i: sum(_plain_means(*args[:i], x, *args[i + 1:])))(args[i])
        np.testing.assert_allclose(np.asarray(jn), np.asarray(jo), rtol=1e-12, atol=1e-300)
        assert np.abs(np.asarray(jo)).max() > 0


@pytest.mark.parametrize("name", list(MODELS))
def test_model_gradients_equal_the_plain_rule(name, monkeypatch):
    """Whole steady state: forward values to 1e-12, gradients to 1e-9 of the plain rule."""
    mod = MODELS[name]
    prep = mod.prepare(synthetic_forcing("deep"))
    u = np.random.default_rng(7).uniform(0.05, 0.95, (16, len(mod.PARAMETERS)))
    th = jnp.asarray(mod.PARAMETERS.to_physical(u))

    def f(t):
        ss = mod.steady_state(t, prep)
        return jnp.sum(jnp.log(jnp.abs(ss.soc))) + jnp.log(jnp.abs(ss.stock))

    def evaluate():
        vals = jax.jit(jax.vmap(lambda t: mod.steady_state(t, prep).pools))(th)
        return np.asarray(vals), np.asarray(jax.jit(jax.vmap(jax.grad(f)))(th))

    pools, grad = evaluate()
    monkeypatch.setattr(processes, "_modifier_means", processes._modifier_means.fun)
    pools_old, grad_old = evaluate()
    ok = np.all(np.isfinite(grad_old), axis=1)
    assert ok.sum() >= 8
    np.testing.assert_allclose(pools, pools_old, rtol=1e-12, atol=0)
    scale = np.abs(grad_old[ok]).max(axis=1, keepdims=True)
    np.testing.assert_allclose(grad[ok], grad_old[ok], rtol=1e-9, atol=0)
    assert np.all(np.abs(grad[ok] - grad_old[ok]) <= 1e-12 * scale)


def test_observation_interval_search_matches_numpy():
    """The observation operator's node search (``method="compare_all"``) equals NumPy's."""
    from socmodels import layers, observe

    z = np.concatenate([layers.zsoi, layers.zisoi[:-1], [0.0, 0.004, 8.5, layers.COLUMN_DEPTH],
                        np.random.default_rng(2).uniform(0.0, layers.COLUMN_DEPTH, 50)])
    y = np.exp(-layers.zsoi) * 1e4 + 50.0
    got = np.asarray(observe(jnp.asarray(y), jnp.asarray(z)))
    from scipy.interpolate import PchipInterpolator

    zc = np.clip(z, layers.zsoi[0], layers.zsoi[-1])
    np.testing.assert_allclose(got, PchipInterpolator(layers.zsoi, y)(zc), rtol=1e-12)

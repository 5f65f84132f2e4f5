"""COMPAS feasible-set parameterization (``socmodels.compas.feasible_parameters``, the
model's optional capability behind the ``"feasible"`` sampler space): exactness and prior."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from socmodels import compas
from socmodels.compas import IDX_DEATH, IDX_S4, feasible_parameters, feasible_ranges
from socmodels.contract import has_capability
from socmodels.data.climate import climate_forcing

N = 3000


@pytest.fixture(scope="module")
def preps():
    temperate = climate_forcing(12.0, 9.0, 0.6, 500.0)
    permafrost = climate_forcing(-8.0, 18.0, 0.6, 150.0, active_layer_depth=0.6, latitude=68.0)
    f = jax.tree_util.tree_map(lambda a, b: jnp.stack([jnp.asarray(a), jnp.asarray(b)]),
                               temperate, permafrost)
    return jax.vmap(compas.prepare)(f)


@pytest.fixture(scope="module")
def draws(preps):
    u = jax.random.uniform(jax.random.PRNGKey(1), (N, 23), minval=1e-9, maxval=1 - 1e-9)
    theta = jax.vmap(compas.PARAMETERS.to_physical)(u)

    def per_site(prep):
        feas = jax.vmap(lambda t: compas.steady_state(t, prep, check_bounds=False).feasible)(
            theta)
        death, s4 = jax.vmap(lambda t: feasible_ranges(t, prep))(theta)
        fm = jax.vmap(lambda x: feasible_parameters(x, prep))(u)
        mapped = jax.vmap(lambda t: compas.steady_state(t, prep, check_bounds=False))(fm.theta)
        return feas, death, s4, fm, (mapped.feasible, mapped.pools, mapped.status)

    out = jax.jit(jax.vmap(per_site))(preps)
    return np.asarray(theta), jax.tree_util.tree_map(np.asarray, out)


def test_mapped_draws_are_feasible(draws):
    _, (_, _, _, fm, (mapped_feas, _, _)) = draws
    assert fm.nonempty.mean() > 0.3
    # every draw with non-empty intervals is a feasible steady state of the unchanged model
    assert np.all(mapped_feas[fm.nonempty])
    assert np.all(np.isfinite(fm.log_volume[fm.nonempty]))
    assert np.all(fm.log_volume[fm.nonempty] <= 1e-12)
    assert np.all(np.isneginf(fm.log_volume[~fm.nonempty]))


def test_map_returns_the_model_steady_state(draws):
    """The steady state the map computes on the way (from the inputs it already has) is
    ``steady_state(theta)`` of the unchanged model: pools to round-off, the same status.
    (Compiled for one site the two agree bit for bit; in this batched program XLA rounds
    some operations differently, which SOC amplifies at the few draws next to a wall, where
    its closed form's denominator cancels: up to ~1e-7 relative.)"""
    _, (_, _, _, fm, (_, pools, status)) = draws
    ok = fm.nonempty
    mapped, direct = fm.steady_state.pools[ok], pools[ok]
    np.testing.assert_allclose(mapped, direct, rtol=1e-6, atol=1e-9)
    close = np.isclose(mapped, direct, rtol=1e-12, atol=1e-9)
    assert close.mean() > 0.9999
    assert np.array_equal(fm.steady_state.status[ok], status[ok])


def _mic_rule_problems(v, prep):
    """The MIC-rule root problem of ``feasible_parameters`` at ``v``: (a, d, Kd, need, hi0)."""
    params = compas.PARAMETERS
    lo, hi = jnp.asarray(params.lower), jnp.asarray(params.upper)
    theta = params.to_physical(v)
    inputs = compas._inputs(theta, prep)
    lit, (i_doc, i_mic, i_soc, _) = inputs.lit, inputs.fluxes
    d_lo = jnp.maximum(compas._death_lower_bound(theta, i_doc, i_mic, i_soc,
                                                 (i_doc + i_mic + i_soc) > 0), lo[IDX_DEATH])
    theta = theta.at[IDX_DEATH].set(d_lo + v[IDX_DEATH] * (hi[IDX_DEATH] - d_lo))
    r = compas._with_soil_times(inputs.r, theta)
    a, d, kd, t_hi, need, _ = compas._s4_terms(theta, r, lit, i_doc, i_mic, i_soc,
                                               compas.MAX_MIC_FRACTION)
    return a, d, kd, need, jnp.minimum(t_hi, hi[IDX_S4])


def test_mic_rule_root_matches_a_bracketing_solver(preps):
    """Newton on 1/SOC(1/tau4s4) (``compas._mic_rule_root``) finds the smallest tau4s4 with
    column SOC >= need to round-off (scipy's brentq on SOC(tau4s4) - need as the reference)
    in few steps, also at the permafrost site (layers with rates ~1e-170)."""
    from scipy.optimize import brentq

    u = jax.random.uniform(jax.random.PRNGKey(3), (400, 23), minval=1e-9, maxval=1 - 1e-9)
    dz = np.asarray(compas._DZ)
    for k in range(2):
        prep = jax.tree_util.tree_map(lambda x, k=k: x[k], preps)
        a, d, kd, need, hi0 = jax.vmap(lambda v, prep=prep: _mic_rule_problems(v, prep))(u)
        t, n = jax.vmap(compas._mic_rule_root)(a, d, kd, need, hi0)
        a, d, kd, need, hi0, t, n = (np.asarray(x) for x in (a, d, kd, need, hi0, t, n))
        solved = 0
        for j in range(len(u)):
            valid = (need[j] > 0 and hi0[j] > 0
                     and np.all(np.where(d[j] > 0, a[j] - d[j] * hi0[j] > 0, True)))
            if not valid:
                continue

            def excess(tt, a=a[j], d=d[j], kd=kd[j], need=need[j]):
                return np.sum(np.where(d > 0, d * kd * tt / (a - d * tt), 0.0) * dz) - need

            if excess(hi0[j]) <= 0:  # no root below the upper end: the upper end
                assert t[j] == hi0[j]
                continue
            root = brentq(excess, 0.0, hi0[j], xtol=1e-300, rtol=8.9e-16, maxiter=500)
            assert abs(t[j] - root) <= 4e-15 * root, (k, j, t[j], root)
            assert 1 <= n[j] <= 20
            solved += 1
        assert solved > 100


def test_ranges_characterise_feasibility(draws):
    """feasible(theta) <=> theta's two coordinates lie in their intervals (up to round-off)."""
    theta, (feas, death, s4, _, _) = draws
    td, t4 = theta[:, IDX_DEATH], theta[:, IDX_S4]
    inside = (td > death[..., 0]) & (t4 > s4[..., 0]) & (t4 < s4[..., 1])
    margin = 1e-6
    clear_in = ((td > death[..., 0] * (1 + margin)) & (t4 > s4[..., 0] * (1 + margin))
                & (t4 < s4[..., 1] * (1 - margin)))
    assert feas.mean() > 0.05
    assert np.all(inside[feas])               # feasible => inside
    assert np.all(feas[clear_in])             # clearly inside => feasible
    assert np.mean(inside != feas) < 1e-3


def test_implied_prior_is_restricted_uniform(draws):
    """Importance-resampled mapped draws (weights exp(log_volume), the Jacobian) match the
    uniform prior restricted to the feasible set (rejection draws): two-sample KS per
    parameter, Bonferroni over 23 parameters x 2 sites; the unweighted push-forward does not
    (it over-weights draws with narrow intervals)."""
    theta, (feas, _, _, fm, _) = draws
    rng = np.random.default_rng(0)
    names = compas.PARAMETERS.names
    worst_weighted, worst_unweighted = 1.0, 1.0
    for k in range(2):
        ref = theta[feas[k]]
        ok = fm.nonempty[k]
        w = np.exp(fm.log_volume[k][ok])
        pick = rng.choice(ok.sum(), size=len(ref), p=w / w.sum())
        res = fm.theta[k][ok][pick]
        raw = fm.theta[k][ok]
        for j in range(len(names)):
            worst_weighted = min(worst_weighted, stats.ks_2samp(res[:, j], ref[:, j]).pvalue)
            worst_unweighted = min(worst_unweighted, stats.ks_2samp(raw[:, j], ref[:, j]).pvalue)
    assert worst_weighted > 0.001 / 46
    assert worst_unweighted < 1e-6


def test_gradient_of_log_volume_is_finite(preps):
    prep = jax.tree_util.tree_map(lambda x: x[0], preps)
    u = jnp.full(23, 0.5)
    g = jax.grad(lambda x: feasible_parameters(x, prep).log_volume
                 + feasible_parameters(x, prep).theta.sum())(u)
    assert np.all(np.isfinite(np.asarray(g)))
    # the implicit-function gradient of the MIC-rule bound matches finite differences
    f = lambda x: feasible_parameters(x, prep).log_volume  # noqa: E731
    e = jnp.zeros(23).at[2].set(1e-6)
    fd = (f(u + e) - f(u - e)) / 2e-6
    assert np.isclose(float(jax.grad(f)(u)[2]), float(fd), rtol=1e-4, atol=1e-6)


def test_compas_provides_the_capability_and_clm5_does_not():
    from socmodels import clm5

    assert has_capability(compas, "feasible_parameters")
    assert not has_capability(clm5, "feasible_parameters")

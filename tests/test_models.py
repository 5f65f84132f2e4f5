"""CLM5 and COMPAS structured steady states against independent references.

References: the dense NumPy/SciPy implementation written separately from the spec
(``socmodels.reference``), forward time integration of the full ODE, column mass balance,
finite differences, and the first-order limit of Michaelis-Menten kinetics.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from socmodels import Forcing, ForcingError, ParameterError, clm5, compas, layers
from socmodels import reference as R
from socmodels.processes import MAX_CARBON_DENSITY
from tests.support.forcings import FORCING_KINDS, synthetic_forcing

MODELS = {"clm5": clm5, "compas": compas}
DENSE = {"clm5": R.clm5_dense_steady_state, "compas": R.compas_dense_steady_state}
SOIL_RATES = {"CLM5": ["s1", "s2", "s3"], "COMPAS": ["k_dth", "k_e"]}


def _rate_summary(mod, forcing, thetas):
    """Per parameter set: smallest decomposition rate (yr-1) and the input profile."""
    keys = ["cwd", "l1", "l23"] + SOIL_RATES[mod.NAME]
    prep = mod.prepare(forcing)

    def one(t):
        r = mod.rates(t, prep)
        return jnp.min(jnp.stack([getattr(r, k) for k in keys])), r.fin
    slowest, fin = jax.jit(jax.vmap(one))(jnp.asarray(thetas))
    return np.asarray(slowest), np.asarray(fin)


_JIT = {}


def _batched(mod, forcing, thetas):
    """Steady states for many parameter sets at one site (one compilation per model)."""
    if mod not in _JIT:
        _JIT[mod] = jax.jit(jax.vmap(mod.steady_state, in_axes=(0, None)))
    return _JIT[mod](jnp.asarray(thetas), mod.prepare(forcing))


@pytest.mark.parametrize("kind", FORCING_KINDS)
@pytest.mark.parametrize("name", ["clm5", "compas"])
def test_structured_equals_dense(name, kind):
    """(a) 100 random parameter sets across the prior box, per forcing: pools to 1e-8."""
    mod = MODELS[name]
    f = synthetic_forcing(kind)
    u = np.random.default_rng(42).uniform(0.001, 0.999, (100, len(mod.PARAMETERS)))
    thetas = np.asarray(mod.PARAMETERS.to_physical(u))
    ss = _batched(mod, f, thetas)
    slowest, fin = _rate_summary(mod, f, thetas)
    n_compared = 0
    for i, th in enumerate(thetas):
        ref = DENSE[name](th, f)
        p, q = np.asarray(ss.pools[i]), ref["pools"]
        if not np.all(np.isfinite(q)):
            assert not bool(ss.feasible[i])
            continue
        if slowest[i] < 1e-12:
            # Turnover > 1e12 yr somewhere (e.g. efolding ~ 0 m at a cold site): there the
            # code's 1e-30 diffusivity/advection floors, which we omit, decide the answer.
            continue
        # Layers receiving < 1e-15 of the input (steep beta profiles) hold amounts set by the
        # code's 1e-30 floors in the reference; compare the layers with real input.
        fed = fin[i] >= 1e-15
        scale = np.abs(q).max(axis=1, keepdims=True)
        np.testing.assert_allclose((p / scale)[:, fed], (q / scale)[:, fed], rtol=0, atol=1e-8,
                                   err_msg=f"{name} {kind} theta #{i}")
        if name == "compas":
            dense_ok = bool(ref["feasible"]) and q.sum(axis=0).max() <= MAX_CARBON_DENSITY
            assert bool(ss.feasible[i]) == dense_ok, f"feasible flag, theta #{i}"
        n_compared += 1
    assert n_compared >= 50


@pytest.mark.parametrize("kind", ["deep", "bedrock", "permafrost"])
def test_clm5_equals_forward_integration(kind):
    """(b) the long-time limit of the time-integrated full 140-state ODE."""
    f = synthetic_forcing(kind)
    th = np.asarray(clm5.PARAMETERS.to_physical(np.full(21, 0.4)))
    ss = clm5.steady_state(th, f)
    fwd = R.clm5_forward(th, f, 1e12)
    scale = np.abs(fwd).max(axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(ss.pools) / scale, fwd / scale, atol=1e-6)


@pytest.mark.parametrize("kind", ["deep", "tropical"])
def test_compas_equals_forward_integration(kind):
    """(b) nonlinear COMPAS: integrate the full 160-state ODE from a perturbed state."""
    f = synthetic_forcing(kind)
    th = np.asarray(compas.PARAMETERS.to_physical(np.full(23, 0.5)))
    ss = compas.steady_state(th, f)
    assert bool(ss.feasible)
    y0 = np.asarray(ss.pools) * np.array([1.3, 1.3, 1.3, 1.3, 0.7, 0.7, 0.7, 0.7])[:, None]
    fwd = R.compas_forward(th, f, 1e12, y0=y0)
    # Deep layers relax over > 1e12 yr (tiny enzyme pools); compare the top 8 layers.
    top = slice(0, 8)
    p = np.asarray(ss.pools)[:, top]
    np.testing.assert_allclose(p, fwd[:, top], rtol=1e-5)
    # and the ODE right-hand side vanishes at the structured steady state
    rhs = R.compas_rhs(0.0, np.asarray(ss.pools).reshape(-1), th, f)
    outflow = np.abs(R.compas_rhs(0.0, np.asarray(ss.pools).reshape(-1) * 1.01, th, f))
    assert np.all(np.abs(rhs) <= 1e-8 * np.maximum(outflow, 1e-300) + 1e-12)


@pytest.mark.parametrize("name", ["clm5", "compas"])
def test_mass_balance(name, forcings):
    """(c) column input = column respiration, from the fluxes, for random parameters."""
    mod = MODELS[name]
    u = np.random.default_rng(7).uniform(0.01, 0.99, (64, len(mod.PARAMETERS)))
    thetas = mod.PARAMETERS.to_physical(u)
    for kind, f in forcings.items():
        ss = _batched(mod, f, thetas)
        ok = np.isfinite(np.asarray(ss.respiration)) & np.all(
            np.isfinite(np.asarray(ss.pools)), axis=(1, 2))
        if name == "compas":
            ok &= np.asarray(ss.feasible)
        assert ok.sum() > 0
        np.testing.assert_allclose(np.asarray(ss.respiration)[ok], np.asarray(ss.total_input)[ok],
                                   rtol=1e-9, err_msg=kind)


def _objective(mod, prep, depths):
    from socmodels import observe

    def f(u):
        ss = mod.steady_state(mod.PARAMETERS.to_physical(u), prep)
        return jnp.sum(jnp.log(observe(ss.soc, depths))) + jnp.log(ss.stock)
    return f


@pytest.mark.parametrize("name", ["clm5", "compas"])
def test_gradients_match_finite_differences(name):
    """(d) reverse-mode gradient (adjoint solves) vs central differences in unit space."""
    mod = MODELS[name]
    f = synthetic_forcing("bedrock" if name == "clm5" else "deep")
    prep = mod.prepare(f)
    obj = _objective(mod, prep, jnp.array([0.05, 0.15, 0.3, 0.6, 1.1]))
    u0 = jnp.full(len(mod.PARAMETERS), 0.45)
    g = np.asarray(jax.jit(jax.grad(obj))(u0))
    obj = jax.jit(obj)
    h = 1e-6
    fd = np.array([(obj(u0.at[i].add(h)) - obj(u0.at[i].add(-h))) / (2 * h)
                   for i in range(len(u0))])
    np.testing.assert_allclose(g, fd, rtol=2e-5, atol=1e-6 * np.abs(fd).max())
    assert np.abs(g).max() > 0


@pytest.mark.parametrize("name", ["clm5", "compas"])
def test_vmap_jit_and_prepare_agree(name, forcings):
    """Batched sites x parameters equals one-at-a-time evaluation on the raw Forcing."""
    mod = MODELS[name]
    fs = Forcing.stack([forcings[k] for k in FORCING_KINDS])
    u = np.random.default_rng(3).uniform(0.1, 0.9, (len(FORCING_KINDS), len(mod.PARAMETERS)))
    th = mod.PARAMETERS.to_physical(u)
    batched = jax.jit(jax.vmap(mod.steady_state))(th, fs)
    for i, k in enumerate(FORCING_KINDS):
        single = mod.steady_state(np.asarray(th[i]), forcings[k])
        np.testing.assert_allclose(np.asarray(batched.pools[i]), np.asarray(single.pools),
                                   rtol=1e-12)
        assert single.pools.shape == (len(mod.POOL_NAMES), layers.NLEV)


def test_compas_michaelis_menten_first_order_limit():
    """(e) Michaelis constants >> substrate: COMPAS behaves like first-order kinetics.

    With F_dec = k ENZ SOC / (Kd + SOC) and SOC << Kd the flux is first order in SOC with
    rate k ENZ / Kd, so the steady-state substrate pools scale linearly with the Michaelis
    constants while microbes, enzymes and litter do not change.
    """
    f = synthetic_forcing("deep")
    th = np.array(compas.PARAMETERS.to_physical(np.full(23, 0.5)))
    ia, idd = compas.PARAMETERS.index("mm_const_assim"), compas.PARAMETERS.index("mm_const_decom")
    # fast uptake and decomposition capacity keep substrates far below saturation
    th[compas.PARAMETERS.index("tau4s1")] = 0.002
    th[compas.PARAMETERS.index("tau4s4")] = 1e-5
    th[ia], th[idd] = 3000.0, 1e6  # upper bounds
    a = compas.steady_state(th, f)
    th2 = th.copy()
    th2[ia] *= 10
    th2[idd] *= 10
    b = compas.steady_state(th2, f, check_bounds=False)
    pa, pb = np.asarray(a.pools), np.asarray(b.pools)
    r = compas.rates(th, compas.prepare(f))
    sat_doc = pa[4] / np.asarray(r.Ka)
    sat_soc = pa[7] / np.asarray(r.Kd)
    assert sat_doc.max() < 0.05 and sat_soc.max() < 0.05  # far from saturation
    np.testing.assert_allclose(pb[:4], pa[:4], rtol=1e-12)     # litter unchanged
    np.testing.assert_allclose(pb[5:7], pa[5:7], rtol=1e-12)   # MIC, ENZ unchanged
    # DOC and SOC scale with K up to the saturation ratio
    for k, sat in ((4, sat_doc), (7, sat_soc)):
        ratio = pb[k] / pa[k]
        assert np.all(np.abs(ratio - 10.0) <= 10.0 * 2 * sat + 1e-9)
    # and SOC equals the first-order steady state (inflow / (k ENZ / Kd)) to within sat
    inflow = np.asarray(compas.soil_fluxes(th, r, pa)[2]) + th[21] * np.asarray(r.k_dth) * pa[5]
    first_order = inflow * np.asarray(r.Kd) / (np.asarray(r.k_dec) * pa[6])
    np.testing.assert_allclose(pa[7], first_order, rtol=1.5 * sat_soc.max())


def test_bad_forcing_errors():
    """(f) clear errors naming the field."""
    good = {k: np.asarray(v) for k, v in vars(synthetic_forcing("deep")).items()}
    bad = dict(good, tsoi=good["tsoi"] - 273.15)
    with pytest.raises(ForcingError, match="tsoi.*Celsius|tsoi.*kelvin"):
        Forcing.create(**bad)
    bad = dict(good, w_scalar=good["w_scalar"][:, :10])
    with pytest.raises(ForcingError, match="w_scalar.*shape"):
        Forcing.create(**bad)
    nan = good["o_scalar"].copy()
    nan[3, 4] = np.nan
    with pytest.raises(ForcingError, match=r"o_scalar.*NaN.*\[3, 4\]"):
        Forcing.create(**dict(good, o_scalar=nan), site="WOSIS-17")
    with pytest.raises(ForcingError, match="site WOSIS-17"):
        Forcing.create(**dict(good, o_scalar=nan), site="WOSIS-17")
    with pytest.raises(ForcingError, match="missing.*input_cwd"):
        Forcing.create(**{k: v for k, v in good.items() if k != "input_cwd"})
    with pytest.raises(ForcingError, match="nbedrock"):
        Forcing.create(**dict(good, nbedrock=np.full(12, 25)))


def test_out_of_range_parameters_error():
    th = np.array(clm5.PARAMETERS.to_physical(np.full(21, 0.5)))
    f = synthetic_forcing("deep")
    th[2] = 7.0
    with pytest.raises(ParameterError, match="q10.*outside"):
        clm5.steady_state(th, f)
    with pytest.raises(ParameterError, match="21 entries"):
        clm5.steady_state(th[:20], f)
    th = np.array(compas.PARAMETERS.to_physical(np.full(23, 0.5)))
    th[0] = np.nan
    with pytest.raises(ParameterError, match="bio.*NaN"):
        compas.steady_state(th, f)
    # customary CLM5 values lie partly outside the box: allowed with check_bounds=False
    ss = clm5.steady_state(clm5.customary_theta(f), f, check_bounds=False)
    assert bool(ss.feasible) and float(ss.stock) > 0


def test_infeasible_states_are_flagged_not_clipped():
    """Zero decomposition somewhere -> singular system -> not feasible; no clipping."""
    f = synthetic_forcing("deep")
    th = np.array(clm5.PARAMETERS.to_physical(np.full(21, 0.5)))
    th[clm5.PARAMETERS.index("efolding")] = 0.0  # depth scalar exp(-z/0) = 0: no decay
    ss = clm5.steady_state(th, f)
    assert not bool(ss.feasible)
    # COMPAS: slow enzyme turnover -> enzymes too abundant -> MIC > 10 % of soil C
    th = np.array(compas.PARAMETERS.to_physical(np.full(23, 0.5)))
    th[compas.PARAMETERS.index("tau4s3")] = 0.9
    ss = compas.steady_state(th, f)
    assert not bool(ss.feasible)
    assert np.all(np.asarray(ss.pools)[np.isfinite(np.asarray(ss.pools))] >= 0)

"""Failures as values: every ``socmodels.Failure`` bit fires for a constructed case."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import socmodels
from socmodels import Failure, clm5, compas, describe_status
from socmodels.processes import MAX_CARBON_DENSITY, feasibility_status
from socmodels.status import status_bits
from tests.support.forcings import synthetic_forcing


def _pools(**set_values):
    p = np.full((7, 20), 10.0)
    for (i, j), v in set_values.get("at", {}).items():
        p[i, j] = v
    return jnp.asarray(p)


def test_interface_values():
    assert [int(f) for f in Failure] == [1, 2, 4, 8, 16]
    assert socmodels.Failure is Failure and socmodels.describe_status is describe_status


@pytest.mark.parametrize("at, expected", [
    ({}, 0),
    ({(3, 5): np.nan}, Failure.NONFINITE),
    ({(3, 5): np.inf}, Failure.NONFINITE),
    ({(4, 0): -1.0}, Failure.NEGATIVE),
    ({(4, 0): -1e-12}, 0),                                  # round-off is not negative
    ({(6, 19): 2 * MAX_CARBON_DENSITY}, Failure.DENSITY_CAP),
    ({(0, 0): np.nan, (1, 1): -5.0}, Failure.NONFINITE),   # judged on finite states only
    ({(0, 0): -np.inf}, Failure.NONFINITE),
    ({(2, 3): np.inf, (6, 19): 2 * MAX_CARBON_DENSITY}, Failure.NONFINITE),
    ({(4, 0): -1.0, (6, 19): 2 * MAX_CARBON_DENSITY}, Failure.NEGATIVE | Failure.DENSITY_CAP),
])
def test_shared_checks(at, expected):
    code = feasibility_status(_pools(at=at))
    assert code.dtype == jnp.int32 and int(code) == int(expected)


def _reference_status(p):
    """The documented rules, written out in NumPy for one (P, 20) state."""
    if not np.all(np.isfinite(p)):
        return int(Failure.NONFINITE)
    code = 0
    if np.any(p < -1e-10 * np.max(np.abs(p))):
        code |= Failure.NEGATIVE
    if np.any(p.sum(axis=0) > MAX_CARBON_DENSITY):
        code |= Failure.DENSITY_CAP
    return int(code)


def test_shared_checks_batched_against_reference():
    """Under jit and vmap (where NaN must propagate through XLA's min/max reductions) the
    bits equal the rules written out, on states with NaN, +-inf, negatives, round-off
    negatives and over-dense layers mixed in one batch."""
    rng = np.random.default_rng(7)
    pools = rng.uniform(0.0, 1e5, (400, 7, 20))
    specials = [np.nan, np.inf, -np.inf, -1.0, -1e-12, 5 * MAX_CARBON_DENSITY]
    for b in range(pools.shape[0]):
        for _ in range(rng.integers(0, 3)):
            pools[b, rng.integers(7), rng.integers(20)] = specials[rng.integers(len(specials))]
    got = np.asarray(jax.jit(jax.vmap(feasibility_status))(jnp.asarray(pools)))
    want = np.array([_reference_status(p) for p in pools])
    np.testing.assert_array_equal(got, want)
    assert len(set(want.tolist())) >= 4  # the batch exercises several outcomes


def test_status_bits_and_description():
    code = status_bits(NEGATIVE=True, MIC_FRACTION=jnp.asarray(True), NONFINITE=False)
    assert int(code) == Failure.NEGATIVE | Failure.MIC_FRACTION
    assert describe_status(code) == [
        "NEGATIVE: a pool is negative",
        "MIC_FRACTION: microbial biomass exceeds its allowed fraction of soil carbon"]
    assert describe_status(0) == []
    with pytest.raises(ValueError, match="not socmodels.Failure"):
        describe_status(64)


@pytest.fixture(scope="module")
def forcing():
    return synthetic_forcing("deep")


def test_clm5_bits(forcing):
    th = np.array(clm5.PARAMETERS.to_physical(np.full(21, 0.5)))
    ok = clm5.steady_state(th, forcing)
    assert int(ok.status) == 0 and bool(ok.feasible)
    th[clm5.PARAMETERS.index("efolding")] = 0.0  # no decomposition at depth: singular
    bad = clm5.steady_state(th, forcing)
    assert int(bad.status) & Failure.NONFINITE and not bool(bad.feasible)


def test_compas_mic_fraction(forcing):
    th = np.array(compas.PARAMETERS.to_physical(np.full(23, 0.5)))
    th[compas.PARAMETERS.index("tau4s3")] = 0.011  # a feasible state ...
    ok = compas.steady_state(th, forcing)
    assert int(ok.status) == 0
    # ... rejected only by the microbial-fraction rule when the cap is 0
    capped = compas.steady_state(th, forcing, max_mic_fraction=0.0)
    assert int(capped.status) == Failure.MIC_FRACTION
    np.testing.assert_array_equal(capped.pools, ok.pools)


def test_compas_no_positive_root(forcing):
    """Microbial death to SOC outpaces enzymatic decomposition: SOC has no positive root."""
    P = compas.PARAMETERS
    th = np.array(P.to_physical(np.full(23, 0.5)))
    for name, v in (("tau4s3", 0.001), ("tau4s2_enz", 30.0), ("tau4s4", 3e-4),
                    ("pdeath2soc", 1.0), ("tau4s2_death", 0.1)):
        th[P.index(name)] = v
    ss = compas.steady_state(th, forcing)
    code = int(ss.status)
    assert code & Failure.NO_POSITIVE_ROOT and not bool(ss.feasible)
    assert "NO_POSITIVE_ROOT" in " ".join(describe_status(code))


def test_status_under_vmap_and_feasible_is_status_zero(forcing):
    P = compas.PARAMETERS
    u = np.random.default_rng(0).uniform(0.01, 0.99, (64, len(P)))
    ss = jax.jit(jax.vmap(compas.steady_state, in_axes=(0, None)))(
        jnp.asarray(P.to_physical(u)), compas.prepare(forcing))
    status = np.asarray(ss.status)
    assert status.shape == (64,) and status.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(ss.feasible), status == 0)
    assert (status != 0).any() and (status == 0).any()

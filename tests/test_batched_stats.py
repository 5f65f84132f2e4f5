"""inference.batched_stats: ArviZ's R-hat, ESS and MCSE, vectorized over series.

The reference is ``arviz_stats``'s array interface, one series at a time; the tail ESS is
compared with ArviZ at the 5 % and 95 % quantiles (Vehtari et al. 2021), which the batched
version uses always.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from arviz_stats.base import array_stats
from hypothesis import given, settings
from hypothesis import strategies as st

from inference import batched_stats as bs
from inference.convergence import diagnose

RTOL = 1e-10


def _ar1(rng, shape, phi):
    e = rng.normal(size=shape)
    x = np.empty(shape)
    x[..., 0] = e[..., 0]
    for t in range(1, shape[-1]):
        x[..., t] = phi * x[..., t - 1] + e[..., t]
    return x


def _reference(x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"rhat": array_stats.rhat(x),
                "ess_bulk": array_stats.ess(x, method="bulk"),
                "ess_tail": array_stats.ess(x, method="tail", prob=bs.TAIL_PROBS),
                "ess_mean": array_stats.ess(x, method="mean"),
                "mcse_mean": array_stats.mcse(x, method="mean")}


def _cases():
    rng = np.random.default_rng(7)
    stuck = _ar1(rng, (4, 4, 60), 0.95)
    stuck[0, 1] = 0.3      # one chain that never moved
    stuck[1] = 7.0         # a constant series
    stuck[2, 0, 5] = np.nan
    return {
        "ar1": _ar1(rng, (5, 4, 301), 0.9),
        "ar1_slow": _ar1(rng, (3, 4, 400), 0.995),   # Geyer's sequence runs long
        "iid": rng.normal(size=(5, 4, 200)),
        "antithetic": _ar1(rng, (3, 4, 200), -0.7),  # negative autocorrelation
        "heavy_tails": rng.standard_t(2, size=(5, 3, 101)),
        "ties": rng.integers(0, 3, size=(5, 4, 50)).astype(float),
        "repeats": np.repeat(rng.normal(size=(3, 4, 40)), 5, axis=-1),  # rejected moves
        "short": rng.normal(size=(3, 2, 5)),
        "too_short": rng.normal(size=(3, 2, 3)),
        "one_chain": _ar1(rng, (3, 1, 100), 0.5),
        "stuck_constant_nan": stuck,
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_batched_statistics_equal_arviz(name):
    x = _cases()[name]
    ref = _reference(x)
    r, bulk, tail = bs.convergence_statistics(x)
    got = {"rhat": r, "ess_bulk": bulk, "ess_tail": tail, "ess_mean": bs.ess_mean(x),
           "mcse_mean": bs.mcse_mean(x)}
    for key in ref:
        np.testing.assert_allclose(got[key], ref[key], rtol=RTOL, equal_nan=True,
                                   err_msg=f"{name}: {key}")
    np.testing.assert_allclose(bs.rhat(x), ref["rhat"], rtol=RTOL, equal_nan=True)
    np.testing.assert_allclose(bs.ess_bulk(x), ref["ess_bulk"], rtol=RTOL, equal_nan=True)
    np.testing.assert_allclose(bs.ess_tail(x), ref["ess_tail"], rtol=RTOL, equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), chains=st.integers(1, 5), draws=st.integers(4, 120),
       phi=st.floats(-0.9, 0.999), levels=st.sampled_from([0, 2, 7]))
def test_batched_statistics_equal_arviz_on_random_series(seed, chains, draws, phi, levels):
    rng = np.random.default_rng(seed)
    x = _ar1(rng, (2, chains, draws), phi)
    if levels:  # discretised: many ties
        x = np.round(x * levels / (np.abs(x).max() + 1e-12))
    ref = _reference(x)
    r, bulk, tail = bs.convergence_statistics(x)
    for key, got in (("rhat", r), ("ess_bulk", bulk), ("ess_tail", tail),
                     ("mcse_mean", bs.mcse_mean(x))):
        np.testing.assert_allclose(got, ref[key], rtol=1e-9, equal_nan=True, err_msg=key)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 4), n=st.integers(1, 300),
       levels=st.sampled_from([0, 1, 3, 50]))
def test_average_ranks_equal_scipy(seed, rows, n, levels):
    """The runner's rank normalization takes twice the average ranks as table indices;
    they equal ``scipy.stats.rankdata(method="average")`` exactly, ties (AM's repeats,
    constant series) included."""
    from scipy import stats

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 2, n))
    if levels:
        x = np.round(x * levels)
    x[0, 1] = x[0, 0]  # repeated values across the row
    ranks = stats.rankdata(x, method="average", axis=-1)
    np.testing.assert_array_equal(bs._twice_average_ranks(x), 2 * ranks)


def test_tail_ess_uses_the_5_and_95_percent_quantiles():
    """ArviZ >= 1 without ``prob`` uses its interval probability (11 % / 89 %); the tail ESS
    of Vehtari et al. is at 5 % / 95 %, and the two differ on autocorrelated chains."""
    x = _ar1(np.random.default_rng(3), (6, 4, 400), 0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = array_stats.ess(x, method="tail", prob=0.89)
    ours = bs.ess_tail(x)
    np.testing.assert_allclose(ours, array_stats.ess(x, method="tail", prob=(0.05, 0.95)),
                               rtol=RTOL)
    assert not np.allclose(ours, default, rtol=1e-3)


def test_diagnose_orders_sites_and_parameters():
    """``diagnose`` takes (site, chain, draw, parameter) and returns (site, parameter)."""
    rng = np.random.default_rng(11)
    x = np.stack([_ar1(rng, (4, 80), phi) for phi in (0.1, 0.9, 0.99)], axis=-1)  # (C, D, 3)
    draws = np.stack([x, x[..., ::-1]])  # (2 sites, C, D, 3 parameters)
    d = diagnose(draws)
    assert d.r_hat.shape == d.ess_bulk.shape == d.ess_tail.shape == (2, 3)
    for s in range(2):
        for p in range(3):
            np.testing.assert_allclose(d.ess_bulk[s, p],
                                       array_stats.ess(draws[s, :, :, p], method="bulk"),
                                       rtol=RTOL)
    assert d.ess_bulk[0, 0] > d.ess_bulk[0, 1] > d.ess_bulk[0, 2]
    np.testing.assert_array_equal(d.ess_bulk[0], d.ess_bulk[1][::-1])

"""The one NSE implementation (inference.metrics) and its callers give the previous numbers."""

import numpy as np
import pytest

import inference
from inference import metrics
from inference.diagnostics import nse as diagnostics_nse
from surrogate import analysis
from surrogate.comparison import nse as comparison_nse

OBS = np.array([1.0, 2.0, 3.0, 6.0])
PRED = np.array([1.5, 2.0, 2.0, 5.0])
# mean(obs) = 3; ss_tot = 4 + 1 + 0 + 9 = 14; ss_res = 0.25 + 0 + 1 + 1 = 2.25
HAND = 1.0 - 2.25 / 14.0


def _old_pooled(m, o):
    """surrogate.analysis._nse before the merge (on already-filtered pairs)."""
    denom = np.sum((o - o.mean()) ** 2)
    return float(1.0 - np.sum((m - o) ** 2) / denom) if o.size > 1 and denom > 0 else np.nan


def test_nse_by_hand_and_callers_agree():
    assert float(metrics.nse(PRED, OBS)) == pytest.approx(HAND, rel=1e-15)
    assert metrics.nse_finite(PRED, OBS) == pytest.approx(HAND, rel=1e-15)
    assert comparison_nse(PRED, OBS) == pytest.approx(HAND, rel=1e-15)
    assert float(analysis.pooled_nse(PRED, OBS)) == pytest.approx(HAND, rel=1e-15)
    assert float(diagnostics_nse(PRED, OBS, np.ones(4, bool))) == pytest.approx(HAND)
    assert inference.nse is diagnostics_nse
    assert float(metrics.nse(OBS, OBS)) == 1.0
    assert float(metrics.nse(np.full(4, OBS.mean()), OBS)) == 0.0  # the mean scores 0


def test_masked_layers_per_site():
    # site 0: the last layer is masked out (its prediction NaN); site 1: one layer only;
    # site 2: constant observations -> undefined
    obs = np.array([[1.0, 2.0, 3.0, 99.0], [5.0, 0.0, 0.0, 0.0], [2.0, 2.0, 2.0, 0.0]])
    pred = np.array([[1.5, 2.0, 2.0, np.nan], [4.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 0.0]])
    mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 0]], bool)
    out = diagnostics_nse(pred, obs, mask)
    assert out.shape == (3,)
    # site 0 by hand: mean 2, ss_tot 2, ss_res 0.25 + 0 + 1
    assert out[0] == pytest.approx(1.0 - 1.25 / 2.0)
    assert np.isnan(out[1]) and np.isnan(out[2])
    # masked equals dropping the masked layers
    assert out[0] == pytest.approx(_old_pooled(pred[0, :3], obs[0, :3]), rel=1e-14)
    # a NaN observation inside the mask makes that site undefined (not silently dropped)
    obs_nan = obs.copy()
    obs_nan[0, 1] = np.nan
    assert np.isnan(diagnostics_nse(pred, obs_nan, mask)[0])


def test_pooled_drops_nonfinite_and_negative_like_before():
    rng = np.random.default_rng(3)
    obs = rng.lognormal(8.0, 1.0, size=(7, 5))
    pred = obs * rng.lognormal(0.0, 0.4, size=obs.shape)
    pred[0, 0] = np.nan
    obs[1, 2] = np.inf
    pred[2, 3] = -5.0
    for drop_negative in (True, False):
        ok = np.isfinite(pred) & np.isfinite(obs)
        if drop_negative:
            ok &= pred >= 0
        want = _old_pooled(pred[ok], obs[ok])
        got = analysis.pooled_nse(pred, obs, drop_negative=drop_negative)
        assert float(got) == pytest.approx(want, rel=1e-12)
        assert got.attrs["n"] == int(ok.sum())
        assert metrics.nse_finite(pred, obs, drop_negative=drop_negative) == \
            pytest.approx(want, rel=1e-12)
    # the comparison's NSE keeps negative predictions (drop_negative=False), as before
    ok = np.isfinite(pred) & np.isfinite(obs)
    assert comparison_nse(pred, obs) == pytest.approx(_old_pooled(pred[ok], obs[ok]), rel=1e-12)


def test_bootstrap_uses_the_same_nse():
    rng = np.random.default_rng(0)
    obs = rng.lognormal(8.0, 1.0, size=40)
    pred = obs * rng.lognormal(0.0, 0.3, size=40)
    groups = np.repeat(np.arange(10), 4)
    ds = analysis.nse_bootstrap(pred, obs, groups=groups, n_boot=50, seed=1)
    assert float(ds["nse"]) == pytest.approx(_old_pooled(pred, obs), rel=1e-12)
    # replay the bootstrap with the old formula
    rng = np.random.default_rng(1)
    members = [np.flatnonzero(groups == k) for k in range(10)]
    want = []
    for _ in range(50):
        idx = np.concatenate([members[k] for k in rng.integers(0, 10, 10)])
        want.append(_old_pooled(pred[idx], obs[idx]))
    np.testing.assert_allclose(ds["samples"].values, want, rtol=1e-12)


def test_undefined_cases_are_nan():
    assert np.isnan(metrics.nse_finite([1.0], [2.0]))             # one value
    assert np.isnan(metrics.nse_finite([1.0, 2.0], [3.0, 3.0]))   # constant observations
    assert np.isnan(metrics.nse_finite([np.nan, 1.0], [1.0, np.nan]))  # nothing finite
    with pytest.raises(ValueError, match="values"):
        metrics.nse_finite([1.0, 2.0], [1.0, 2.0, 3.0])

"""SBC ranks, rank uniformity and interval coverage on posteriors with known answers."""

import numpy as np
import pytest
from scipy import stats

from inference.calibration_checks import (
    default_bins,
    interval_coverage,
    rank_uniformity,
    sbc_ranks,
    thin_draws,
)

N_SITES, D, CHAINS, DRAWS = 400, 2, 4, 60


def _gaussian_toy(seed=0, shift=0.0, sd_factor=1.0):
    """theta ~ N(0, 1)^2, y ~ N(theta, 1): the posterior is N(y / 2, 1 / 2) per coordinate.

    Returns the truth, iid draws from N(y/2 + shift*sd, (sd_factor*sd)^2) and the central
    90 % intervals of that distribution."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(N_SITES, D))
    y = theta + rng.normal(size=(N_SITES, D))
    mean, sd = y / 2.0 + shift * np.sqrt(0.5), sd_factor * np.sqrt(0.5)
    draws = mean[:, None, None, :] + sd * rng.normal(size=(N_SITES, CHAINS, DRAWS, D))
    z = stats.norm.ppf(0.95)
    return theta, draws, mean - z * sd, mean + z * sd


def test_calibrated_posterior_passes_and_biased_fails():
    theta, draws, _, _ = _gaussian_toy()
    sbc = sbc_ranks(list(draws), theta, max_draws=99)
    assert np.all(sbc.n_draws == CHAINS * (99 // CHAINS))
    res = rank_uniformity(sbc.ranks, sbc.n_draws, bins=10)
    assert res.counts.shape == (D, 10) and np.all(res.counts.sum(axis=1) == N_SITES)
    assert res.passed and res.p_overall > 0.01, res
    assert np.allclose(res.p_bonferroni, np.minimum(1, D * res.p_value))
    theta, draws, _, _ = _gaussian_toy(shift=0.7)
    bad = rank_uniformity(*sbc_ranks(list(draws), theta), bins=10)
    assert not bad.passed and bad.p_overall < 1e-6
    # the truth sits low in a posterior shifted up: small ranks dominate
    assert np.all(bad.counts[:, 0] > bad.counts[:, -1])
    theta, draws, _, _ = _gaussian_toy(sd_factor=0.5)            # overconfident: U shape
    narrow = rank_uniformity(*sbc_ranks(list(draws), theta), bins=10)
    assert not narrow.passed
    assert np.all(narrow.counts[:, [0, -1]].min(axis=1) > narrow.counts[:, 4:6].max(axis=1))


def test_coverage_calibrated_within_band_overconfident_outside():
    theta, _, lo, hi = _gaussian_toy(seed=3)
    cov = interval_coverage(lo, hi, theta, level=0.9)
    assert np.all(cov.n_sites == N_SITES) and not cov.outside.any(), cov
    assert np.all((cov.band_low < 0.9) & (0.9 < cov.band_high))
    # the band holds >= 95 % of Binomial(n, 0.9) / n, and only just
    k_lo, k_hi = cov.band_low[0] * N_SITES, cov.band_high[0] * N_SITES
    inside = stats.binom.cdf(k_hi, N_SITES, 0.9) - stats.binom.cdf(k_lo - 1, N_SITES, 0.9)
    assert inside >= 0.95
    assert stats.binom.cdf(k_hi - 1, N_SITES, 0.9) - stats.binom.cdf(k_lo, N_SITES, 0.9) < 0.95
    theta, _, lo, hi = _gaussian_toy(seed=3, sd_factor=0.5)
    over = interval_coverage(lo, hi, theta, level=0.9)
    assert over.outside.all() and np.all(over.fraction < over.band_low)


def test_coverage_leaves_out_nonfinite_sites():
    lo = np.array([[0.0], [0.0], [np.nan]])
    cov = interval_coverage(lo, lo + 1.0, np.array([[0.5], [2.0], [0.5]]))
    assert cov.n_sites.tolist() == [2] and cov.fraction.tolist() == [0.5]
    with pytest.raises(ValueError, match="same shape"):
        interval_coverage(lo, lo[:2], lo)


def test_thinning_and_ess_cap():
    x = np.arange(2 * 10 * 1, dtype=float).reshape(2, 10, 1)
    t = thin_draws(x, 4)
    assert t[:, 0].tolist() == [0.0, 9.0, 10.0, 19.0]               # ends of each chain
    assert thin_draws(x, 100).shape == (20, 1)
    truth = np.array([[5.5], [5.5], [5.5]])
    sbc = sbc_ranks([x, x, None], truth, max_draws=99, ess=np.array([6.0, np.nan, 50.0]))
    assert sbc.n_draws.tolist() == [6, 0, 0]
    assert np.isnan(sbc.ranks[1:]).all() and 0 <= sbc.ranks[0, 0] <= 6
    with pytest.raises(ValueError, match="sites"):
        sbc_ranks([x], truth)


def test_jitter_keeps_exact_bins_when_they_divide():
    rng = np.random.default_rng(1)
    L = 99
    r = rng.integers(0, L + 1, size=(200, 3))
    a = rank_uniformity(r, L, bins=10, seed=0).counts
    b = rank_uniformity(r, L, bins=10, seed=5).counts
    exact = np.stack([np.bincount(r[:, k] // 10, minlength=10) for k in range(3)])
    assert np.array_equal(a, b) and np.array_equal(a, exact)


def test_rank_errors_and_default_bins():
    with pytest.raises(ValueError, match="0..n_draws"):
        rank_uniformity(np.array([[0.0], [5.0]]), 4)
    with pytest.raises(ValueError, match=">= 2 sites"):
        rank_uniformity(np.array([[1.0], [np.nan]]), 4)
    assert default_bins(100) == 10 and default_bins(6) == 2 and default_bins(10_000) == 20


def test_recovery_uses_each_parameters_own_unit_cube():
    """COMPAS ``tau4s3`` has a log-uniform prior: its unit value is (log x - log lo) /
    (log hi - log lo), so the recovery statistics (coverage, sd ratio) must map through
    ``PARAMETERS.to_unit``, not the linear (x - lo) / (hi - lo)."""
    import xarray as xr

    from inference.recovery import recovery
    from socmodels import compas

    params = compas.PARAMETERS
    k = list(params.names).index("tau4s3")
    rng = np.random.default_rng(0)
    n, d = 200, len(params)
    truth_u = rng.uniform(0.05, 0.95, size=(n, d))
    # a posterior of half-width 0.04 in u about the truth: every interval covers it
    to_phys = lambda u: np.asarray(params.to_physical(np.clip(u, 0.0, 1.0)))  # noqa: E731
    sp = ("site", "parameter")
    table = xr.Dataset(
        {"mean": (sp, to_phys(truth_u)), "sd": (sp, np.zeros((n, d))),
         "q05": (sp, to_phys(truth_u - 0.04)), "q95": (sp, to_phys(truth_u + 0.04)),
         "mean_unit": (sp, truth_u), "sd_unit": (sp, np.full((n, d), 0.02)),
         "status": ("site", np.array(["ok"] * n, object)),
         "nse": ("site", np.ones(n))},
        coords={"site": [f"s{i}" for i in range(n)], "parameter": list(params.names)})
    truth = xr.DataArray(to_phys(truth_u), dims=("site", "parameter"),
                         coords={"site": table["site"].values})
    rec = recovery(table, truth, model="compas")
    assert float(rec["coverage90"][k]) == 1.0
    np.testing.assert_allclose(float(rec["sd_ratio"][k]), 0.02 * np.sqrt(12.0), rtol=1e-12)
    np.testing.assert_allclose(rec["truth_unit"].values[:, k], truth_u[:, k], atol=1e-12)
    # the linear map would misplace the truth of a log-scale parameter badly
    lo, hi = params.lower[k], params.upper[k]
    linear = (to_phys(truth_u)[:, k] - lo) / (hi - lo)
    assert np.max(np.abs(linear - truth_u[:, k])) > 0.3


def test_pipeline_recovery_of_a_model_that_generated_no_profile():
    """In a pure COMPAS world CLM5 has no truth to recover: no parameter statistics, and
    its maps are scored against the world's true SOC, not a CLM5 map nobody generated."""
    from types import SimpleNamespace

    import xarray as xr

    from surrogate._proda import _recovery

    rng = np.random.default_rng(1)
    true = np.exp(rng.normal(3.0, 1.0, size=(6, 8)))
    good = true * np.exp(rng.normal(0.0, 0.1, size=true.shape))
    yx = ("lat", "lon")
    world = SimpleNamespace(truth=xr.Dataset(
        {"generating_model": ("profile", np.array(["compas"] * 5, object)),
         "compas_stock_1m_map": (yx, true), "clm5_stock_1m_map": (yx, 1.0 / true)}))
    maps = xr.Dataset({"stock_1m": (yx, good), "stock_1m_customary": (yx, 1.0 / true)})
    rec = _recovery(world, "clm5", table=None, maps=maps)
    assert rec["n_sites_generated"] == 0 and rec["world_generator"] == "compas"
    assert "site_r2" not in rec and "coverage90" not in rec
    assert rec["soc_map"]["log_r"] > 0.95  # scored against COMPAS's truth, which it tracks
    assert rec["soc_map_customary"]["log_r"] < -0.95

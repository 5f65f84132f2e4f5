"""Calibration checks of posteriors against known truths: SBC ranks and interval coverage.

For sites whose data were simulated from the prior (e.g. :func:`inference.testing.twin_sites`)
a correct sampler gives posteriors that are calibrated on average over sites:

* **Simulation-based calibration** (Talts et al. 2018): the rank of the truth among ``L``
  roughly independent posterior draws is uniform on ``0..L``. :func:`sbc_ranks` thins each
  site's draws (evenly spaced, the same number per chain, at most the site's effective
  sample size) and counts the draws below the truth; :func:`rank_uniformity` bins the
  fractional ranks ``(r + U) / (L + 1)``, ``U ~ U(0, 1)`` (exactly uniform under
  calibration for any ``L``, so sites with different ``L`` pool; with ``B`` dividing
  ``L + 1`` the jitter never changes a bin) and applies a chi-square test of uniformity
  per parameter (``B - 1`` degrees of freedom), with a Bonferroni correction over
  parameters.
* **Coverage**: the fraction of sites whose central interval at ``level`` contains the
  truth is Binomial(n, level) / n under calibration; :func:`interval_coverage` reports it
  per parameter with the central binomial acceptance band and flags parameters outside.

References:
    Talts, S., Betancourt, M., Simpson, D., Vehtari, A. & Gelman, A. (2018) Validating
    Bayesian inference algorithms with simulation-based calibration. arXiv:1804.06788.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
from scipy import stats

__all__ = ["SBCRanks", "RankUniformity", "Coverage", "thin_draws", "sbc_ranks",
           "rank_uniformity", "interval_coverage", "default_bins"]


class SBCRanks(NamedTuple):
    """Ranks of the truths among thinned posterior draws.

    Attributes:
        ranks: (n, d) number of thinned draws below the truth, in ``0..n_draws``; NaN for a
            site without draws.
        n_draws: (n,) thinned draws per site ``L`` (0 for a site without draws).
    """

    ranks: np.ndarray
    n_draws: np.ndarray


class RankUniformity(NamedTuple):
    """Chi-square test of rank uniformity per parameter (:func:`rank_uniformity`).

    Attributes:
        counts: (d, bins) rank histogram counts.
        chi2: (d,) chi-square statistics (``bins - 1`` degrees of freedom).
        p_value: (d,) p-values per parameter.
        p_bonferroni: (d,) ``min(1, d * p_value)``.
        p_overall: ``min(1, d * min(p_value))``: the Bonferroni test of "all uniform".
        passed: ``p_overall > alpha``.
        bins: number of bins.
        n_sites: sites used.
    """

    counts: np.ndarray
    chi2: np.ndarray
    p_value: np.ndarray
    p_bonferroni: np.ndarray
    p_overall: float
    passed: bool
    bins: int
    n_sites: int


class Coverage(NamedTuple):
    """Coverage of central posterior intervals (:func:`interval_coverage`).

    Attributes:
        fraction: (d,) fraction of sites whose interval contains the truth.
        n_sites: (d,) sites with finite interval and truth, per parameter.
        band_low, band_high: (d,) central binomial acceptance band of ``fraction`` at the
            nominal level.
        outside: (d,) bool, ``fraction`` outside the band.
        level: nominal coverage.
    """

    fraction: np.ndarray
    n_sites: np.ndarray
    band_low: np.ndarray
    band_high: np.ndarray
    outside: np.ndarray
    level: float


def thin_draws(draws, n_keep: int) -> np.ndarray:
    """``n_keep // C`` evenly spaced draws from each of the ``C`` chains, pooled.

    Args:
        draws (array (C, S, d) or (S, d)): One site's draws (a 2-D array is one chain).
        n_keep (int): At most this many draws in all (at least one per chain is kept).

    Returns:
        ndarray (C * m, d), ``m = max(1, min(S, n_keep // C))``.
    """
    x = np.asarray(draws, float)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1] < 1:
        raise ValueError(f"draws must have shape (chain, draw, parameter), got {x.shape}")
    c, s, d = x.shape
    m = max(1, min(s, int(n_keep) // c))
    idx = np.round(np.linspace(0, s - 1, m)).astype(int) if m > 1 else np.array([s - 1])
    return x[:, idx].reshape(c * m, d)


def sbc_ranks(draws: Sequence, truth, *, max_draws: int = 99, ess=None) -> SBCRanks:
    """Rank of each site's truth among its thinned posterior draws, per parameter.

    Args:
        draws (sequence of arrays (C, S, d) or (S, d), or one array (n, C, S, d)):
            Posterior draws per site, in any monotone transform of the truth's scale (the
            unit cube or physical units give the same ranks); ``None`` or an empty array
            for a site without draws (its ranks are NaN).
        truth (array (n, d)): True values, same scale.
        max_draws (int): Keep at most this many draws per site (``L <= max_draws``; 99 gives
            ranks 0..99, 100 values).
        ess (array (n,), optional): Effective sample size per site (e.g. the site table's
            ``min_ess_bulk``): keep at most ``floor(ess)`` draws so that they are roughly
            independent (Talts et al. 2018, section 5). Non-finite: no draws.

    Returns:
        SBCRanks
    """
    truth = np.asarray(truth, float)
    if truth.ndim != 2:
        raise ValueError(f"truth must have shape (site, parameter), got {truth.shape}")
    n, d = truth.shape
    if len(draws) != n:
        raise ValueError(f"draws has {len(draws)} sites but truth has {n}")
    if max_draws < 1:
        raise ValueError(f"max_draws must be >= 1, got {max_draws}")
    cap = np.full(n, float(max_draws))
    if ess is not None:
        ess = np.asarray(ess, float)
        if ess.shape != (n,):
            raise ValueError(f"ess must have shape ({n},), got {ess.shape}")
        cap = np.where(np.isfinite(ess), np.minimum(cap, np.floor(ess)), 0.0)
    ranks = np.full((n, d), np.nan)
    n_draws = np.zeros(n, int)
    for i, x in enumerate(draws):
        if x is None or np.size(x) == 0 or cap[i] < 1:
            continue
        t = thin_draws(x, int(cap[i]))
        if t.shape[1] != d:
            raise ValueError(f"site {i}: draws have {t.shape[1]} parameters, truth has {d}")
        ranks[i] = (t < truth[i]).sum(axis=0)
        n_draws[i] = t.shape[0]
    return SBCRanks(ranks, n_draws)


def default_bins(n_sites: int) -> int:
    """Histogram bins for ``n_sites`` ranks: about 10 expected per bin, 2 to 20 bins."""
    return int(np.clip(n_sites // 10, 2, 20))


def rank_uniformity(ranks, n_draws, *, bins: int | None = None, alpha: float = 0.05,
                    seed: int = 0) -> RankUniformity:
    """Chi-square test that SBC ranks are uniform, per parameter, Bonferroni over parameters.

    Args:
        ranks (array (n, d)): Ranks ``0..n_draws`` (:func:`sbc_ranks`); rows with NaN are
            dropped.
        n_draws (int or array (n,)): ``L`` per site.
        bins (int, optional): Histogram bins (default :func:`default_bins`).
        alpha (float): Level of the overall test.
        seed (int): Seed of the rank jitter ``U``.

    Returns:
        RankUniformity
    """
    r = np.asarray(ranks, float)
    if r.ndim == 1:
        r = r[:, None]
    L = np.broadcast_to(np.asarray(n_draws, float), r.shape[:1])
    keep = np.all(np.isfinite(r), axis=1) & (L >= 1)
    r, L = r[keep], L[keep]
    n, d = r.shape
    if n < 2:
        raise ValueError(f"rank_uniformity needs >= 2 sites with ranks, got {n}")
    if np.any((r < 0) | (r > L[:, None]) | (r != np.round(r))):
        raise ValueError("ranks must be integers in 0..n_draws")
    bins = default_bins(n) if bins is None else int(bins)
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    u = np.random.default_rng(seed).uniform(size=r.shape)
    q = (r + u) / (L[:, None] + 1.0)
    counts = np.stack([np.histogram(q[:, k], bins=bins, range=(0.0, 1.0))[0]
                       for k in range(d)])
    chi2, p = stats.chisquare(counts, axis=1)
    p = np.asarray(p, float)
    p_overall = float(min(1.0, d * p.min()))
    return RankUniformity(counts, np.asarray(chi2, float), p, np.minimum(1.0, d * p),
                          p_overall, bool(p_overall > alpha), bins, n)


def interval_coverage(lower, upper, truth, *, level: float = 0.9,
                      band: float = 0.95) -> Coverage:
    """Fraction of sites whose central ``level`` interval contains the truth, per parameter.

    Args:
        lower, upper, truth (arrays (n, d)): Interval bounds (e.g. the site table's ``q05``,
            ``q95`` for ``level=0.9``) and truths, same scale. Sites with a non-finite value
            are left out of that parameter.
        level (float): Nominal coverage of the intervals.
        band (float): Probability of the acceptance band: under calibration the count is
            Binomial(n, level), and ``fraction`` falls inside the central ``band`` interval
            with at least that probability.

    Returns:
        Coverage
    """
    lo, hi, t = (np.atleast_2d(np.asarray(a, float)) for a in (lower, upper, truth))
    if not lo.shape == hi.shape == t.shape:
        raise ValueError(f"lower, upper and truth must have the same shape, got {lo.shape},"
                         f" {hi.shape}, {t.shape}")
    if not 0 < level < 1 or not 0 < band < 1:
        raise ValueError("level and band must be in (0, 1)")
    finite = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(t)
    inside = finite & (lo <= t) & (t <= hi)
    n = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(n > 0, inside.sum(axis=0) / np.maximum(n, 1), np.nan)
        a, b = stats.binom.interval(band, n, level)
        band_lo, band_hi = np.where(n > 0, a / np.maximum(n, 1), np.nan), np.where(
            n > 0, b / np.maximum(n, 1), np.nan)
    outside = (n > 0) & ((frac < band_lo) | (frac > band_hi))
    return Coverage(frac, n, band_lo, band_hi, outside, float(level))

"""R-hat, ESS and MCSE of many draws series at once.

The statistics of Vehtari et al. (2021) as ArviZ computes them (``arviz_stats``, the same
formulas and edge cases: rank normalization with Blom's offset 3/8, split chains, FFT
autocovariances, Geyer's initial positive and monotone sequences, the ``1 / log10(n)``
floor on the integrated autocorrelation time), vectorized over series. ArviZ's
implementation loops in Python over every (site, parameter) series; the convergence check
of the runner calls it after each segment of every chunk, and there it cost 0.2 s per
chunk of 4 sites x 21 parameters (about a fifth of a CLM5 site's calibration time).
``tests/test_batched_stats.py`` checks equality with ``arviz_stats`` (to 1e-10 relative)
on autocorrelated, heavy-tailed, tied, stuck, short and NaN series.

One deliberate difference from ``arviz_stats.ess(..., method="tail")`` called without
``prob``: the tail ESS here is always that of the 5 % and 95 % quantiles, as Vehtari et
al. (2021) define it (and ArviZ < 1 and Stan's ``posterior`` compute it); ArviZ >= 1 takes
the quantiles from its default interval probability (0.89: the 11 % and 89 % quantiles),
which gives a larger, less strict tail ESS.

All functions take ``draws`` of shape ``(..., chain, draw)`` and return shape ``(...)``.

References:
    Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. & Buerkner, P.-C. (2021).
    Rank-normalization, folding, and localization: an improved R-hat for assessing
    convergence of MCMC. Bayesian Analysis 16(2), 667-718.

    Geyer, C. J. (1992). Practical Markov chain Monte Carlo. Statistical Science 7(4),
    473-483.
"""

from __future__ import annotations

import numpy as np
from scipy import fft, special

__all__ = ["rhat", "ess_bulk", "ess_tail", "ess_mean", "mcse_mean", "convergence_statistics",
           "TAIL_PROBS"]

TAIL_PROBS = (0.05, 0.95)
"""Quantiles of the tail ESS (Vehtari et al. 2021, section 4.3)."""

_MIN_DRAWS = 4


def _invalid(x: np.ndarray, min_chains: int) -> np.ndarray:
    """(...) bool: series ArviZ returns NaN for (any NaN, too few chains or draws)."""
    bad = np.isnan(x).any(axis=(-2, -1))
    if x.shape[-2] < min_chains or x.shape[-1] < _MIN_DRAWS:
        bad = np.ones_like(bad)
    return bad


def _prepare(draws, min_chains: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(x, bad)``: the draws as float with invalid series (``bad``) zeroed, so that the
    vectorized formulas run warning-free; their results are set to NaN afterwards."""
    x = np.asarray(draws, float)
    bad = _invalid(x, min_chains)
    return np.where(bad[..., None, None], 0.0, x), bad


def _split_chains(x: np.ndarray) -> np.ndarray:
    """(..., C, D) -> (..., 2C, D // 2): first and last halves as separate chains."""
    half = x.shape[-1] // 2
    return np.concatenate([x[..., :half], x[..., x.shape[-1] - half:]], axis=-2)


def _twice_average_ranks(flat: np.ndarray) -> np.ndarray:
    """``2 x`` the 1-based average ranks along the last axis (integers: a tie group at sorted
    positions ``i..j`` shares the rank ``(i + j) / 2 + 1``), ``scipy.stats.rankdata(method=
    "average")`` times two. Written out because the rank normalization needs the ranks only
    as table indices: ``_z_scale`` then looks up ``ndtri`` at the ``2n`` possible values
    instead of evaluating it per draw (AM's rejected proposals make ties common)."""
    n = flat.shape[-1]
    order = np.argsort(flat, axis=-1)
    s = np.take_along_axis(flat, order, axis=-1)
    first = np.empty(s.shape, bool)  # first of its tie group, in sorted order
    first[..., 0] = True
    np.not_equal(s[..., 1:], s[..., :-1], out=first[..., 1:])
    last = np.empty(s.shape, bool)
    last[..., -1] = True
    last[..., :-1] = first[..., 1:]
    k = np.arange(n)
    start = np.maximum.accumulate(np.where(first, k, 0), axis=-1)
    end = np.minimum.accumulate(np.where(last, k, n - 1)[..., ::-1], axis=-1)[..., ::-1]
    twice = np.empty(s.shape, np.intp)
    np.put_along_axis(twice, order, start + end + 2, axis=-1)
    return twice


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Rank-normalized values: ``Phi^-1((rank - 3/8) / (n + 1/4))`` over each series' draws
    of all chains (average ranks for ties)."""
    shape = x.shape
    flat = x.reshape(*shape[:-2], -1)
    n = flat.shape[-1]
    ranks = np.arange(2 * n + 1) / 2  # every value an average rank can take (0 unused)
    table = special.ndtri((ranks - 3 / 8) / (n - 2 * 3 / 8 + 1))
    return table[_twice_average_ranks(flat)].reshape(shape)


def _rhat_plain(x: np.ndarray) -> np.ndarray:
    """Gelman-Rubin R-hat of (..., C, D), chains as given."""
    n = x.shape[-1]
    between = n * np.var(x.mean(axis=-1), axis=-1, ddof=1)
    within = np.var(x, axis=-1, ddof=1).mean(axis=-1)
    return np.sqrt((between / within + n - 1) / n)


def _rhat_rank(x: np.ndarray, z_split: np.ndarray) -> np.ndarray:
    """Rank-normalized split R-hat of ``x`` given ``z_split = _z_scale(_split_chains(x))``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        split = _split_chains(x)
        bulk = _rhat_plain(z_split)
        median = np.median(split.reshape(*split.shape[:-2], -1), axis=-1)
        tail = _rhat_plain(_z_scale(np.abs(split - median[..., None, None])))
        return np.where(tail > bulk, tail, bulk)


def rhat(draws) -> np.ndarray:
    """Rank-normalized split R-hat: the larger of the bulk and the folded (tail) value."""
    x, bad = _prepare(draws, min_chains=2)
    if bad.all():
        return np.full(bad.shape, np.nan)
    return np.where(bad, np.nan, _rhat_rank(x, _z_scale(_split_chains(x))))


def convergence_statistics(draws, *, ess_rows=None,
                           probs: tuple[float, float] = TAIL_PROBS) -> tuple[np.ndarray, ...]:
    """``(rhat, ess_bulk, ess_tail)`` of ``draws`` (n, ..., chain, draw) in one pass (R-hat
    and the bulk ESS share the rank-normalized split chains).

    ``ess_rows``: optional ``rhat -> (n,) bool``; the ESS is then computed only for those
    entries of the first axis (NaN for the others), e.g. the sites whose R-hat passes.
    """
    x, bad = _prepare(draws)
    r, bulk, tail = (np.full(bad.shape, np.nan) for _ in range(3))
    if bad.all():
        return r, bulk, tail
    z_split = _z_scale(_split_chains(x))
    if x.shape[-2] >= 2:  # R-hat needs two chains
        r = np.where(bad, np.nan, _rhat_rank(x, z_split))
    rows = np.ones(bad.shape[0], bool) if ess_rows is None else np.asarray(ess_rows(r), bool)
    if rows.any():
        bulk[rows] = np.where(bad[rows], np.nan, _ess(z_split[rows]))
        tail[rows] = _ess_tail_clean(x[rows], bad[rows], probs)
    return r, bulk, tail


def _autocov(x: np.ndarray) -> np.ndarray:
    """Biased autocovariances at every lag along the last axis (FFT, zero padded)."""
    n = x.shape[-1]
    m = fft.next_fast_len(2 * n, real=True)
    centred = x - x.mean(axis=-1, keepdims=True)
    f = np.fft.rfft(centred, n=m, axis=-1)
    return np.fft.irfft(f * np.conjugate(f), n=m, axis=-1)[..., :n] / n


def _ess(x: np.ndarray, relative: bool = False) -> np.ndarray:
    """ESS of (..., M, n) chains (ArviZ's ``_ess``), vectorized over the leading axes."""
    m_chains, n = x.shape[-2:]
    lead = x.shape[:-2]
    total = m_chains * n
    with np.errstate(invalid="ignore", divide="ignore"):
        acov = _autocov(x)  # (..., M, n)
        mean_var = acov[..., 0].mean(axis=-1) * n / (n - 1.0)
        var_plus = mean_var * (n - 1.0) / n
        if m_chains > 1:
            var_plus = var_plus + np.var(x.mean(axis=-1), axis=-1, ddof=1)
        rho = 1.0 - (mean_var[..., None] - acov.mean(axis=-2)) / var_plus[..., None]  # (..., n)
        rho[..., 0] = 1.0
    # Geyer's initial positive sequence on the pair sums P_k = rho_2k + rho_2k+1: ArviZ's
    # loop runs pair k = 1, 2, ... while 2k - 1 < n - 3 and P_(k-1) > 0; K pairs run.
    k_bound = max((n - 3) // 2, 0)
    n_pairs = k_bound + 1
    pairs = rho[..., 0:2 * n_pairs:2] + rho[..., 1:2 * n_pairs:2]  # (..., k_bound + 1)
    stop = ~(pairs[..., :k_bound] > 0)  # NaN stops, as in ArviZ
    first = np.where(stop.any(axis=-1), stop.argmax(axis=-1), k_bound) if k_bound else \
        np.zeros(lead, int)
    big_k = np.minimum(first, k_bound)  # (...) pairs run
    # Geyer's initial monotone sequence: pairs 1..K-1 replaced by the running minimum
    running = np.minimum.accumulate(np.nan_to_num(pairs, nan=np.inf), axis=-1)
    used = np.arange(n_pairs) < big_k[..., None]
    pair_sum = np.where(used, running, 0.0).sum(axis=-1)
    even = np.take_along_axis(rho, (2 * big_k)[..., None], axis=-1)[..., 0]
    last_pair = np.take_along_axis(pairs, big_k[..., None], axis=-1)[..., 0]
    end = np.where(big_k == 0, 1.0, np.where((even > 0) | (last_pair >= 0), even, 0.0))
    tau = -1.0 + 2.0 * pair_sum + end
    tau = np.maximum(tau, 1.0 / np.log10(total))
    ess = (1.0 if relative else total) / tau
    # ArviZ: NaN if an autocorrelation it stored is NaN (rho_1 always, pairs 0..K-1; the
    # last pair is stored only if its sum is >= 0, so not when NaN)
    reach = np.arange(n) < np.maximum(2 * big_k, 2)[..., None]
    has_nan = (np.isnan(rho) & reach).any(axis=-1)
    ess = np.where(has_nan, np.nan, ess)
    flat = x.reshape(*lead, -1)
    constant = (flat.max(axis=-1) - flat.min(axis=-1)) < np.finfo(float).resolution
    return np.where(constant, 1.0 if relative else float(total), ess)


def ess_bulk(draws) -> np.ndarray:
    """Bulk ESS: the ESS of the rank-normalized split chains."""
    x, bad = _prepare(draws)
    if bad.all():
        return np.full(bad.shape, np.nan)
    return np.where(bad, np.nan, _ess(_z_scale(_split_chains(x))))


def _ess_quantile(x: np.ndarray, prob: float) -> np.ndarray:
    flat = x.reshape(*x.shape[:-2], -1)
    q = np.quantile(flat, prob, axis=-1)
    return _ess(_split_chains((x <= q[..., None, None]).astype(float)))


def _ess_tail_clean(clean: np.ndarray, bad: np.ndarray, probs) -> np.ndarray:
    low, high = (_ess_quantile(clean, p) for p in sorted(probs))
    return np.where(bad, np.nan, np.minimum(low, high))


def ess_tail(draws, probs: tuple[float, float] = TAIL_PROBS) -> np.ndarray:
    """Tail ESS: the smaller ESS of the indicators of the ``probs`` quantiles (5 %, 95 %)."""
    x, bad = _prepare(draws)
    if bad.all():
        return np.full(bad.shape, np.nan)
    return _ess_tail_clean(x, bad, probs)


def ess_mean(draws) -> np.ndarray:
    """ESS of the mean: the ESS of the split chains (no rank normalization)."""
    x, bad = _prepare(draws)
    if bad.all():
        return np.full(bad.shape, np.nan)
    return np.where(bad, np.nan, _ess(_split_chains(x)))


def mcse_mean(draws) -> np.ndarray:
    """Monte Carlo standard error of the mean: sd / sqrt(ESS of the mean)."""
    x = np.asarray(draws, float)
    flat = x.reshape(*x.shape[:-2], -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.std(flat, axis=-1, ddof=1) / np.sqrt(ess_mean(x))

"""Skill metrics: the one implementation of the Nash-Sutcliffe efficiency.

.. math:: \\mathrm{NSE} = 1 - \\frac{\\sum_i (m_i - o_i)^2}{\\sum_i (o_i - \\bar o)^2}

(Nash & Sutcliffe 1970), over the valid values ``i`` of model ``m`` and observations ``o``.
It is undefined (NaN) with fewer than two valid values or constant observations. Every NSE
of the project is computed here: the per-site fit of the site table
(:func:`inference.diagnostics.nse`), the pooled held-out skill of the network
(:func:`surrogate.analysis.pooled_nse`, :func:`surrogate.analysis.nse_bootstrap`), the
model comparison's held-out skill and the log-NSE of the virtual-world map recovery.

References:
    Nash, J. E. & Sutcliffe, J. V. (1970). River flow forecasting through conceptual models
    part I. Journal of Hydrology 10(3), 282-290.
    https://doi.org/10.1016/0022-1694(70)90255-6
"""

from __future__ import annotations

import numpy as np

__all__ = ["nse", "finite_pairs", "nse_finite"]


def nse(pred, obs, mask=None) -> np.ndarray:
    """Nash-Sutcliffe efficiency along the last axis, over the values where ``mask``.

    Args:
        pred: Modelled values, shape ``(..., n)``; values outside ``mask`` are ignored
            (they may be NaN).
        obs: Observed values, broadcastable with ``pred``.
        mask: Which values count, broadcastable with ``pred`` (default: all).

    Returns:
        Array of shape ``(...)`` (0-d for 1-D input): the NSE, NaN where fewer than two
        values count or the counted observations are constant (or non-finite).
    """
    pred, obs = np.broadcast_arrays(np.asarray(pred, float), np.asarray(obs, float))
    mask = np.broadcast_to(np.ones((), bool) if mask is None else np.asarray(mask, bool),
                           pred.shape)
    n = mask.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(mask, obs, 0.0).sum(-1) / np.maximum(n, 1)
        ss_res = np.where(mask, (pred - obs) ** 2, 0.0).sum(-1)
        ss_tot = np.where(mask, (obs - mean[..., None]) ** 2, 0.0).sum(-1)
        out = 1.0 - ss_res / ss_tot
    return np.where((n >= 2) & (ss_tot > 0), out, np.nan)


def finite_pairs(pred, obs, *, drop_negative: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flatten a pair of arrays and mark the pairs a pooled NSE uses.

    Args:
        pred: Modelled values (any shape).
        obs: Observed values, same number of values.
        drop_negative: Also drop pairs with a negative modelled value (PRODA sets negative
            model values to NaN before its ``coeff_efficiency``).

    Returns:
        ``(pred, obs, ok)``, flat float64 arrays, ``ok`` True where both values are finite
        (and, with ``drop_negative``, ``pred >= 0``).

    Raises:
        ValueError: The inputs hold different numbers of values.
    """
    m = np.asarray(pred, dtype=np.float64).ravel()
    o = np.asarray(obs, dtype=np.float64).ravel()
    if m.shape != o.shape:
        raise ValueError(f"inputs have {m.size} and {o.size} values")
    ok = np.isfinite(m) & np.isfinite(o)
    if drop_negative:
        ok &= m >= 0
    return m, o, ok


def nse_finite(pred, obs, *, drop_negative: bool = False) -> float:
    """Pooled NSE of all finite pairs of ``pred`` and ``obs`` (flattened).

    Args:
        pred: Modelled values (any shape).
        obs: Observed values, same number of values.
        drop_negative: Also drop pairs with a negative modelled value.

    Returns:
        The NSE (NaN if undefined, see :func:`nse`).
    """
    m, o, ok = finite_pairs(pred, obs, drop_negative=drop_negative)
    return float(nse(m, o, ok))

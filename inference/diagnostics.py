"""Per-site convergence diagnostics, fit, screening, and the diagnostics dashboard.

Convergence statistics are ArviZ's (``arviz_stats``, the DataTree-based ArviZ >= 1.0),
vectorized over sites and parameters in :mod:`inference.batched_stats`: rank-normalised
split R-hat, bulk and tail (5 % and 95 % quantiles) ESS and the MCSE of the mean (Vehtari
et al. 2021), computed on each site's stored (thinned) draws of all chains, so ESS is a slightly
conservative estimate of the ESS of the full chain. The fit is the Nash-Sutcliffe efficiency
of the posterior-mean predicted profile at the observed layers:

.. math:: \\mathrm{NSE} = 1 - \\frac{\\sum_i (\\bar m_i - o_i)^2}{\\sum_i (o_i - \\bar o)^2},
          \\qquad \\bar m_i = \\mathrm{E}[m_i \\mid o],

which is undefined (NaN) for single-layer profiles. The paper's screening keeps a site if
R-hat <= 1.05 and NSE > 0 (``docs/original_code.md`` section 5: mean R-hat over parameters
and a model-variance "R2" in the authors' code, Q5, Q11); here R-hat is reduced with the
maximum over parameters by default (stricter), and the NSE uses the observations' variance.

References:
    Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. & Buerkner, P.-C. (2021).
    Rank-normalization, folding, and localization: an improved R-hat for assessing convergence
    of MCMC. Bayesian Analysis 16(2), 667-718. https://doi.org/10.1214/20-BA1221

    Nash, J. E. & Sutcliffe, J. V. (1970). River flow forecasting through conceptual models
    part I. Journal of Hydrology 10(3), 282-290. https://doi.org/10.1016/0022-1694(70)90255-6
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import xarray as xr

from inference import batched_stats, metrics

__all__ = ["summarize", "nse", "screen", "dashboard", "DEFAULT_RHAT_MAX", "DEFAULT_NSE_MIN"]

DEFAULT_RHAT_MAX = 1.05
DEFAULT_NSE_MIN = 0.0


def nse(pred, obs, mask) -> np.ndarray:
    """Nash-Sutcliffe efficiency over the valid layers (last axis); NaN if undefined.

    The per-site fit of the site table; see :func:`inference.metrics.nse`.
    """
    return metrics.nse(pred, obs, mask)


def summarize(draws, pred, obs, mask, *, site_ids: Sequence, parameter_names: Sequence[str],
              ) -> xr.Dataset:
    """Posterior summary and diagnostics of a batch of sites.

    Args:
        draws (array (site, chain, draw, parameter)): Physical parameter draws.
        pred (array (site, chain, draw, layer)): Predictions at the observed depths.
        obs, mask: array (site, layer)

    Returns:
        xarray.Dataset:
            dims ``site`` x ``parameter``: ``mean, sd, q05, q50, q95, r_hat, ess_bulk,
            ess_tail, mcse_mean``; dims ``site``: ``nse``, ``max_r_hat``, ``min_ess_bulk``,
            ``min_ess_tail``.
    """
    draws = np.asarray(draws, float)
    s, c, d, p = draws.shape
    flat = draws.reshape(s, c * d, p)
    q = np.quantile(flat, [0.05, 0.5, 0.95], axis=1)
    by_parameter = np.moveaxis(draws, -1, 1)  # (site, parameter, chain, draw)
    r_hat, ess_bulk, ess_tail = batched_stats.convergence_statistics(by_parameter)
    mcse = batched_stats.mcse_mean(by_parameter)
    pred_mean = np.asarray(pred, float).mean(axis=(1, 2))
    sp = ("site", "parameter")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        max_r_hat = np.max(r_hat, axis=1)
        min_bulk = np.min(ess_bulk, axis=1)
        min_tail = np.min(ess_tail, axis=1)
    return xr.Dataset(
        {
            "mean": (sp, flat.mean(axis=1)),
            "sd": (sp, flat.std(axis=1, ddof=1)),
            "q05": (sp, q[0]),
            "q50": (sp, q[1]),
            "q95": (sp, q[2]),
            "r_hat": (sp, r_hat),
            "ess_bulk": (sp, ess_bulk),
            "ess_tail": (sp, ess_tail),
            "mcse_mean": (sp, mcse),
            "nse": ("site", nse(pred_mean, obs, mask)),
            "max_r_hat": ("site", max_r_hat),
            "min_ess_bulk": ("site", min_bulk),
            "min_ess_tail": ("site", min_tail),
        },
        coords={"site": np.asarray(site_ids), "parameter": list(parameter_names)},
    )


def screen(table: xr.Dataset, *, rhat_max: float = DEFAULT_RHAT_MAX,
           nse_min: float = DEFAULT_NSE_MIN, rhat_reduce: str = "max",
           ess_min: float = 0.0) -> xr.DataArray:
    """The paper's site filter: R-hat <= ``rhat_max`` and NSE > ``nse_min`` (and, with
    ``ess_min`` > 0, the smallest bulk and tail ESS >= ``ess_min``: Vehtari et al.'s strict
    criterion with ``rhat_max=1.01, ess_min=400``).

    Args:
        table (xarray.Dataset):
            A site table (:func:`inference.run_sites`), with ``r_hat`` (site, parameter),
            ``nse`` (site) and optionally ``status`` (site; only ``"ok"`` sites can pass).
        rhat_reduce ({"max", "mean"}):
            Reduce R-hat over parameters with the maximum (default) or the mean (the authors'
            code).

    Returns:
        xarray.DataArray of bool (site)
    """
    if rhat_reduce not in ("max", "mean"):
        raise ValueError("rhat_reduce must be 'max' or 'mean'")
    r = table["r_hat"].max("parameter") if rhat_reduce == "max" else table["r_hat"].mean(
        "parameter")
    keep = (r <= rhat_max) & (table["nse"] > nse_min)
    if ess_min > 0:
        keep = keep & (table["ess_bulk"].min("parameter") >= ess_min) & (
            table["ess_tail"].min("parameter") >= ess_min)
    if "status" in table:
        keep = keep & (table["status"] == "ok")
    return keep.rename("kept")


def dashboard(table: xr.Dataset, *, path=None, rhat_max: float = DEFAULT_RHAT_MAX,
              nse_min: float = DEFAULT_NSE_MIN):
    """Maps and histograms of the per-site diagnostics.

    Rows: max R-hat, min bulk ESS, acceptance rate, NSE; left column a map (lon/lat
    scatter coloured by the value; skipped if the table has no coordinates), right column
    a histogram with the screening threshold. The title gives the number of kept sites.

    Args:
        table (xarray.Dataset): A site table.
        path (str or path, optional): Save the figure there (any Matplotlib format).

    Returns:
        matplotlib.figure.Figure
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows = [("max_r_hat", "max R-hat", rhat_max), ("min_ess_bulk", "min bulk ESS", None),
            ("acceptance_rate", "acceptance rate", None), ("nse", "NSE", nse_min)]
    rows = [r for r in rows if r[0] in table]
    fig, axes = plt.subplots(len(rows), 2, figsize=(10, 2.8 * len(rows)), squeeze=False)
    has_map = ("lon" in table and "lat" in table
               and np.isfinite(np.asarray(table["lon"], float)).any())
    for (name, label, threshold), (ax_map, ax_hist) in zip(rows, axes, strict=True):
        v = np.asarray(table[name].values, float)
        finite = np.isfinite(v)
        if has_map:
            sc = ax_map.scatter(np.asarray(table["lon"]), np.asarray(table["lat"]), c=v, s=8,
                                cmap="viridis")
            fig.colorbar(sc, ax=ax_map, label=label)
            ax_map.set_xlabel("longitude")
            ax_map.set_ylabel("latitude")
        else:
            ax_map.text(0.5, 0.5, "no site coordinates", ha="center", va="center")
            ax_map.set_axis_off()
        ax_hist.hist(v[finite], bins=30, color="0.4")
        if threshold is not None:
            ax_hist.axvline(threshold, color="tab:red", ls="--")
        ax_hist.set_xlabel(label)
        ax_hist.set_ylabel("sites")
    n = table.sizes.get("site", 0)
    kept = int(np.asarray(table["kept"]).sum()) if "kept" in table else None
    title = f"{n} sites" + (f", {kept} kept (R-hat <= {rhat_max}, NSE > {nse_min})"
                            if kept is not None else "")
    fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig

"""Per-site predictive model comparison: PSIS-LOO, ELPD differences, stacking, pseudo-BMA+.

For every site calibrated by two or more models (same profiles, same observation model),
the expected log predictive density of leaving one *layer* out is estimated by Pareto-
smoothed importance sampling (Vehtari, Gelman & Gabry 2017) from the per-layer pointwise
log-likelihood the runner stores with each site's draws:

.. math::

    \\widehat{\\mathrm{elpd}}_{loo,s} = \\sum_{i \\in s} \\widehat{\\mathrm{elpd}}_i,\\qquad
    \\mathrm{se}_s = \\sqrt{n_s \\operatorname{var}_i(\\widehat{\\mathrm{elpd}}_i)},

the difference to a reference model with its paired standard error
:math:`\\sqrt{n_s \\operatorname{var}_i(\\widehat{\\mathrm{elpd}}_{i,k} -
\\widehat{\\mathrm{elpd}}_{i,\\mathrm{ref}})}`, and per-site model weights by stacking of
predictive distributions and by pseudo-BMA+ (Bayesian-bootstrap pseudo-BMA; Yao et al.
2018).

PSIS itself is arviz-stats' (:func:`arviz_stats.loo` with ``pointwise=True``), called once per
chunk of sites on all their layers at once; everything else is vectorised over sites, so
memory is bounded by one chunk of draws plus ``sites x layers x models`` pointwise values.

Use :func:`pointwise_loo` on arrays ``(site, chain, draw, layer)``, :func:`run_pointwise`
on a finished :func:`inference.run_sites` output folder (streamed chunk by chunk), and
:func:`compare_sites` to get the ``site_comparison`` dataset (dims ``site`` and ``model``).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import xarray as xr

from inference import batched_stats

__all__ = ["PointwiseLOO", "pointwise_loo", "run_pointwise", "compare_sites",
           "stacking_weights", "pseudo_bma_weights", "confident_winner", "K_THRESHOLD",
           "MIN_LAYERS_FOR_SE", "VARIABLE_ATTRS", "BAYES_FACTOR_NOTE"]

K_THRESHOLD = 0.7
"""Pareto k above which a layer's PSIS estimate is unreliable (Vehtari et al. 2017/2024)."""

MIN_LAYERS_FOR_SE = 4
"""Fewest layers for which a site's paired SE is used to call a winner: the SE is itself
estimated from the ``n`` layer differences, and with fewer than 4 it is too noisy (with one
layer it is 0) to support a "better by 2 SE" claim."""

BAYES_FACTOR_NOTE = (
    "Bayes factors are not computed: no sampler of this project returns marginal"
    " likelihoods yet, and with uniform prior boxes they would depend on the box widths"
    " (a wider box for an unidentified parameter lowers the marginal likelihood without"
    " changing any prediction). Pass log marginal likelihoods to compare_sites("
    "log_marginal=...) to add them when a tempered-SMC sampler provides them.")

VARIABLE_ATTRS: dict[str, dict[str, str]] = {
    "elpd_loo": {"units": "1", "long_name": "PSIS-LOO expected log predictive density of the"
                 " site's layers (sum over layers; log density of SOC in gC m-3)"},
    "elpd_loo_se": {"units": "1", "long_name": "standard error of elpd_loo"},
    "p_loo": {"units": "1", "long_name": "effective number of parameters (PSIS-LOO)"},
    "pareto_k_max": {"units": "1", "long_name": "largest Pareto k over the site's layers"},
    "frac_k_gt_0_7": {"units": "1", "long_name": "fraction of the site's layers with Pareto"
                      " k > 0.7"},
    "elpd_diff": {"units": "1", "long_name": "elpd_loo minus that of the reference model"},
    "elpd_diff_se": {"units": "1", "long_name": "standard error of elpd_diff (paired, from the"
                     " pointwise differences)"},
    "stacking_weight": {"units": "1", "long_name": "stacking weight of the model at the site"
                        " (Yao et al. 2018)"},
    "pseudo_bma_weight": {"units": "1", "long_name": "pseudo-BMA+ weight (Bayesian bootstrap)"
                          " of the model at the site"},
    "n_layers": {"units": "1", "long_name": "number of observed layers (LOO points) of the"
                 " site"},
    "flagged": {"units": "1", "long_name": "1 if any layer of any model has Pareto k > 0.7"
                " (PSIS-LOO unreliable at the site)"},
    "converged": {"units": "1", "long_name": "1 if the model's chains passed the run's"
                  " screening (kept in the site table)"},
    "n_refit": {"units": "1", "long_name": "layers whose PSIS estimate was replaced by an exact"
                " (refit) leave-one-out value"},
    "log_marginal": {"units": "1", "long_name": "log marginal likelihood of the site's"
                     " observations"},
}


@dataclasses.dataclass
class PointwiseLOO:
    """Pointwise PSIS-LOO values of one model at many sites (layers padded with NaN).

    Attributes:
        site: (n,) site ids (str).
        elpd_i: (n, L) pointwise elpd of each layer left out.
        pareto_k: (n, L) Pareto k of each layer.
        p_loo_i: (n, L) pointwise effective number of parameters.
        lat, lon: (n,) site coordinates [degrees north/east] (NaN if unknown).
        converged: (n,) whether the site passed the run's screening (True if unknown).
        likelihood: the observation model the log-likelihood came from (text).
        refit: (n, L) True where ``elpd_i`` is an exact (refit) leave-one-out value that
            replaced the PSIS estimate (its ``pareto_k`` is kept for the record but no
            longer flags the layer); None if there are none.
    """

    site: np.ndarray
    elpd_i: np.ndarray
    pareto_k: np.ndarray
    p_loo_i: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    converged: np.ndarray
    likelihood: str = ""
    refit: np.ndarray | None = None

    @property
    def n_layers(self) -> np.ndarray:
        return np.isfinite(self.elpd_i).sum(axis=1)


# ----------------------------------------------------------------------------------------
# PSIS-LOO (arviz-stats), vectorised over sites
# ----------------------------------------------------------------------------------------

def _tail_length(n_samples: int, r_eff: np.ndarray) -> np.ndarray:
    """PSIS tail length arviz-stats uses for ``r_eff`` (``_get_ps_tails``, right tail)."""
    r = np.asarray(r_eff, float)
    long = np.floor(3.0 * np.sqrt(n_samples / r))
    return np.where(n_samples * r > 225, long, math.floor(n_samples / 5))


def pointwise_loo(log_lik, *, r_eff=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PSIS-LOO of every layer of every site with one :func:`arviz_stats.loo` call per tail.

    Args:
        log_lik: array (site, chain, draw, layer) of pointwise log-likelihoods; NaN marks a
            layer the site does not have (padding).
        r_eff: relative efficiency of the draws, a scalar or one value per site (default 1,
            independent draws). It only sets PSIS's tail length, so sites are grouped by
            tail length and each group is one ``loo`` call.

    Returns:
        ``(elpd_i, pareto_k, p_loo_i)``, each (site, layer), NaN on padding layers.

    Raises:
        ValueError: if a present layer has non-finite log-likelihood draws (an infeasible
            draw was stored) -- such a site must be rejected before comparison.
    """
    from arviz_stats import loo

    ll = np.asarray(log_lik, float)
    if ll.ndim != 4:
        raise ValueError(f"log_lik must be (site, chain, draw, layer), got shape {ll.shape}")
    n_site, n_chain, n_draw, n_layer = ll.shape
    present = np.isfinite(ll).all(axis=(1, 2))
    partial = np.isfinite(ll).any(axis=(1, 2)) & ~present
    if partial.any():
        s, q = np.argwhere(partial)[0]
        raise ValueError(f"site index {s}, layer {q}: some log-likelihood draws are not finite"
                         " (an infeasible draw); reject the site before comparing")
    r = np.ones(n_site) if r_eff is None else np.broadcast_to(np.asarray(r_eff, float),
                                                             (n_site,))
    r = np.where(np.isfinite(r) & (r > 0), r, 1.0)
    tails = _tail_length(n_chain * n_draw, r)
    out = [np.full((n_site, n_layer), np.nan) for _ in range(3)]
    for tail in np.unique(tails):
        sites = np.flatnonzero(tails == tail)
        s_idx, l_idx = np.nonzero(present[sites])
        if s_idx.size == 0:
            continue
        s_idx = sites[s_idx]
        obs = np.moveaxis(ll[s_idx, :, :, l_idx], 0, -1)  # (chain, draw, obs)
        elpd_i, k = _loo_batch(loo, obs, float(r[sites].min()))
        for arr, val in zip(out, (elpd_i, k, _p_loo_i(obs, elpd_i)), strict=True):
            arr[s_idx, l_idx] = val
    return out[0], out[1], out[2]


def _loo_batch(loo, obs: np.ndarray, reff: float) -> tuple[np.ndarray, np.ndarray]:
    """``arviz_stats.loo`` on (chain, draw, obs); obs whose PSIS fails get ``k = inf``.

    PSIS cannot fit a Pareto tail when the largest ratios are all equal (chains that did not
    move, so few distinct draws). Such a layer gets its in-sample ``lppd_i`` (an optimistic
    value) and ``k = inf``, so the site is flagged and the model cannot win a confident
    call there; the batch is retried without it.
    """
    def run(o):
        tree = xr.DataTree.from_dict({"log_likelihood": xr.Dataset(
            {"soc": (("chain", "draw", "obs"), o)})})
        with warnings.catch_warnings():  # k warnings are reported per site, not here
            warnings.simplefilter("ignore")
            res = loo(tree, pointwise=True, var_name="soc", reff=reff)
        return np.asarray(res.elpd_i).reshape(-1), np.asarray(res.pareto_k).reshape(-1)

    try:
        return run(obs)
    except ValueError:
        pass
    from scipy.special import logsumexp

    flat = obs.reshape(-1, obs.shape[-1])
    elpd = logsumexp(flat, axis=0) - math.log(flat.shape[0])   # lppd_i
    k = np.full(obs.shape[-1], np.inf)
    for j in range(obs.shape[-1]):
        try:
            e_j, k_j = run(obs[..., j:j + 1])
        except ValueError:
            continue
        elpd[j], k[j] = e_j[0], k_j[0]
    return elpd, k


def _p_loo_i(obs: np.ndarray, elpd_i: np.ndarray) -> np.ndarray:
    """``lppd_i - elpd_i`` (the pointwise p_loo arviz-stats sums into ``p``)."""
    from scipy.special import logsumexp

    flat = obs.reshape(-1, obs.shape[-1])
    lppd = logsumexp(flat, axis=0) - math.log(flat.shape[0])
    return lppd - np.asarray(elpd_i).reshape(-1)


def _r_eff_per_site(posterior: xr.Dataset) -> np.ndarray:
    """arviz-stats' r_eff (mean bulk-free 'mean' ESS over parameters / draws), per site."""
    n = posterior.sizes["chain"] * posterior.sizes["draw"]
    if posterior.sizes["chain"] == 1:
        return np.ones(posterior.sizes["site"])
    # arviz-stats' ESS of the mean, vectorized over sites (inference.batched_stats)
    vals = np.concatenate([
        batched_stats.ess_mean(np.asarray(posterior[v].transpose("site", ..., "chain", "draw")
                                          .values, float)).reshape(posterior.sizes["site"], -1)
        for v in posterior.data_vars], axis=-1)
    return np.nanmean(vals, axis=-1) / n


def _chunk_pointwise(path, r_eff: str) -> dict:
    """Pointwise PSIS-LOO of every site of one checkpoint file (the unit of parallel work)."""
    tree = xr.open_datatree(path, engine="netcdf4")
    try:
        ll = tree["log_likelihood"].to_dataset()["soc"]
        mask = np.asarray(tree["constant_data"]["mask"].values, bool)
        arr = np.where(mask[:, None, None, :], np.asarray(ll.values, float), np.nan)
        failed = ~np.isfinite(arr).any(axis=(1, 2, 3))  # init_failed sites: all NaN
        reff = _r_eff_per_site(tree["posterior"].to_dataset()) if r_eff == "per_site" else None
        e, k, p = pointwise_loo(np.where(failed[:, None, None, None], np.nan, arr), r_eff=reff)
        summ = tree["summary"].to_dataset()
        n = len(e)
        return {"site": [str(x) for x in np.asarray(ll["site"].values)], "e": e, "k": k, "p": p,
                "lat": np.asarray(summ["lat"].values, float) if "lat" in summ
                else np.full(n, np.nan),
                "lon": np.asarray(summ["lon"].values, float) if "lon" in summ
                else np.full(n, np.nan),
                "likelihood": str(tree["posterior"].attrs.get("likelihood", ""))}
    finally:
        tree.close()


def run_pointwise(run_dir, *, site_order: Sequence | None = None,
                  r_eff: str = "per_site", workers: int = 1) -> PointwiseLOO:
    """Pointwise PSIS-LOO of every site of a finished :func:`inference.run_sites` output.

    Reads the checkpoint files one at a time per worker (memory: one chunk of draws each).

    Args:
        run_dir: the run's ``output_dir``.
        site_order: site ids in the order wanted (default: the order the chunks hold).
            Ids without a checkpoint get NaN (never dropped silently).
        r_eff: ``"per_site"`` (ESS of each site's posterior, as arviz-stats computes it for
            one site) or ``"one"`` (treat the draws as independent).
        workers: processes to spread the chunk files over (PSIS runs in Python loops, one
            core each); the numbers do not depend on it.

    Returns:
        PointwiseLOO.
    """
    from inference import completed_sites, load_site_table

    if r_eff not in ("per_site", "one"):
        raise ValueError(f"r_eff must be 'per_site' or 'one', got {r_eff!r}")
    run_dir = Path(run_dir)
    done = completed_sites(run_dir)
    if not done:
        raise FileNotFoundError(f"{run_dir}: no checkpoints (run inference.run_sites first)")
    order = [str(s) for s in (site_order if site_order is not None else done)]
    pos = {s: i for i, s in enumerate(order)}
    n = len(order)
    try:
        table = load_site_table(run_dir)
        kept = {str(s): bool(k) for s, k in zip(table["site"].values, table["kept"].values,
                                                strict=True)}
    except (FileNotFoundError, KeyError):
        kept = {}
    paths = sorted({p for s, p in done.items() if s in pos})
    if not paths:
        raise ValueError(f"{run_dir}: none of the {n} requested sites has a checkpoint")
    if workers > 1 and len(paths) > 1:
        import concurrent.futures
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # no fork of a process running JAX
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
            parts = list(ex.map(_chunk_pointwise, paths, [r_eff] * len(paths)))
    else:
        parts = [_chunk_pointwise(p, r_eff) for p in paths]
    n_layer = max(part["e"].shape[1] for part in parts)
    full = {key: np.full((n, n_layer), np.nan) for key in ("e", "k", "p")}
    lat = np.full(n, np.nan)
    lon = np.full(n, np.nan)
    for part in parts:
        rows = np.array([pos.get(s, -1) for s in part["site"]])
        use = rows >= 0
        for key, f in full.items():
            f[rows[use], : part[key].shape[1]] = part[key][use]
        lat[rows[use]] = part["lat"][use]
        lon[rows[use]] = part["lon"][use]
    likelihood = parts[0]["likelihood"]
    conv = np.array([kept.get(s, True) for s in order], bool)
    return PointwiseLOO(np.asarray(order, dtype=str), full["e"], full["k"], full["p"], lat, lon,
                        conv, likelihood)


# ----------------------------------------------------------------------------------------
# weights (vectorised over sites)
# ----------------------------------------------------------------------------------------

def stacking_weights(elpd_i, *, max_iter: int = 5000, tol: float = 1e-10) -> np.ndarray:
    """Stacking weights per site (Yao et al. 2018, Eq. 5 with LOO densities).

    Maximises :math:`\\sum_i \\log \\sum_k w_k \\exp(\\widehat{\\mathrm{elpd}}_{ik})` over
    the simplex, for every site at once. arviz-stats' ``compare`` solves this problem for one
    comparison with ``scipy.optimize.minimize`` (SLSQP); calling it per site would cost a
    Python-level optimisation per site, so here the same concave problem is solved for all
    sites together by the EM fixed point for mixture weights,
    :math:`w_k \\leftarrow w_k\\,\\overline{p_{ik} / \\sum_j w_j p_{ij}}`, which increases the
    objective monotonically and converges to its maximum (tests check it against
    ``arviz_stats.compare``).

    Args:
        elpd_i: (site, model, layer) pointwise elpd, NaN on padding layers.
        max_iter, tol: EM iterations and the convergence tolerance on the weights.

    Returns:
        (site, model) weights summing to 1 (NaN for sites without layers).
    """
    e = np.asarray(elpd_i, float)
    present = np.isfinite(e).all(axis=1)                    # (site, layer)
    shifted = e - np.nanmax(np.where(present[:, None, :], e, -np.inf), axis=1, keepdims=True)
    p = np.where(present[:, None, :], np.exp(shifted), 0.0)  # (site, model, layer)
    n = present.sum(axis=1)
    k = e.shape[1]
    w = np.full(e.shape[:2], 1.0 / k)
    active = n > 0
    for _ in range(max_iter):
        mix = np.einsum("sk,skl->sl", w, p)
        ratio = np.where(present, 1.0 / np.where(present, mix, 1.0), 0.0)
        new = w * np.einsum("skl,sl->sk", p, ratio) / np.maximum(n, 1)[:, None]
        total = new.sum(axis=1, keepdims=True)
        new = np.where(total > 0, new / np.where(total > 0, total, 1.0), w)
        done = np.max(np.abs(new - w)) < tol
        w = new
        if done:
            break
    return np.where(active[:, None], w, np.nan)


def pseudo_bma_weights(elpd_i, *, n_boot: int = 1000, seed: int = 124,
                       chunk: int = 256) -> np.ndarray:
    """Pseudo-BMA+ weights per site (Yao et al. 2018, Sec. 3.2; as arviz-stats' BB-pseudo-BMA).

    For Bayesian-bootstrap weights :math:`\\alpha \\sim \\mathrm{Dirichlet}(1,\\dots,1)` over
    the site's layers, :math:`z_k = n \\sum_i \\alpha_i \\widehat{\\mathrm{elpd}}_{ik}` and
    the weights are the bootstrap mean of ``softmax(z)``.

    Args:
        elpd_i: (site, model, layer), NaN on padding layers.
        n_boot: bootstrap replicates.
        seed: random seed (the same numbers whatever ``chunk``).
        chunk: sites per vectorised block (bounds memory: chunk x n_boot x layers).

    Returns:
        (site, model) weights (NaN for sites without layers).
    """
    e = np.asarray(elpd_i, float)
    n_site, _, n_layer = e.shape
    present = np.isfinite(e).all(axis=1)
    n = present.sum(axis=1)
    out = np.full(e.shape[:2], np.nan)
    rng = np.random.default_rng(seed)
    gamma = rng.standard_exponential((n_boot, n_layer))  # shared by all sites: reproducible
    for a in range(0, n_site, chunk):
        sl = slice(a, min(a + chunk, n_site))
        g = np.where(present[sl][:, None, :], gamma[None], 0.0)     # (s, b, l)
        alpha = g / np.maximum(g.sum(axis=-1, keepdims=True), 1e-300)
        z = np.einsum("sbl,skl->sbk", alpha, np.where(present[sl][:, None, :], e[sl], 0.0))
        z = z * n[sl][:, None, None]
        z -= z.max(axis=-1, keepdims=True)
        w = np.exp(z)
        w /= w.sum(axis=-1, keepdims=True)
        out[sl] = w.mean(axis=1)
    return np.where((n > 0)[:, None], out, np.nan)


# ----------------------------------------------------------------------------------------
# the site_comparison dataset
# ----------------------------------------------------------------------------------------

def _align(pointwise: Mapping[str, PointwiseLOO]) -> tuple[list[str], np.ndarray]:
    models = list(pointwise)
    if len(models) < 2:
        raise ValueError(f"need at least two models to compare, got {models}")
    lik = {m: p.likelihood for m, p in pointwise.items() if p.likelihood}
    if len(set(lik.values())) > 1:
        raise ValueError(f"the models were calibrated with different observation models {lik};"
                         " ELPDs are comparable only for the same likelihood")
    sites = pointwise[models[0]].site
    for m in models[1:]:
        if not np.array_equal(pointwise[m].site, sites):
            raise ValueError(f"model '{m}' has different sites (or a different order) than"
                             f" '{models[0]}'; pass the same site_order to run_pointwise")
    return models, sites


def compare_sites(pointwise: Mapping[str, PointwiseLOO], *, reference: str | None = None,
                  n_boot: int = 1000, seed: int = 124,
                  log_marginal: Mapping[str, np.ndarray] | None = None) -> xr.Dataset:
    """The ``site_comparison`` dataset from pointwise LOO values of two or more models.

    Args:
        pointwise: ``{model name: PointwiseLOO}`` on the same sites in the same order.
        reference: the model differences are taken against (default: the first).
        n_boot, seed: pseudo-BMA+ Bayesian bootstrap.
        log_marginal: optional ``{model: (site,) log marginal likelihood}`` (e.g. from
            tempered SMC); adds ``log_marginal`` and ``log_bayes_factor`` vs the reference.
            See :data:`BAYES_FACTOR_NOTE`.

    Returns:
        xarray.Dataset with dims ``site`` and ``model``: ``elpd_loo``, ``elpd_loo_se``,
        ``p_loo``, ``pareto_k_max``, ``frac_k_gt_0_7``, ``elpd_diff``, ``elpd_diff_se``,
        ``stacking_weight``, ``pseudo_bma_weight``, ``converged``, and per site ``n_layers``
        and ``flagged``; ``lat``/``lon`` coordinates; CF-1.10 attributes.

    Raises:
        ValueError: fewer than two models, different sites, different likelihoods, or a site
            whose models disagree on which layers it has.
    """
    models, sites = _align(pointwise)
    reference = reference or models[0]
    if reference not in pointwise:
        raise ValueError(f"reference '{reference}' is not among {models}")
    n_layer = max(p.elpd_i.shape[1] for p in pointwise.values())

    def pad(a):
        return np.pad(a, ((0, 0), (0, n_layer - a.shape[1])), constant_values=np.nan)

    e = np.stack([pad(pointwise[m].elpd_i) for m in models], axis=1)     # (s, k, l)
    k = np.stack([pad(np.where(pointwise[m].refit, np.nan, pointwise[m].pareto_k)
                      if pointwise[m].refit is not None else pointwise[m].pareto_k)
                  for m in models], axis=1)  # refit layers no longer count for the flags
    refit = np.stack([pad(pointwise[m].refit.astype(float)) if pointwise[m].refit is not None
                      else np.zeros((len(sites), n_layer)) for m in models], axis=1)
    p = np.stack([pad(pointwise[m].p_loo_i) for m in models], axis=1)
    has = np.isfinite(e)
    some_model = has.any(axis=1)
    # a site a model could not calibrate (all NaN) is NaN for every model; layers must agree
    site_ok = has.any(axis=2).all(axis=1)
    mismatch = site_ok & (has != has[:, :1]).any(axis=(1, 2))
    if mismatch.any():
        raise ValueError(f"site {sites[np.argmax(mismatch)]!r}: the models have different"
                         " layers; they must be calibrated on the same profiles")
    present = some_model & site_ok[:, None]                              # (s, l)
    e = np.where(present[:, None, :], e, np.nan)
    n = present.sum(axis=1).astype(float)
    nn = np.where(n > 0, n, np.nan)[:, None]

    def site_sum(a):
        return np.where(n[:, None] > 0, np.nansum(a, axis=2), np.nan)

    def site_se(a):
        # sqrt(n var(.)) with the n - 1 variance, as arviz-stats' loo and R's loo (arviz-stats'
        # compare uses n for the difference; with 3-9 layers per site the n - 1 form is the
        # less over-confident one); 0 for one layer
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            var = np.where(nn > 1, np.nanvar(a, axis=2, ddof=1), 0.0)
            return np.where(np.isfinite(nn), np.sqrt(nn * var), np.nan)

    elpd = site_sum(e)
    ref = models.index(reference)
    diff_i = e - e[:, ref:ref + 1, :]
    k_present = np.where(present[:, None, :], k, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        k_max = np.nanmax(k_present, axis=2)
    frac_bad = np.where(n[:, None] > 0, np.nansum(k_present > K_THRESHOLD, axis=2) / nn, np.nan)
    flagged = (np.nan_to_num(k_max, nan=0.0) > K_THRESHOLD).any(axis=1)
    conv = np.stack([np.asarray(pointwise[m].converged, bool) for m in models], axis=1)

    dims = ("site", "model")
    lat = next((pointwise[m].lat for m in models if np.isfinite(pointwise[m].lat).any()),
               pointwise[models[0]].lat)
    lon = next((pointwise[m].lon for m in models if np.isfinite(pointwise[m].lon).any()),
               pointwise[models[0]].lon)
    ds = xr.Dataset(
        {"elpd_loo": (dims, elpd), "elpd_loo_se": (dims, site_se(e)),
         "p_loo": (dims, site_sum(np.where(present[:, None, :], p, np.nan))),
         "pareto_k_max": (dims, k_max), "frac_k_gt_0_7": (dims, frac_bad),
         "elpd_diff": (dims, site_sum(diff_i)), "elpd_diff_se": (dims, site_se(diff_i)),
         "stacking_weight": (dims, stacking_weights(e)),
         "pseudo_bma_weight": (dims, pseudo_bma_weights(e, n_boot=n_boot, seed=seed)),
         "converged": (dims, conv.astype(np.int8)),
         "n_refit": (dims, np.nansum(np.where(present[:, None, :], refit, 0.0), axis=2)
                     .astype(np.int32)),
         "n_layers": ("site", n.astype(np.int32)), "flagged": ("site", flagged.astype(np.int8))},
        coords={"site": np.asarray(sites, dtype=str), "model": np.asarray(models, dtype=str),
                "lat": ("site", np.asarray(lat, float), {"units": "degrees_north",
                                                          "standard_name": "latitude"}),
                "lon": ("site", np.asarray(lon, float), {"units": "degrees_east",
                                                          "standard_name": "longitude"})})
    if log_marginal is not None:
        lm = np.stack([np.asarray(log_marginal[m], float) for m in models], axis=1)
        ds["log_marginal"] = (dims, lm)
        ds["log_bayes_factor"] = (dims, lm - lm[:, ref:ref + 1])
        ds["log_bayes_factor"].attrs.update(units="1", long_name="log Bayes factor against the"
                                            " reference model (prior-box sensitive)")
    for name, attrs in VARIABLE_ATTRS.items():
        if name in ds:
            ds[name].attrs.update(attrs)
    ds["elpd_diff"].attrs["reference_model"] = reference
    ds.attrs.update(
        Conventions="CF-1.10", title="per-site PSIS-LOO model comparison (socmc)",
        reference_model=reference, pareto_k_threshold=K_THRESHOLD,
        likelihood=next(iter(pointwise.values())).likelihood,
        loo="leave-one-layer-out PSIS-LOO (arviz_stats.loo), Vehtari, Gelman & Gabry (2017)",
        weights="stacking and pseudo-BMA+ (Bayesian bootstrap), Yao et al. (2018)",
        bayes_factors=BAYES_FACTOR_NOTE if log_marginal is None else "log_bayes_factor",
        refit_loo="not done: exact LOO needs one MCMC run per layer of a flagged site; flagged"
                  " sites are marked (flagged = 1) instead")
    return ds


def confident_winner(ds: xr.Dataset, *, z: float = 2.0, min_layers: int = MIN_LAYERS_FOR_SE,
                     strict: bool = False) -> xr.DataArray:
    """Per site, the model better than the other by more than ``z`` paired SE, else "".

    Defined for two models (``|elpd_diff| > z * elpd_diff_se``). No call ("") is made at
    sites with fewer than ``min_layers`` layers (see :data:`MIN_LAYERS_FOR_SE`), with NaN
    ELPDs, or where the *winning* model has a layer with Pareto k > 0.7. A large k of the
    losing model does not block the call: with a heavy right tail of the importance ratios
    PSIS under-samples the tail of ``1 / p(y_i | theta)``, so its error is predominantly
    optimistic (the loser's true ELPD is, if anything, lower). ``strict=True`` blocks any
    flagged site instead.

    Raises:
        ValueError: if ``ds`` holds more than two models.
    """
    models = [str(m) for m in ds["model"].values]
    if len(models) != 2:
        raise ValueError(f"confident_winner compares two models; got {models} (select two"
                         " with ds.sel(model=[...]) after recomputing elpd_diff)")
    ref = ds.attrs.get("reference_model", models[0])
    other = models[1 - models.index(ref)]
    d = ds["elpd_diff"].sel(model=other).values
    se = ds["elpd_diff_se"].sel(model=other).values
    winner = np.where(d > 0, other, ref)
    k_max = ds["pareto_k_max"]
    k_win = np.where(d > 0, k_max.sel(model=other).values, k_max.sel(model=ref).values)
    reliable = (ds["flagged"].values == 0) if strict else (k_win <= K_THRESHOLD)
    ok = ((ds["n_layers"].values >= min_layers) & reliable & np.isfinite(d)
          & (np.abs(d) > z * se))
    out = np.where(ok, winner, "")
    return xr.DataArray(out.astype(str), dims="site", coords={"site": ds["site"].values},
                        name="confident_winner")

"""Model comparison stage of the pipeline: where is each model the better predictor, and why?

:func:`make_comparison` (the stage, run after ``analyses``) writes under ``out/comparison/``:

* ``site_comparison.nc`` -- per site and model PSIS-LOO ELPD, SE, ``p_loo``, Pareto k,
  ELPD difference to the reference model with its paired SE, stacking and pseudo-BMA+
  weights (:func:`inference.comparison.compare_sites`), with the sites' grouping labels;
* ``summary.json`` -- global and grouped summaries (:func:`summarize_groups`), which
  covariates predict where the second model wins (:func:`winner_classifier`), and the
  PRODA-level skill at held-out sites (:func:`heldout_scores`, :func:`stacked_scores`);
* ``figures/comparison_*.png`` -- the ΔELPD map, the stacking-weight map and the ELPD
  difference by climate zone.

Everything except :func:`make_comparison` takes arrays and is testable without a run.
See ``docs/comparison.md``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import xarray as xr

from inference.comparison import (
    BAYES_FACTOR_NOTE,
    MIN_LAYERS_FOR_SE,
    compare_sites,
    confident_winner,
    run_pointwise,
    stacking_weights,
)
from inference.metrics import nse_finite

__all__ = ["climate_zone", "land_cover_group", "bedrock_class", "profile_length_class",
           "site_groups", "summarize", "summarize_groups", "fit_logistic",
           "winner_classifier", "nse", "lognormal_log_score", "heldout_scores",
           "stacked_scores", "make_comparison", "report_section"]


# ----------------------------------------------------------------------------------------
# grouping of sites
# ----------------------------------------------------------------------------------------

def climate_zone(mat, map_) -> np.ndarray:
    """A coarse climate zone from mean annual temperature [degC] and precipitation [mm yr-1].

    ``arid`` (MAP < 250 mm), else ``tropical`` (MAT >= 20 degC), ``temperate``
    (5 <= MAT < 20), ``cold`` (MAT < 5); ``unknown`` if either is NaN.
    """
    t = np.asarray(mat, float)
    p = np.asarray(map_, float)
    z = np.where(t >= 20, "tropical", np.where(t >= 5, "temperate", "cold")).astype(object)
    z = np.where(p < 250, "arid", z)
    return np.where(np.isfinite(t) & np.isfinite(p), z, "unknown").astype(str)


def land_cover_group(code) -> np.ndarray:
    """ESA CCI land-cover class codes -> broad groups (cropland, forest, shrub/grass, ...)."""
    c = np.asarray(code, float)
    g = np.full(c.shape, "other", dtype=object)
    g[(c >= 10) & (c <= 40)] = "cropland"
    g[(c >= 50) & (c <= 100)] = "forest/mosaic"
    g[(c >= 110) & (c <= 153)] = "shrub/grass/sparse"
    g[(c >= 160) & (c <= 180)] = "wetland"
    g[(c >= 200) & (c <= 202)] = "bare"
    g[~np.isfinite(c)] = "unknown"
    return g.astype(str)


def bedrock_class(depth_cm) -> np.ndarray:
    """Depth to bedrock [cm] -> ``<50 cm``, ``50-100 cm``, ``100-200 cm``, ``>=200 cm``."""
    d = np.asarray(depth_cm, float)
    out = np.select([d < 50, d < 100, d < 200], ["<50 cm", "50-100 cm", "100-200 cm"],
                    ">=200 cm").astype(object)
    return np.where(np.isfinite(d), out, "unknown").astype(str)


def profile_length_class(n_layers) -> np.ndarray:
    """Observed layers per profile -> ``1-3``, ``4-5``, ``6-7``, ``8+`` layers."""
    n = np.asarray(n_layers, int)
    return np.select([n <= 3, n <= 5, n <= 7], ["1-3 layers", "4-5 layers", "6-7 layers"],
                     "8+ layers").astype(str)


_COORD_NAMES = {
    "site": "profile identifier",
    "model": "soil model (registered name)",
    "climate_zone": "climate zone class from annual mean temperature and precipitation",
    "land_cover": "land cover group (ESA CCI class groups)",
    "bedrock_depth": "depth-to-bedrock class",
    "profile_length": "profile length class (number of observed layers)",
    "generating_model": "model that generated the site's observations (virtual world)",
}


def site_groups(covariates, n_layers) -> dict[str, np.ndarray]:
    """Grouping labels per site from a covariate table (columns as ``socmodels.data``)."""
    def col(name):
        return (np.asarray(covariates[name], float) if name in covariates
                else np.full(len(n_layers), np.nan))

    return {"climate_zone": climate_zone(col("BIO1"), col("BIO12")),
            "land_cover": land_cover_group(col("ESA_Land_Cover")),
            "bedrock_depth": bedrock_class(col("Abs_Depth_to_Bedrock")),
            "profile_length": profile_length_class(n_layers)}


# ----------------------------------------------------------------------------------------
# summaries
# ----------------------------------------------------------------------------------------

def summarize(ds: xr.Dataset, *, z: float = 2.0, min_layers: int = MIN_LAYERS_FOR_SE) -> dict:
    """Totals and confident shares of a ``site_comparison`` (sub)set of two models.

    The total difference is the sum of the site differences; its SE is
    ``sqrt(sum_s se_s^2)`` (sites independent). Sites with NaN ELPDs are counted in
    ``n_sites`` and ``n_not_compared`` but not in the totals.
    """
    models = [str(m) for m in ds["model"].values]
    ref = ds.attrs.get("reference_model", models[0])
    other = [m for m in models if m != ref]
    win = confident_winner(ds, z=z, min_layers=min_layers).values if len(models) == 2 else None
    d = ds["elpd_diff"]
    ok = np.isfinite(ds["elpd_loo"].values).all(axis=1)
    n = int(ds.sizes["site"])
    out: dict = {"n_sites": n, "n_compared": int(ok.sum()), "n_not_compared": int(n - ok.sum()),
                 "reference_model": ref,
                 "flagged_fraction": float(ds["flagged"].values[ok].mean()) if ok.any()
                 else math.nan}
    for m in other:
        dm = d.sel(model=m).values[ok]
        se = ds["elpd_diff_se"].sel(model=m).values[ok]
        out[f"total_elpd_diff_{m}_minus_{ref}"] = float(dm.sum())
        out[f"total_elpd_diff_se_{m}_minus_{ref}"] = float(np.sqrt(np.sum(se**2)))
        out[f"mean_elpd_diff_per_layer_{m}_minus_{ref}"] = (
            float(dm.sum() / ds["n_layers"].values[ok].sum()) if ok.any() else math.nan)
    for m in models:
        out[f"mean_stacking_weight_{m}"] = float(np.nanmean(
            ds["stacking_weight"].sel(model=m).values[ok])) if ok.any() else math.nan
        if win is not None:
            out[f"fraction_better_by_{z:g}se_{m}"] = float(np.mean(win[ok] == m)) if ok.any() \
                else math.nan
    if win is not None:
        out["fraction_confident"] = float(np.mean(win[ok] != "")) if ok.any() else math.nan
    return out


def summarize_groups(ds: xr.Dataset, groups: Mapping[str, np.ndarray], **kw) -> dict:
    """:func:`summarize` for every label of every grouping (``{grouping: {label: ...}}``)."""
    out: dict = {}
    for name, labels in groups.items():
        labels = np.asarray(labels)
        out[name] = {str(g): summarize(ds.isel(site=np.flatnonzero(labels == g)), **kw)
                     for g in sorted(set(labels.tolist()))}
    return out


# ----------------------------------------------------------------------------------------
# which covariates predict the winner: a small L2 logistic regression with held-out skill
# ----------------------------------------------------------------------------------------

def fit_logistic(x, y, *, l2: float = 1.0) -> np.ndarray:
    """L2-penalised logistic regression by L-BFGS; returns ``(intercept, coefficients...)``.

    (scikit-learn and statsmodels are not dependencies; this is the textbook convex problem,
    ``min sum log(1 + exp(-s_i eta_i)) + l2/2 |beta|^2`` with the intercept unpenalised.)
    """
    from scipy.optimize import minimize
    from scipy.special import expit

    x = np.asarray(x, float)
    y = np.asarray(y, float)
    xa = np.column_stack([np.ones(len(x)), x])
    pen = np.r_[0.0, np.full(x.shape[1], l2)]

    def f(b):
        eta = xa @ b
        loss = np.sum(np.logaddexp(0.0, eta) - y * eta) + 0.5 * np.sum(pen * b**2)
        grad = xa.T @ (expit(eta) - y) + pen * b
        return loss, grad

    res = minimize(f, np.zeros(xa.shape[1]), jac=True, method="L-BFGS-B")
    return res.x


def winner_classifier(x, y, names: Sequence[str], *, test_fraction: float = 0.3,
                      seed: int = 0, l2: float = 1.0) -> dict:
    """Do covariates predict where a model wins? Held-out accuracy vs the majority baseline.

    Args:
        x: (n, p) covariates (standardised inside with the training mean/sd).
        y: (n,) 1 where the model wins (e.g. ``elpd_diff > 0``), 0 otherwise.
        names: covariate names.
        test_fraction, seed: the random train/test split.
        l2: ridge penalty on the standardised coefficients.

    Returns:
        dict with ``heldout_accuracy``, ``majority_baseline`` (the training majority class
        predicted for every test site), ``n_train``/``n_test``, the standardised
        ``coefficients`` sorted by size, and ``heldout_log_loss`` vs ``baseline_log_loss``.
    """
    from scipy.special import expit

    x = np.asarray(x, float)
    y = np.asarray(y, float)
    keep = np.isfinite(x).all(axis=1) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = len(y)
    if n < 10 or len(set(y.tolist())) < 2:
        return {"n": int(n), "note": "too few sites or only one class: no classifier fitted"}
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    n_test = max(1, int(round(test_fraction * n)))
    test, train = perm[:n_test], perm[n_test:]
    mu, sd = x[train].mean(axis=0), x[train].std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    xs = (x - mu) / sd
    b = fit_logistic(xs[train], y[train], l2=l2)
    p = expit(b[0] + xs[test] @ b[1:])
    acc = float(np.mean((p > 0.5) == (y[test] > 0.5)))
    major = float(y[train].mean() >= 0.5)
    base = float(np.mean(y[test] == major))
    p_base = np.clip(y[train].mean(), 1e-6, 1 - 1e-6)
    eps = 1e-12

    def ll(q):
        return float(-np.mean(y[test] * np.log(q + eps) + (1 - y[test]) * np.log(1 - q + eps)))

    order = np.argsort(-np.abs(b[1:]))
    return {"n_train": int(len(train)), "n_test": int(n_test),
            "heldout_accuracy": acc, "majority_baseline": base,
            "heldout_log_loss": ll(p), "baseline_log_loss": ll(np.full(len(test), p_base)),
            "share_wins_train": float(y[train].mean()),
            "coefficients": {names[i]: float(b[1 + i]) for i in order}}


# ----------------------------------------------------------------------------------------
# PRODA-level skill at held-out sites
# ----------------------------------------------------------------------------------------

def nse(pred, obs) -> float:
    """Nash-Sutcliffe efficiency of paired finite values (:func:`inference.metrics.nse_finite`)."""
    return nse_finite(pred, obs)


def lognormal_log_score(pred, obs, sigma: float) -> np.ndarray:
    """Log predictive density of ``obs`` under ``log o ~ N(log pred, sigma^2)`` (per value).

    ``pred`` may carry a leading member axis (an ensemble): the predictive is then the
    equal-weight mixture over members, ``log mean_j p(o | pred_j)``.
    """
    from scipy.special import logsumexp

    o = np.asarray(obs, float)
    p = np.asarray(pred, float)
    if p.ndim == o.ndim:
        p = p[None]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.log(o)[None] - np.log(p)) / sigma
        lp = -0.5 * z**2 - math.log(sigma) - 0.5 * math.log(2 * math.pi) - np.log(o)[None]
    return logsumexp(lp, axis=0) - math.log(p.shape[0])


def _bootstrap(stat, groups: np.ndarray, n_boot: int, seed: int, level: float):
    """Percentile interval of ``stat(rows)`` resampling whole sites (groups of rows)."""
    rng = np.random.default_rng(seed)
    ids = np.unique(groups)
    rows = {g: np.flatnonzero(groups == g) for g in ids}
    vals = []
    for _ in range(n_boot):
        pick = rng.choice(ids, size=len(ids), replace=True)
        vals.append(stat(np.concatenate([rows[g] for g in pick])))
    a = (1 - level) / 2
    return float(np.nanquantile(vals, a)), float(np.nanquantile(vals, 1 - a))


def heldout_scores(pred, obs, site, sigma: float, *, n_boot: int = 500, seed: int = 0,
                   level: float = 0.9) -> dict:
    """NSE and mean log score of predictions at held-out layers, with site-bootstrap intervals.

    Args:
        pred: (n,) or (members, n) predicted SOC density at the held-out layers [gC m-3]
            (e.g. from network-predicted parameters; members = ensemble members).
        obs: (n,) observed density [gC m-3].
        site: (n,) site label of each layer (the bootstrap resamples sites).
        sigma: log-scale sd of the lognormal observation model.

    Returns:
        ``{"nse", "nse_interval", "log_score", "log_score_interval", "n_layers", "n_sites"}``
        (log score: mean log predictive density per layer; higher is better; NSE of the
        ensemble-median prediction).
    """
    pred = np.asarray(pred, float)
    obs = np.asarray(obs, float)
    site = np.asarray(site)
    point = np.median(pred, axis=0) if pred.ndim == 2 else pred
    ls = lognormal_log_score(pred, obs, sigma)
    ok = np.isfinite(point) & np.isfinite(obs) & np.isfinite(ls)
    point, obs_, ls, site = point[ok], obs[ok], ls[ok], site[ok]
    return {"nse": nse(point, obs_),
            "nse_interval": _bootstrap(lambda r: nse(point[r], obs_[r]), site, n_boot, seed,
                                       level),
            "log_score": float(ls.mean()),
            "log_score_interval": _bootstrap(lambda r: float(ls[r].mean()), site, n_boot,
                                             seed, level),
            "n_layers": int(ok.sum()), "n_not_finite": int((~ok).sum()),
            "n_sites": int(len(np.unique(site))), "level": level}


def stacked_scores(preds: Mapping[str, np.ndarray], weights: Mapping[str, float], obs, site,
                   sigma: float, **kw) -> dict:
    """Skill of the stacked predictive ``sum_k w_k p_k(o)`` (weights fitted elsewhere).

    The point prediction for the NSE is the weighted mean of the models' (median)
    predictions; the log score is that of the mixture density.
    """
    obs = np.asarray(obs, float)
    models = list(preds)
    w = np.array([weights[m] for m in models], float)
    w = w / w.sum()
    lps, points = [], []
    for m in models:
        p = np.asarray(preds[m], float)
        lps.append(lognormal_log_score(p, obs, sigma))
        points.append(np.median(p, axis=0) if p.ndim == 2 else p)
    with np.errstate(divide="ignore"):
        from scipy.special import logsumexp
        mix = logsumexp(np.stack(lps) + np.log(w)[:, None], axis=0)
    point = np.tensordot(w, np.stack(points), axes=1)
    # reuse heldout_scores for the intervals, feeding the mixture through exp(log score)
    res = heldout_scores(point, obs, site, sigma, **kw)
    ok = np.isfinite(point) & np.isfinite(obs) & np.isfinite(mix)
    site_ok = np.asarray(site)[ok]
    mix_ok = mix[ok]
    res["log_score"] = float(mix_ok.mean())
    res["log_score_interval"] = _bootstrap(lambda r: float(mix_ok[r].mean()), site_ok,
                                           kw.get("n_boot", 500), kw.get("seed", 0),
                                           kw.get("level", 0.9))
    res["weights"] = {m: float(x) for m, x in zip(models, w, strict=True)}
    return res


# ----------------------------------------------------------------------------------------
# the pipeline stage
# ----------------------------------------------------------------------------------------

def _heldout_predictions(cfg, out: Path, world, model: str, ens, held_ids: list[str]):
    """Network-predicted SOC at the held-out sites' layers: (members, n_layers) and obs."""
    import jax
    import jax.numpy as jnp

    from inference.likelihoods import get_likelihood
    from inference.sites import read_profiles
    from socmodels import batch, get_model, observe
    from surrogate.predict import predict_unit

    mod = get_model(model)
    lik = get_likelihood(cfg["calibration"]["likelihood"])
    prof, _ = read_profiles(world.profiles, lik, invalid="skip")
    ids = [str(s) for s in prof.site_id]
    rows = np.array([ids.index(s) for s in held_ids])
    cov = world.covariates.copy()
    cov.index = cov.index.astype(str)
    x = cov.loc[held_ids].to_numpy(float)
    members = predict_unit(ens, x)                         # (m, n_sites, d)
    pid = [str(p) for p in world.profiles["profile_id"].values]
    site_rows = np.array([pid.index(s) for s in held_ids])
    forcing = jax.tree_util.tree_map(lambda a: np.asarray(a)[site_rows], world.forcing)
    depth = jnp.asarray(prof.depth[rows])
    preds = []
    for u in members:
        theta = np.asarray(mod.PARAMETERS.to_physical(u))
        r = batch.steady_states(mod, theta, forcing, fields=("soc", "feasible"))
        soc, feas = r["soc"], r["feasible"]
        p = np.asarray(jax.vmap(observe)(jnp.asarray(soc), depth))
        preds.append(np.where(feas[:, None], p, np.nan))
    mask = prof.mask[rows]
    site = np.repeat(np.asarray(held_ids)[:, None], mask.shape[1], axis=1)[mask]
    return np.stack([p[mask] for p in preds]), prof.obs[rows][mask], site


def _figures(ds: xr.Dataset, grouped: dict, fig_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [str(m) for m in ds["model"].values]
    ref = ds.attrs["reference_model"]
    other = next(m for m in models if m != ref)
    lon, lat = ds["lon"].values, ds["lat"].values
    files = []
    d = ds["elpd_diff"].sel(model=other).values
    lim = float(np.nanquantile(np.abs(d), 0.95)) if np.isfinite(d).any() else 1.0
    from surrogate.plots import land_outline

    fig, ax = plt.subplots(figsize=(8, 4))
    land_outline(ax)
    sc = ax.scatter(lon, lat, c=d, cmap="RdBu_r", vmin=-lim, vmax=lim, s=14,
                    edgecolors="k", linewidths=0.2)
    conf = confident_winner(ds).values != ""
    ax.scatter(lon[conf], lat[conf], s=40, facecolors="none", edgecolors="k", linewidths=0.6,
               label=f"|ΔELPD| > 2 SE ({conf.sum()} sites)")
    ax.set(xlabel="longitude (degrees east)", ylabel="latitude (degrees north)",
           xlim=(-180, 180), ylim=(-90, 90),
           title=f"ΔELPD = ELPD({other.upper()}) − ELPD({ref.upper()}) per site")
    fig.colorbar(sc, ax=ax, label=f"ΔELPD (nats)\n> 0: {other.upper()} better")
    ax.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    fig.savefig(fig_dir / "comparison_delta_elpd_map.png", dpi=90)
    plt.close(fig)
    files.append("figures/comparison_delta_elpd_map.png")

    fig, ax = plt.subplots(figsize=(8, 4))
    land_outline(ax)
    sc = ax.scatter(lon, lat, c=ds["stacking_weight"].sel(model=other).values, cmap="viridis",
                    vmin=0, vmax=1, s=14, edgecolors="k", linewidths=0.2)
    ax.set(xlabel="longitude (degrees east)", ylabel="latitude (degrees north)",
           xlim=(-180, 180), ylim=(-90, 90), title=f"stacking weight of {other.upper()}")
    fig.colorbar(sc, ax=ax, label=f"stacking weight of {other.upper()} (1)\n"
                 f"{ref.upper()}: 1 − w")
    fig.tight_layout()
    fig.savefig(fig_dir / "comparison_stacking_weight_map.png", dpi=90)
    plt.close(fig)
    files.append("figures/comparison_stacking_weight_map.png")

    zones = grouped.get("climate_zone", {})
    if zones:
        names = list(zones)
        tot = f"total_elpd_diff_{other}_minus_{ref}"
        se = f"total_elpd_diff_se_{other}_minus_{ref}"
        fig, ax = plt.subplots(figsize=(6, 3.5))
        vals = [zones[z].get(tot, np.nan) for z in names]
        errs = [2 * zones[z].get(se, np.nan) for z in names]
        labels = [f"{z}\n(n = {zones[z]['n_compared']})" for z in names]
        ax.bar(labels, vals, yerr=errs, capsize=4, color="0.6", edgecolor="k")
        ax.axhline(0, color="k", lw=0.6)
        ax.set(ylabel=f"ΣΔELPD, {other.upper()} − {ref.upper()} (nats; ± 2 SE)",
               xlabel="climate zone", title="ELPD difference by climate zone")
        fig.tight_layout()
        fig.savefig(fig_dir / "comparison_by_zone.png", dpi=90)
        plt.close(fig)
        files.append("figures/comparison_by_zone.png")
    return files


def make_comparison(cfg: dict, out, world, tables: Mapping, ensembles: Mapping) -> dict:
    """The comparison stage: writes ``out/comparison/`` and returns the headline numbers.

    Args:
        cfg: the pipeline configuration (``models``, ``seed``, ``calibration.likelihood``).
        out: the pipeline output folder (calibrations in ``out/calibration/<model>``).
        world: the data (``profiles``, ``forcing``, ``covariates``, optional ``truth``).
        tables: ``{model: site table}`` (the site order used).
        ensembles: ``{model: Ensemble}`` for the held-out PRODA-level skill (may be empty).

    Returns:
        dict of headline numbers (also in ``out/comparison/summary.json``).
    """
    out = Path(out)
    cdir = out / "comparison"
    (cdir / "figures").mkdir(parents=True, exist_ok=True)
    models = list(cfg["models"])
    if len(models) < 2:
        return {"note": "one model: nothing to compare"}
    ref = models[0]
    sites = [str(s) for s in np.asarray(tables[ref]["site"].values)]
    workers = max(1, min(8, os.cpu_count() or 1))   # PSIS is one Python loop per process
    pw = {m: run_pointwise(out / "calibration" / m, site_order=sites, workers=workers)
          for m in models}
    for m in models:  # the site tables' screening, in the same order
        t = tables[m]
        kept = {str(s): bool(k) for s, k in zip(t["site"].values, t["kept"].values,
                                                strict=True)}
        pw[m].converged = np.array([kept.get(s, False) for s in sites])
    ds = compare_sites(pw, reference=ref)
    cov = world.covariates.copy()
    cov.index = cov.index.astype(str)
    cov = cov.reindex(sites)
    groups = site_groups(cov, ds["n_layers"].values)
    for name, labels in groups.items():
        ds = ds.assign_coords({name: ("site", labels)})
    truth = getattr(world, "truth", None)
    if truth is not None and "generating_model" in truth:
        gen = dict(zip([str(p) for p in truth["profile_id"].values],
                       [str(g) for g in truth["generating_model"].values], strict=True))
        ds = ds.assign_coords(generating_model=("site", [gen.get(s, "") for s in sites]))
    for name, long_name in _COORD_NAMES.items():  # CF: every variable is described
        if name in ds.variables:
            ds[name].attrs.setdefault("long_name", long_name)
    ds.to_netcdf(cdir / "site_comparison.nc")

    two = ds.sel(model=models[:2]) if len(models) > 2 else ds
    other = models[1]
    res: dict = {"global": summarize(two), "by_group": summarize_groups(two, groups),
                 "bayes_factors": BAYES_FACTOR_NOTE}
    both_kept = ds["converged"].values.all(axis=1).astype(bool)
    res["global_converged_sites_only"] = summarize(two.isel(site=np.flatnonzero(both_kept)))
    # which covariates predict where the second model wins
    d = two["elpd_diff"].sel(model=other).values
    names = [c for c in cov.columns if c not in ("Lon", "Lat")]
    res["winner_classifier"] = winner_classifier(cov[names].to_numpy(float),
                                                 np.where(np.isfinite(d), d > 0, np.nan),
                                                 names, seed=cfg.get("seed", 0))
    res["winner_classifier"]["target"] = f"elpd_diff({other} - {ref}) > 0"
    # known truth (virtual world)
    if "generating_model" in ds.coords:
        win = confident_winner(two).values
        g = ds["generating_model"].values
        conf = (win != "") & np.isin(g, models)
        res["truth"] = {"n_confident": int(conf.sum()),
                        "confident_fraction": float(np.mean(win != "")),
                        "picks_generator_among_confident": (float(np.mean(win[conf] == g[conf]))
                                                            if conf.any() else None),
                        "generated_by": {m: int(np.sum(g == m)) for m in models}}
    # PRODA level: network-predicted parameters at held-out sites
    res["heldout"] = _heldout_section(cfg, out, world, models, ensembles, pw)
    figs = _figures(two, res["by_group"], cdir / "figures")
    res["figures"] = [f"comparison/{f}" for f in figs]
    (cdir / "summary.json").write_text(json.dumps(res, indent=1, default=float))
    g = res["global"]
    head = {"reference_model": ref, "other_model": other,
            "total_elpd_diff": g[f"total_elpd_diff_{other}_minus_{ref}"],
            "total_elpd_diff_se": g[f"total_elpd_diff_se_{other}_minus_{ref}"],
            "fraction_confident": g.get("fraction_confident"),
            "fraction_better": {m: g.get(f"fraction_better_by_2se_{m}") for m in models[:2]},
            "flagged_fraction": g["flagged_fraction"], "n_sites": g["n_sites"],
            "winner_classifier_accuracy": res["winner_classifier"].get("heldout_accuracy"),
            "winner_classifier_baseline": res["winner_classifier"].get("majority_baseline")}
    if "truth" in res:
        head["truth_picks_generator"] = res["truth"]["picks_generator_among_confident"]
        head["truth_confident_fraction"] = res["truth"]["confident_fraction"]
    if res["heldout"]:
        head["heldout_log_score"] = {k: v["log_score"] for k, v in res["heldout"].items()}
        head["heldout_nse"] = {k: v["nse"] for k, v in res["heldout"].items()}
    return head


def _heldout_section(cfg, out: Path, world, models, ensembles, pw) -> dict:
    """Held-out NSE/log score per model and of the stacked prediction (weights: training)."""
    from inference.likelihoods import get_likelihood

    if not ensembles or not all(m in ensembles for m in models):
        return {}
    lik = get_likelihood(cfg["calibration"]["likelihood"])
    opts = dict(lik.options)
    if lik.kind != "lognormal":
        return {"note": f"held-out log score implemented for the lognormal likelihood, not"
                        f" {lik.kind}"}
    sigma = float(opts["sigma"])
    split_path = out / "network" / f"{models[0]}_sites.nc"
    if not split_path.exists():
        return {}
    with xr.open_dataset(split_path) as split:
        held = [str(s) for s in split["site"].values[split["heldout"].values.astype(bool)]]
    if not held:
        return {}
    preds, obs, site = {}, None, None
    for m in models:
        preds[m], obs, site = _heldout_predictions(cfg, out, world, m, ensembles[m], held)
    res = {m: heldout_scores(preds[m], obs, site, sigma, seed=cfg.get("seed", 0))
           for m in models}
    # global stacking weights from the training sites' pointwise LOO (never the held-out)
    sites = pw[models[0]].site
    train = ~np.isin(sites, held)
    e = np.stack([pw[m].elpd_i[train] for m in models], axis=1)      # (s, k, l)
    pooled = np.moveaxis(e, 1, 0).reshape(len(models), -1)
    pooled = pooled[:, np.isfinite(pooled).all(axis=0)]
    w = stacking_weights(pooled[None])[0]
    res["stacked"] = stacked_scores(preds, dict(zip(models, w, strict=True)), obs, site, sigma,
                                    seed=cfg.get("seed", 0))
    return res


def report_section(out) -> tuple[list[str], dict]:
    """Markdown lines and headline numbers of the comparison for ``report.md``.

    Reads ``out/comparison/summary.json`` (written by :func:`make_comparison`); returns
    ``([], {})`` if the stage has not run.
    """
    path = Path(out) / "comparison" / "summary.json"
    if not path.exists():
        return [], {}
    res = json.loads(path.read_text())
    g = res["global"]
    ref = g["reference_model"]
    others = [k.split("total_elpd_diff_se_")[1].split("_minus_")[0] for k in g
              if k.startswith("total_elpd_diff_se_")]
    if not others:
        return [], {}
    other = others[0]
    tot = g[f"total_elpd_diff_{other}_minus_{ref}"]
    se = g[f"total_elpd_diff_se_{other}_minus_{ref}"]

    def pct(x):
        return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.0f} %"

    lines = ["## Model comparison (PSIS-LOO, per site)", "",
             f"- Total ELPD difference {other.upper()} − {ref.upper()}: {tot:.1f} ± {se:.1f}"
             f" (SE) over {g['n_compared']} sites ({g['n_not_compared']} not compared);"
             f" mean stacking weight of {other.upper()}"
             f" {g[f'mean_stacking_weight_{other}']:.2f}.",
             f"- Better by > 2 SE: {ref.upper()} at {pct(g.get(f'fraction_better_by_2se_{ref}'))}"
             f", {other.upper()} at {pct(g.get(f'fraction_better_by_2se_{other}'))} of sites;"
             f" {pct(g['flagged_fraction'])} of sites have a layer with Pareto k > 0.7"
             " (PSIS-LOO unreliable there; see docs/comparison.md)."]
    wc = res.get("winner_classifier", {})
    if "heldout_accuracy" in wc:
        top = ", ".join(list(wc["coefficients"])[:3])
        lines.append(f"- Where {other.upper()} wins, predicted from the covariates (logistic"
                     f" regression, held-out): accuracy {wc['heldout_accuracy']:.2f} vs"
                     f" {wc['majority_baseline']:.2f} for the majority class (largest"
                     f" coefficients: {top}).")
    if res.get("truth", {}).get("picks_generator_among_confident") is not None:
        t = res["truth"]
        lines.append(f"- Virtual world: {pct(t['confident_fraction'])} of sites confident;"
                     f" of those, {pct(t['picks_generator_among_confident'])} pick the model"
                     " that generated them.")
    ho = res.get("heldout", {})
    if ho and "stacked" in ho:
        lines.append("- Held-out sites (network-predicted parameters), NSE / log score per"
                     " layer [90 % CI]: " + "; ".join(
                         f"{k}: {v['nse']:.2f} / {v['log_score']:.2f}"
                         f" [{v['log_score_interval'][0]:.2f}, {v['log_score_interval'][1]:.2f}]"
                         for k, v in ho.items()) + ".")
    zones = res.get("by_group", {}).get("climate_zone", {})
    if zones:
        lines += ["", "| climate zone | sites | ΣΔELPD ± SE | "
                  f"{ref.upper()} better | {other.upper()} better |", "|---|---|---|---|---|"]
        for z, s in zones.items():
            lines.append(f"| {z} | {s['n_compared']} |"
                         f" {s[f'total_elpd_diff_{other}_minus_{ref}']:.1f} ±"
                         f" {s[f'total_elpd_diff_se_{other}_minus_{ref}']:.1f} |"
                         f" {pct(s.get(f'fraction_better_by_2se_{ref}'))} |"
                         f" {pct(s.get(f'fraction_better_by_2se_{other}'))} |")
    lines += ["", "Bayes factors are not computed (no marginal likelihoods; they would depend"
              " on the prior-box widths).", ""]
    lines += [f"![{f}]({f})" for f in res.get("figures", [])] + [""]
    head = {"total_elpd_diff": tot, "total_elpd_diff_se": se, "reference_model": ref,
            "other_model": other, "fraction_confident": g.get("fraction_confident"),
            "flagged_fraction": g["flagged_fraction"]}
    if "truth" in res:
        head["truth_picks_generator"] = res["truth"]["picks_generator_among_confident"]
        head["truth_confident_fraction"] = res["truth"]["confident_fraction"]
    return lines, head

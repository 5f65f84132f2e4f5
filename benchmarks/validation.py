"""Validation benchmark: twin sites with known truth, SBC, coverage and identifiability.

Twin sites (:func:`inference.testing.twin_sites`: temperate, tropical, arid, cold with
permafrost, shallow bedrock, long profiles; truth drawn from the prior restricted to the
feasible set; observations drawn from the fitting likelihood) are calibrated by
:func:`inference.run_sites` (run-until-converged with :class:`inference.Convergence` when
the installed ``inference`` has it, else a fixed budget of ``segments x samples``
iterations). Reported (all sites, and converged sites only):

* **SBC** (Talts et al. 2018): rank of the truth among at most 99 posterior draws per site,
  thinned evenly (the same number per chain) to at most the site's bulk ESS; chi-square
  test of uniformity per parameter, Bonferroni over parameters; rank histograms.
* **Coverage** of the central 90 % posterior intervals (site table ``q05``-``q95``) per
  parameter, with the binomial 95 % acceptance band for the number of sites.
* **Identifiability**: median posterior sd / prior sd in the unit cube (prior sd
  1/sqrt(12)) and R^2 of the posterior means against the truth (:func:`inference.recovery`).
* **Convergence**: fraction converged (``stop_reason``, or the strict criterion max R-hat
  <= 1.01, min bulk and tail ESS >= 400 with a fixed budget), median / p90 wall seconds per
  site, the load average at start and end.

The converged-only statistics condition on convergence, which may depend on the truth (a
deviation there can be selection); the all-sites statistics are the exact test.

Prints one JSON object; ``--out`` also writes it (default path
``benchmarks/results/validation_<model>_<sampler>[_<space>][_quick].json``).

Usage::

    python benchmarks/validation.py --model compas --sampler chees --n 100 \
        [--space feasible] [--segments 8] [--quick] [--out [PATH]]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
STRICT_RHAT, STRICT_ESS = 1.01, 400.0


def _sampler(name: str, warmup: int, samples: int, options=None):
    from inference.samplers import get_sampler

    return get_sampler({"kind": name, "num_warmup": warmup, "num_samples": samples,
                        **(options or {})})


def _options(pairs) -> dict:
    """``["key=json value", ...]`` -> dict (``adapt_between_segments=true``)."""
    out = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--option {pair!r}: expected KEY=VALUE")
        out[key] = json.loads(value)
    return out


def fit(tw, model: str, sampler: str, *, output_dir, warmup: int, samples: int,
        segments: int, chains: int, seed: int, space, fixed_budget: bool, workers: int,
        likelihood, options=None, draws: int | None = None, chunk_size: int | None = None):
    """The one call of :func:`inference.run_sites`; returns ``(SiteRun, notes)``."""
    import inference

    kwargs, notes = {}, {}
    if not fixed_budget:
        kwargs["convergence"] = inference.Convergence(rhat_max=STRICT_RHAT,
                                                      ess_bulk_min=STRICT_ESS,
                                                      ess_tail_min=STRICT_ESS,
                                                      max_segments=segments)
        budget = samples
        notes["mode"] = "run-until-converged (inference.Convergence)"
    else:
        budget = samples * segments
        notes["mode"] = "fixed budget of segments x samples iterations"
    kwargs["space"] = space
    n = tw.profiles.sizes["profile"]
    run = inference.run_sites(
        tw.profiles, tw.forcing, model, _sampler(sampler, warmup, budget, options),
        output_dir=output_dir, likelihood=likelihood, num_chains=chains, seed=seed,
        num_draws=draws or min(budget, 1_000), chunk_size=chunk_size or -(-n // workers),
        workers=workers,
        progress=False, overwrite=True, **kwargs)
    return run, notes


def _converged(table, use_stop_reason: bool) -> np.ndarray:
    if use_stop_reason and "stop_reason" in table:
        return np.asarray(table["stop_reason"].values).astype(str) == "converged"
    ok = np.asarray(table["status"].values).astype(str) == "ok"
    return ok & (np.asarray(table["max_r_hat"]) <= STRICT_RHAT) & (
        np.asarray(table["min_ess_bulk"]) >= STRICT_ESS) & (
        np.asarray(table["min_ess_tail"]) >= STRICT_ESS)


def _unit_draws(output_dir, site_ids, model: str) -> list:
    """(chain, draw, parameter) unit-cube draws per site (None without a posterior)."""
    import inference
    from socmodels import get_model

    params = get_model(model).PARAMETERS
    out = []
    for s in site_ids:
        try:
            post = inference.load_site(output_dir, s)["posterior"].to_dataset()
        except KeyError:
            out.append(None)
            continue
        x = np.stack([np.asarray(post[p].transpose("chain", "draw").values)
                      for p in params.names], axis=-1)
        x = x[:, np.all(np.isfinite(x), axis=(0, 2))]     # drop draws padded with NaN
        out.append(np.asarray(params.to_unit(x)) if x.size else None)
    return out


def _scores(table, tw, draws, sel, model: str, bins, max_draws: int) -> dict:
    """SBC, coverage and identifiability on the sites ``sel`` (bool (n,))."""
    import xarray as xr

    import inference
    from inference.calibration_checks import interval_coverage, rank_uniformity, sbc_ranks
    from socmodels import get_model

    params = get_model(model).PARAMETERS
    names = list(params.names)
    idx = np.flatnonzero(sel)
    out: dict = {"n_sites": int(idx.size)}
    if idx.size < 2:
        out["note"] = "fewer than 2 sites: no statistics"
        return out
    sub = table.isel(site=idx)
    sbc = sbc_ranks([draws[i] for i in idx], tw.truth_unit[idx], max_draws=max_draws,
                    ess=np.asarray(sub["min_ess_bulk"].values, float))
    has = sbc.n_draws > 0
    out["sbc_draws_per_site_median"] = float(np.median(sbc.n_draws[has])) if has.any() else 0
    if has.sum() >= 2:
        u = rank_uniformity(sbc.ranks, sbc.n_draws, bins=bins)
        out["sbc"] = {"n_sites": u.n_sites, "bins": u.bins, "p_overall_bonferroni": u.p_overall,
                      "passed_at_0.05": u.passed,
                      "per_parameter": {n: {"p": float(u.p_value[k]),
                                            "p_bonferroni": float(u.p_bonferroni[k]),
                                            "counts": u.counts[k].tolist()}
                                        for k, n in enumerate(names)}}
    # quantiles map to the unit cube through the parameters' own transform (log-scale ones
    # included): quantiles are preserved by a monotone map
    q05 = np.asarray(params.to_unit(np.asarray(sub["q05"].values)))
    q95 = np.asarray(params.to_unit(np.asarray(sub["q95"].values)))
    cov = interval_coverage(q05, q95, tw.truth_unit[idx], level=0.9)
    out["coverage90"] = {
        "band_95": [float(np.nanmin(cov.band_low)), float(np.nanmax(cov.band_high))],
        "flagged": [n for n, f in zip(names, cov.outside, strict=True) if f],
        "per_parameter": {n: float(cov.fraction[k]) for k, n in enumerate(names)}}
    truth = xr.DataArray(tw.truth[idx], dims=("site", "parameter"),
                         coords={"site": sub["site"].values, "parameter": names})
    rec = inference.recovery(sub, truth, model=model)
    out["identifiability"] = {
        "sd_ratio_median_posterior_over_prior": {n: float(v) for n, v in
                                                 zip(names, rec["sd_ratio"].values,
                                                     strict=True)},
        "r2_posterior_mean_vs_truth": {n: float(v) for n, v in
                                       zip(names, rec["r2"].values, strict=True)},
        "n_identifiable_sd_ratio_below_0.5": int(np.sum(rec["identifiable"].values))}
    return out


def _by_kind(values, kind) -> dict:
    return {str(k): float(np.mean(values[kind == k])) for k in np.unique(kind)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="compas")
    ap.add_argument("--sampler", default="chees")
    ap.add_argument("--n", type=int, default=100, help="twin sites")
    ap.add_argument("--space", default=None, choices=["logit", "unit", "feasible"],
                    help="sampler space (default: the sampler's own)")
    ap.add_argument("--segments", type=int, default=8, help="at most this many segments")
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--samples", type=int, default=250, help="iterations per segment")
    ap.add_argument("--chains", type=int, default=8)
    ap.add_argument("--draws", type=int, default=None,
                    help="stored draws per chain (default min(iterations per segment, 1000))")
    ap.add_argument("--chunk-size", type=int, default=None,
                    help="sites per compiled batch (default: all sites of a worker)")
    ap.add_argument("--kinds", default=None,
                    help="comma-separated twin kinds (default inference.testing.TWIN_KINDS;"
                         " also EXTREME_TWIN_KINDS)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--bins", type=int, default=None, help="SBC histogram bins")
    ap.add_argument("--max-draws", type=int, default=99, help="SBC draws per site (L)")
    ap.add_argument("--fixed-budget", action="store_true",
                    help="no run-until-converged: segments x samples iterations per chain")
    ap.add_argument("--option", action="append", metavar="KEY=VALUE",
                    help="sampler option, value in JSON (e.g. adapt_between_segments=true)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 6 sites, 100 warm-up, 2 segments of 100, 4 chains")
    ap.add_argument("--output-dir", default=None, help="keep the run here (default: temp)")
    ap.add_argument("--out", nargs="?", const="", default=None,
                    help="write the JSON (no value: benchmarks/results/"
                         "validation_<model>_<sampler>[_<space>][_quick].json)")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.warmup, args.samples, args.segments, args.chains = 6, 100, 100, 2, 4

    import inference
    from inference.testing import twin_sites

    lik = inference.lognormal()
    res: dict = {"config": vars(args).copy(),
                 "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                             "load_avg_start": os.getloadavg()}}
    t0 = time.perf_counter()
    tw = twin_sites(args.model, args.n, seed=args.seed, likelihood=lik,
                    kinds=args.kinds.split(",") if args.kinds else None)
    res["twin"] = {"seconds": time.perf_counter() - t0, "n_sites": args.n,
                   "kinds": {str(k): int(np.sum(tw.kind == k)) for k in np.unique(tw.kind)},
                   "truth_tries_median": float(np.median(tw.tries)),
                   "truth_tries_max": int(tw.tries.max()),
                   "truth_tries_mean_by_kind": _by_kind(tw.tries, tw.kind),
                   "likelihood": str(lik)}
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.output_dir or os.path.join(tmp, "run")
        t0 = time.perf_counter()
        run, notes = fit(tw, args.model, args.sampler, output_dir=out_dir,
                         warmup=args.warmup, samples=args.samples, segments=args.segments,
                         chains=args.chains, seed=args.seed, space=args.space,
                         fixed_budget=args.fixed_budget, workers=args.workers,
                         likelihood=lik, options=_options(args.option), draws=args.draws,
                         chunk_size=args.chunk_size)
        res["run"] = {"seconds": time.perf_counter() - t0, **notes}
        table = run.table
        ids = [str(s) for s in np.asarray(table["site"].values)]
        expected = [str(s) for s in np.asarray(tw.profiles["profile_id"].values)]
        if ids != expected:
            raise RuntimeError("site table rows are not in the twin sites' order")
        draws = _unit_draws(out_dir, ids, args.model)
    conv = _converged(table, use_stop_reason=notes["mode"].startswith("run-until"))
    ok = np.asarray(table["status"].values).astype(str) == "ok"
    wall = np.asarray(table["wall_time"].values, float)
    stop = (np.asarray(table["stop_reason"].values).astype(str) if "stop_reason" in table
            else np.asarray(table["status"].values).astype(str))
    res["convergence"] = {
        "criterion": {"max_split_rhat": STRICT_RHAT, "min_ess_bulk": STRICT_ESS,
                      "min_ess_tail": STRICT_ESS},
        "fraction_converged": float(conv.mean()),
        "fraction_converged_by_kind": _by_kind(conv, tw.kind),
        "stop_reasons": {str(k): int(np.sum(stop == k)) for k in np.unique(stop)},
        "median_wall_s_per_site": float(np.nanmedian(wall)),
        "p90_wall_s_per_site": float(np.nanquantile(wall, 0.9)),
        "median_core_s_per_site": float(np.nanmedian(table["cpu_time"].values)),
        "p90_core_s_per_site": float(np.nanquantile(table["cpu_time"].values, 0.9)),
        "median_core_s_per_converged_site": (
            float(np.nanmedian(table["cpu_time"].values[conv])) if conv.any() else None),
        "median_max_r_hat": float(np.nanmedian(table["max_r_hat"].values)),
        "median_min_ess_bulk": float(np.nanmedian(table["min_ess_bulk"].values)),
        "median_min_ess_tail": float(np.nanmedian(table["min_ess_tail"].values)),
        "median_n_evals_per_site": float(np.nanmedian(table["n_evals"].values)),
    }
    if "n_segments" in table:
        res["convergence"]["median_n_segments"] = float(np.nanmedian(table["n_segments"]))
    res["all_sites"] = _scores(table, tw, draws, ok, args.model, args.bins, args.max_draws)
    res["converged_sites"] = _scores(table, tw, draws, conv, args.model, args.bins,
                                     args.max_draws)
    res["converged_sites"]["caveat"] = (
        "conditional on convergence, which may depend on the truth: a deviation here can be"
        " selection, not miscalibration; the all-sites statistics are the unconditional test")
    res["machine"]["load_avg_end"] = os.getloadavg()
    text = json.dumps(res, indent=1)
    if args.out is not None:
        path = Path(args.out) if args.out else (
            RESULTS / f"validation_{args.model}_{args.sampler}"
            f"{'_' + args.space if args.space else ''}{'_quick' if args.quick else ''}.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    print(text)
    return res


if __name__ == "__main__":
    main()

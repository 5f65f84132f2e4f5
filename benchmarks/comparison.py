"""Cost of the per-site model comparison; prints one JSON object.

Synthetic pointwise log-likelihoods (no MCMC): for each site, two models, 3 chains x 200
draws (the pipeline's default stored draws), 3-9 layers, drawn as ``N(mu_layer, sd_layer)``
per layer. Measured in the same run:

* ``streamed``: :func:`inference.comparison.pointwise_loo` + :func:`compare_sites` over all
  sites in chunks of 256 (as the pipeline streams chunk files), seconds per site and the peak
  resident memory of a fresh process, for ``n`` and ``n / 10`` sites -- memory must not
  grow with the number of sites beyond the ``site x layer`` outputs;
* ``baseline``: ``arviz_stats.loo`` called site by site (a DataTree per site, as one would with
  :func:`inference.load_site`) plus ``arviz_stats.compare`` (stacking) per site, on a
  subset, seconds per site;
* ``ratio``: baseline / streamed seconds per site.

Usage::

    python benchmarks/comparison.py               # 10,000 sites (a few minutes on 2 cores)
    python benchmarks/comparison.py --n 2000      # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings

import numpy as np
import xarray as xr

CHAINS, DRAWS = 3, 200


def _chunk(rng, n, max_layers=9):
    n_layers = rng.integers(3, max_layers + 1, n)
    mu = rng.normal(-8.0, 1.0, (n, 1, 1, max_layers))
    sd = rng.uniform(0.05, 0.6, (n, 1, 1, max_layers))
    out = []
    for _ in range(2):
        ll = mu + sd * rng.standard_normal((n, CHAINS, DRAWS, max_layers))
        pad = np.arange(max_layers)[None, :] >= n_layers[:, None]
        ll = np.where(pad[:, None, None, :], np.nan, ll)
        out.append(ll)
        mu = mu + rng.normal(0.0, 0.3, mu.shape)
    return out


def streamed(n: int, chunk: int = 256, seed: int = 0) -> dict:
    from inference.comparison import PointwiseLOO, compare_sites, pointwise_loo

    rng = np.random.default_rng(seed)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    t0 = time.perf_counter()
    t_loo = 0.0
    parts = {"a": [], "b": []}
    for a in range(0, n, chunk):
        m = min(chunk, n - a)
        for name, ll in zip(("a", "b"), _chunk(rng, m), strict=True):
            t1 = time.perf_counter()
            parts[name].append(pointwise_loo(ll))
            t_loo += time.perf_counter() - t1
        del ll
    t1 = time.perf_counter()
    pw = {}
    for name, p in parts.items():
        e, k, pl = (np.concatenate([x[i] for x in p]) for i in range(3))
        pw[name] = PointwiseLOO(np.array([f"s{i}" for i in range(n)]), e, k, pl,
                                np.zeros(n), np.zeros(n), np.ones(n, bool), "lognormal")
    ds = compare_sites(pw)
    t_cmp = time.perf_counter() - t1
    total = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"n_sites": n, "seconds": total, "seconds_per_site": total / n,
            "psis_seconds_per_site": t_loo / n, "compare_seconds_per_site": t_cmp / n,
            "peak_rss_mib": peak, "rss_before_mib": rss0,
            "n_layers_total": int(ds["n_layers"].sum())}


def baseline(n: int, seed: int = 1) -> dict:
    from arviz_stats import compare, loo

    rng = np.random.default_rng(seed)
    lls = _chunk(rng, n)
    t0 = time.perf_counter()
    for s in range(n):
        res = {}
        for name, ll in zip(("a", "b"), lls, strict=True):
            k = int(np.isfinite(ll[s, 0, 0]).sum())
            tree = xr.DataTree.from_dict({"log_likelihood": xr.Dataset(
                {"soc": (("chain", "draw", "layer"), ll[s, :, :, :k])})})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res[name] = loo(tree, pointwise=True, var_name="soc", reff=1.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compare(res, method="stacking")
    total = time.perf_counter() - t0
    return {"n_sites": n, "seconds": total, "seconds_per_site": total / n}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--baseline-n", type=int, default=200)
    ap.add_argument("--out", default=None)
    ap.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker is not None:  # one measurement in a fresh process
        print(json.dumps(streamed(args.worker)))
        return {}

    def fresh(n):
        out = subprocess.run([sys.executable, __file__, "--worker", str(n)], check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    res = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                       "load_avg_start": os.getloadavg()},
           "draws_per_site": CHAINS * DRAWS, "models": 2, "layers_per_site": "3-9"}
    res["streamed_small"] = fresh(max(256, args.n // 10))
    res["streamed"] = fresh(args.n)
    res["baseline_site_by_site"] = baseline(args.baseline_n)
    res["ratio_baseline_over_streamed"] = (res["baseline_site_by_site"]["seconds_per_site"]
                                           / res["streamed"]["seconds_per_site"])
    res["memory_growth_factor"] = (res["streamed"]["peak_rss_mib"]
                                   / res["streamed_small"]["peak_rss_mib"])
    res["machine"]["load_avg_end"] = os.getloadavg()
    text = json.dumps(res, indent=1)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    print(text)
    return res


if __name__ == "__main__":
    main()

"""Replicates of the COMPAS sampler-option comparison: Haario's AM vs a warm-up scale.

``benchmarks/results/target_acceptance_validation.json`` compared the two settings on one
set of twin sites per model (one seed). This repeats the comparison on several seeds (each a
new set of twin sites and new chains, :func:`inference.testing.twin_sites` and the run use
the same seed, as ``benchmarks/validation.py`` does), both settings on the same sites, their
order alternating from seed to seed, and pools the sites: converged sites per setting, the
paired sites that only one setting converged, and the median core-seconds and model
evaluations per site as ratios (option / baseline, the baseline measured in the same run).

Usage::

    python benchmarks/target_acceptance_replicates.py --model compas --seeds 2,3 \
        [--n 100] [--kinds deep_permafrost,very_long_profile,cold_long_profile] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validation import STRICT_ESS, STRICT_RHAT, fit  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SETTINGS = {"haario": {}, "target_acceptance_0.234": {"target_acceptance": 0.234}}


def _run(tw, model, space, seed, options, output_dir) -> dict:
    import inference

    t0 = time.perf_counter()
    run, _ = fit(tw, model, "am", output_dir=output_dir, warmup=10_000, samples=2_500,
                 segments=48, chains=4, seed=seed, space=space, fixed_budget=False,
                 workers=1, likelihood=inference.lognormal(), options=options, draws=250,
                 chunk_size=4)
    t = run.table
    return {"seconds": time.perf_counter() - t0, "load_avg_start": None,
            "stop_reason": np.asarray(t["stop_reason"].values).astype(str).tolist(),
            "cpu_time": np.asarray(t["cpu_time"].values, float).tolist(),
            "n_evals": np.asarray(t["n_evals"].values, float).tolist(),
            "n_segments": np.asarray(t["n_segments"].values, float).tolist(),
            "acceptance_rate": np.asarray(t["acceptance_rate"].values, float).tolist(),
            "max_r_hat": np.asarray(t["max_r_hat"].values, float).tolist()}


def _summary(kind, runs: dict) -> dict:
    base, opt = runs["haario"], runs["target_acceptance_0.234"]
    conv = {k: np.asarray(r["stop_reason"]) == "converged" for k, r in runs.items()}
    out = {"n_sites": int(kind.size),
           "converged": {k: int(c.sum()) for k, c in conv.items()},
           "converged_by_kind": {k: {str(x): int(c[kind == x].sum()) for x in np.unique(kind)}
                                 for k, c in conv.items()},
           "sites_per_kind": {str(x): int(np.sum(kind == x)) for x in np.unique(kind)},
           "only_haario_converged": int(np.sum(conv["haario"] & ~conv["target_acceptance_0.234"])),
           "only_option_converged": int(np.sum(~conv["haario"] & conv["target_acceptance_0.234"])),
           "median_acceptance": {k: float(np.median(r["acceptance_rate"]))
                                 for k, r in runs.items()}}
    for key in ("cpu_time", "n_evals"):
        b, o = np.asarray(base[key]), np.asarray(opt[key])
        out[f"median_{key}"] = {"haario": float(np.median(b)),
                                "target_acceptance_0.234": float(np.median(o))}
        out[f"ratio_median_{key}"] = float(np.median(o) / np.median(b))
        out[f"median_paired_ratio_{key}"] = float(np.median(o / b))
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="compas")
    ap.add_argument("--seeds", default="2,3")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--kinds", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    import inference
    from inference.testing import twin_sites

    space = inference.recommended(args.model)["space"]
    res: dict = {"what": __doc__.splitlines()[0], "config": vars(args).copy(),
                 "criterion": {"max_split_rhat": STRICT_RHAT, "min_ess": STRICT_ESS},
                 "settings": SETTINGS, "space": space,
                 "budget": "10,000 warm-up, segments of 2,500 until converged or 48, 4 chains",
                 "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
                 "seeds": {}}
    kinds_all, pooled = [], {k: {} for k in SETTINGS}
    for i, seed in enumerate(int(s) for s in args.seeds.split(",")):
        tw = twin_sites(args.model, args.n, seed=seed, likelihood=inference.lognormal(),
                        kinds=args.kinds.split(",") if args.kinds else None)
        order = list(SETTINGS) if i % 2 == 0 else list(SETTINGS)[::-1]
        runs = {}
        for name in order:
            load = os.getloadavg()
            with tempfile.TemporaryDirectory() as tmp:
                runs[name] = _run(tw, args.model, space, seed, SETTINGS[name], tmp)
            runs[name]["load_avg_start"] = load
            print(f"seed {seed} {name}: {runs[name]['seconds']:.0f} s, converged "
                  f"{sum(s == 'converged' for s in runs[name]['stop_reason'])}/{args.n}",
                  file=sys.stderr, flush=True)
        kind = np.asarray(tw.kind).astype(str)
        res["seeds"][str(seed)] = {"order": order, "runs": runs,
                                   "summary": _summary(kind, runs)}
        kinds_all.append(kind)
        for name in SETTINGS:
            for key, v in runs[name].items():
                if isinstance(v, list):
                    pooled[name].setdefault(key, []).extend(v)
    res["pooled"] = _summary(np.concatenate(kinds_all), pooled)
    text = json.dumps(res, indent=1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(json.dumps(res["pooled"], indent=1))
    return res


if __name__ == "__main__":
    main()

"""Warm-up length and segment size of run-until-converged AM, side by side.

On sites spread evenly over the default virtual world (every model's calibration
settings from ``surrogate.config``: 4 chains, the strict criterion max R-hat <= 1.01 and
min bulk/tail ESS >= 400, the pipeline's sampler space), each budget ``(num_warmup,
num_samples per segment, max_segments, num_draws)`` runs ``inference.run_sites`` with one
worker and chunks of 4 sites, in one process, the first budget being the baseline (the
default before this benchmark) and run again at the end (the machine's drift). All budgets
allow the same 120,000 iterations per chain after warm-up. Recorded per budget: sites
converged and kept, mean and median log-density evaluations per site (the stable measure:
it does not depend on the machine's load), the sum of the sites' wall time (compilation
excluded) and both as ratios to the baseline; the load average before and after.

Finer segments stop a site closer to the point where it meets the criterion and re-adapt
AM's pooled proposal more often (``docs/inference.md`` §3); each segment also costs a
convergence check.

Usage: ``python benchmarks/segments.py [--sites 16] [--seed 0] [--models clm5 compas]
[--budgets '[[20000,10000,12,500], ...]'] [--out F]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import inference
from inference.samplers import sampler_from_budget
from surrogate.config import load_config
from surrogate.pipeline import _world

DEFAULT_BUDGETS = [[20000, 10000, 12, 500], [20000, 5000, 24, 500], [10000, 2500, 48, 250],
                   [15000, 2500, 48, 250], [20000, 10000, 12, 500]]


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def run_budget(world, idx, model, budget, seed, folder) -> dict:
    warm, seg, max_segments, draws = budget
    c = load_config()["calibration"]
    conv = inference.Convergence(rhat_max=c["rhat_max"], ess_bulk_min=c["ess_min"],
                                 ess_tail_min=c["ess_min"], max_segments=max_segments)
    load0, t0 = _load(), time.perf_counter()
    t = inference.run_sites(world.profiles.isel(profile=idx), world.forcing[idx], model=model,
                            sampler=sampler_from_budget(c["sampler"], warm, seg),
                            output_dir=folder, likelihood=c["likelihood"],
                            num_chains=c["num_chains"], seed=seed, num_draws=draws,
                            chunk_size=4, workers=1, invalid="skip", rhat_max=c["rhat_max"],
                            nse_min=c["nse_min"], ess_min=c["ess_min"], convergence=conv,
                            overwrite=True, space=c.get("space", {}).get(model),
                            progress=False).table
    return {"budget": {"num_warmup": warm, "num_samples": seg, "max_segments": max_segments,
                       "num_draws": draws},
            "converged": int((t.stop_reason == "converged").sum()), "kept": int(t.kept.sum()),
            "n_evals_mean": float(np.mean(t.n_evals)),
            "n_evals_median": float(np.median(t.n_evals)),
            "wall_time_sum": float(t.wall_time.sum()),
            "compile_time": float(t.compile_time.sum()),
            "process_seconds": time.perf_counter() - t0, "load": [load0, _load()]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", nargs="+", default=["clm5", "compas"])
    ap.add_argument("--budgets", type=json.loads, default=DEFAULT_BUDGETS)
    ap.add_argument("--out")
    args = ap.parse_args()
    inference.enable_compilation_cache()
    cfg = load_config()
    out = {"sites": args.sites, "seed": args.seed, "load_before": _load(), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        world = _world(cfg, Path(tmp) / "world")
        n = world.profiles.sizes["profile"]
        idx = np.linspace(0, n - 1, args.sites).round().astype(int)
        for model in args.models:
            rows = []
            for k, budget in enumerate(args.budgets):
                r = run_budget(world, idx, model, budget, args.seed, Path(tmp) / f"{model}{k}")
                base = rows[0] if rows else r
                r["n_evals_mean_ratio"] = r["n_evals_mean"] / base["n_evals_mean"]
                r["wall_time_ratio"] = r["wall_time_sum"] / base["wall_time_sum"]
                rows.append(r)
                print(model, json.dumps(r), file=sys.stderr, flush=True)
            out["models"][model] = rows
    out["load_after"] = _load()
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()

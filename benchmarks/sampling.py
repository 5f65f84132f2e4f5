"""Sampling benchmarks; prints one JSON object.

* ``am_throughput``: adaptive-Metropolis iterations per second (all chains together) for
  batches of sites x chains, measured on the runner's compiled segment program (compiled
  and warmed first, then timed; min of repeats), with the CPU-core-seconds per profile this
  implies for the paper's budget (3 chains x 70,000 iterations) and the target
  (<= 0.25 core-s per CLM5 profile).
* ``am_vs_nuts``: the same sites calibrated by AM (paper budget), NUTS (1,000 + 1,000) and
  PRODA's original sampler through :func:`inference.compare_methods`: model evaluations
  and seconds per effective sample, R-hat, agreement of posterior means with NUTS.
* ``memory``: peak resident memory and wall time of a full :func:`inference.run_sites` on
  1,000 and 10,000 CLM5 sites (chunks of 256; a short sampling budget, since memory does
  not depend on the iteration count), each in a fresh process, with 1 and 2 worker
  threads.
* ``portfolio`` (``--portfolio MODEL ...``): AM, NUTS (dense mass), ChEES-HMC -- and, for a
  model with the ``feasible_parameters`` capability (COMPAS), AM, ChEES and NUTS in its
  feasible-box space -- on the same 24 twin sites (``inference.testing.twin_sites``: 4 each
  of temperate, tropical, arid, cold, shallow-bedrock and 18-layer profiles), each through
  ``run_sites`` with run-until-converged (max split R-hat <= 1.01, min bulk and tail ESS >=
  400, at most 6 segments): fraction converged (by kind), core-seconds per converged profile
  (median, p90), evaluations per effective sample, divergences, agreement of posterior means
  with NUTS. ``benchmarks/results/sampling_portfolio.json`` holds the measured run.

Usage::

    python benchmarks/sampling.py            # full (about 15 minutes on 2 cores)
    python benchmarks/sampling.py --quick    # smaller sizes (about 4 minutes)
    python benchmarks/sampling.py --portfolio clm5 compas [--methods am ...]   # portfolio
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

import inference
from inference.config import RunConfig
from inference.models import resolve_model
from inference.programs import Chunk, prepare_sites, programs
from inference.sites import site_keys
from inference.testing import example_forcing, profiles_dataset, synthetic_sites

PAPER_ITERATIONS = 3 * 70_000
TARGET_CORE_S = 0.25


def _tile_sites(model: str, n: int, seed: int = 0):
    """n sites: a few synthetic profiles with known truth, repeated under new ids."""
    base_p, _, _ = synthetic_sites(model, min(n, 8), seed=seed)
    reps = int(np.ceil(n / base_p.sizes["profile"]))
    obs = np.tile(base_p["soc_density"].values, (reps, 1))[:n]
    depth = np.tile(base_p["node_depth"].values, (reps, 1))[:n]
    return profiles_dataset(obs, depth), example_forcing(n, seed)


def am_throughput(model: str, sizes: list[int], iterations: int, repeats: int = 2) -> list[dict]:
    """Iterations/s of the compiled AM segment for batches of ``sites x 3 chains``."""
    out = []
    config = RunConfig(model=model, sampler=inference.adaptive_metropolis(
        num_warmup=iterations, num_samples=iterations), likelihood=inference.lognormal(),
        num_chains=3, num_draws=10, n_layers=5)
    progs = programs(config)
    module = resolve_model(model)
    for n in sizes:
        profiles, forcing = _tile_sites(model, n)
        prof, _ = inference.read_profiles(profiles, config.likelihood)
        sites, ids = prepare_sites(Chunk(prof, forcing), module)
        site_key = jnp.asarray(site_keys(config.seed, ids))
        (states, ok, _), _ = progs.call("init", sites, site_key)
        (states, tuning), _ = progs.call("warmup", sites, states, site_key)
        thin = iterations // 10

        def seg(states, sites=sites, tuning=tuning, site_key=site_key, thin=thin):
            out, _ = progs.call("segment", sites, states, tuning, site_key,
                                num_steps=iterations, thin=thin)
            return jax.block_until_ready(out)[0]

        seg(states)  # compile + warm (the same input each time: one program)
        best_wall, best_cpu = np.inf, np.inf
        for _ in range(repeats):
            w0, c0 = time.perf_counter(), time.process_time()
            seg(states)
            best_wall = min(best_wall, time.perf_counter() - w0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        chains = n * 3
        per_chain_iter_cpu = best_cpu / (chains * iterations)
        out.append({
            "model": model, "sites": n, "chains": chains, "iterations": iterations,
            "iterations_per_second": chains * iterations / best_wall,
            "wall_us_per_chain_iteration": 1e6 * best_wall / (chains * iterations),
            "cpu_us_per_chain_iteration": 1e6 * per_chain_iter_cpu,
            "core_seconds_per_profile_paper_budget": per_chain_iter_cpu * PAPER_ITERATIONS,
            "wall_seconds_per_profile_paper_budget": best_wall / (chains * iterations)
            * PAPER_ITERATIONS,
        })
    return out


def model_evaluation_cost(model: str, n: int = 768) -> dict:
    """Cost of the log density alone (vmapped), for the kernel-overhead estimate."""
    from inference.models import log_density

    profiles, forcing = _tile_sites(model, n // 3)
    prof, _ = inference.read_profiles(profiles, inference.lognormal())
    module = resolve_model(model)
    sites, _ = prepare_sites(Chunk(prof, forcing), module)
    d = len(module.PARAMETERS)
    x = jax.random.normal(jax.random.PRNGKey(0), (n // 3, 3, d)) * 0.5
    f = jax.jit(jax.vmap(lambda s, xs: jax.vmap(
        lambda y: log_density(y, s, model=module, space="logit")[0])(xs)))
    jax.block_until_ready(f(sites, x))
    best_wall, best_cpu = np.inf, np.inf
    for _ in range(5):
        w0, c0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(f(sites, x))
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return {"model": model, "batch": n, "wall_us_per_evaluation": 1e6 * best_wall / n,
            "cpu_us_per_evaluation": 1e6 * best_cpu / n}


def am_vs_nuts(model: str, n_sites: int, workdir: str) -> dict:
    profiles, forcing, _ = synthetic_sites(model, n_sites, seed=5)
    samplers = [inference.nuts(), inference.adaptive_metropolis(), inference.proda_compat()]
    cmp = inference.compare_methods(profiles, forcing, model, samplers,
                                    output_dir=os.path.join(workdir, f"cmp_{model}"),
                                    num_chains=3, seed=0, num_draws=1_000, progress=False,
                                    chunk_size=n_sites)
    rows = {}
    for s in cmp["sampler"].values:
        c = cmp.sel(sampler=s)
        rows[str(s)] = {
            "median_model_evaluations_per_ess": float(c["median_evals_per_ess"]),
            "median_seconds_per_ess": float(c["median_seconds_per_ess"]),
            "median_min_ess_bulk": float(c["median_min_ess_bulk"]),
            "median_max_r_hat": float(c["median_max_r_hat"]),
            "median_acceptance_rate": float(c["median_acceptance_rate"]),
            "median_wall_seconds_per_site": float(c["median_wall_time"]),
            "median_model_evaluations_per_site": float(c["median_n_evals"]),
            "max_abs_mean_difference_vs_nuts_in_sd": float(c["max_abs_z"].max()),
            "fraction_kept": float(c["fraction_kept"]),
            "total_divergences": int(c["n_divergent"].sum()),
        }
    return {"model": model, "sites": n_sites,
            "note": "NUTS evaluations are gradient evaluations (steady state + VJP); seconds"
                    " exclude compilation", "samplers": rows}


def _memory_child(model: str, n: int, workers: int, workdir: str) -> None:
    profiles, forcing = _tile_sites(model, n)
    t0 = time.perf_counter()
    run = inference.run_sites(profiles, forcing, model,
                              inference.adaptive_metropolis(num_warmup=100, num_samples=100),
                              output_dir=workdir, num_draws=100, chunk_size=256,
                              workers=workers, progress=False)
    print(json.dumps({"sites": n, "workers": workers, "chunk_size": 256,
                      "iterations_per_chain": 200, "complete": run.complete,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "wall_s": time.perf_counter() - t0,
                      "forcing_input_mb": sum(np.asarray(a).nbytes for a in
                                              jax.tree_util.tree_leaves(forcing)) / 2**20}))


def memory(model: str, cases: list[tuple[int, int]], workdir: str) -> list[dict]:
    """Peak RSS of full runs, ``cases`` = [(sites, workers), ...], each in a new process."""
    out = []
    for n, workers in cases:
        d = os.path.join(workdir, f"mem_{n}_{workers}")
        res = subprocess.run([sys.executable, __file__, "--memory-child", model, str(n),
                              str(workers), d],
                             capture_output=True, text=True, check=True)
        out.append(json.loads(res.stdout.strip().splitlines()[-1]))
        shutil.rmtree(d, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--portfolio", nargs="+", metavar="MODEL",
                    help="only the sampler portfolio (run-until-converged) for these models")
    ap.add_argument("--methods", nargs="+", help="portfolio runs to include: am_default"
                    " am_default_feasible am am_readapt"
                    " am_feasible_readapt nuts_dense"
                    " chees chees_feasible nuts_dense_feasible")
    ap.add_argument("--memory-child", nargs=4, metavar=("MODEL", "N", "WORKERS", "DIR"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        m, n, w, d = args.memory_child
        _memory_child(m, int(n), int(w), d)
        return
    quick = args.quick
    if args.portfolio:
        def progress(model, name, row):
            part = {k: v for k, v in row.items() if k != "per_site"}
            print(json.dumps({"model": model, "run": name, **part}), file=sys.stderr,
                  flush=True)
        print(json.dumps(portfolio(args.portfolio, quick, only=args.methods,
                                   progress=progress), indent=1))
        return
    sizes = [1, 16, 128] if quick else [1, 16, 128, 512]
    iters = 1_000 if quick else 2_000
    workdir = tempfile.mkdtemp(prefix="socmc_bench_")
    result = {"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                          "jax": jax.__version__, "backend": jax.default_backend()},
              "paper_budget_iterations_per_profile": PAPER_ITERATIONS,
              "target_core_seconds_per_profile_clm5": TARGET_CORE_S}
    try:
        thr = []
        for model in ("clm5", "compas"):
            thr += am_throughput(model, sizes, iters)
        result["am_throughput"] = thr
        result["model_evaluation"] = [model_evaluation_cost(m) for m in ("clm5", "compas")]
        best = min(r["core_seconds_per_profile_paper_budget"] for r in thr
                   if r["model"] == "clm5")
        ev = result["model_evaluation"][0]["cpu_us_per_evaluation"]
        result["clm5_best_core_seconds_per_profile"] = best
        result["clm5_target_met"] = best <= TARGET_CORE_S
        result["clm5_core_seconds_per_profile_model_evaluations_alone"] = (
            ev * 1e-6 * PAPER_ITERATIONS)
        result["am_vs_nuts"] = [am_vs_nuts("clm5", 2 if quick else 4, workdir)]
        cases = ([(100, 1), (100, 2), (1_000, 2)] if quick
                 else [(1_000, 1), (1_000, 2), (10_000, 2)])
        result["memory"] = memory("clm5", cases, workdir)
        m = result["memory"]
        result["memory_ratio_large_vs_small_same_workers"] = (m[2]["peak_rss_mb"]
                                                              / m[1]["peak_rss_mb"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result, indent=2))



# -- sampler portfolio: run-until-converged on the same sites (issue 9) -------------------

STRICT = dict(rhat_max=1.01, ess_bulk_min=400, ess_tail_min=400)
PORTFOLIO_SIZE = 24  # twin sites per model: 4 of each kind of inference.testing.TWIN_KINDS


def _portfolio_methods(quick: bool) -> dict:
    """name -> (sampler spec, chains, stored draws per chain, space, max segments[, sites
    per chunk]); without a chunk size all sites run in one chunk."""
    s = 2 if quick else 1

    def am(readapt: bool, space, segments: int, warmup: int = 20_000, samples: int = 10_000):
        return ({"kind": "am", "num_warmup": warmup // s, "num_samples": samples // s,
                 "adapt_between_segments": readapt}, 4, 500, space, segments)

    from surrogate.config import CalibrationConfig

    c = CalibrationConfig()

    def am_default(model_space):  # the pipeline's calibration: budget, draws and chunk
        return ({"kind": "am", "num_warmup": c.num_warmup // s,
                 "num_samples": c.num_samples // s, "adapt_between_segments": True},
                c.num_chains, c.num_draws // s, model_space, c.max_segments, c.chunk_size)

    return {
        # the pipeline's default for each model (COMPAS in its feasible space)
        "am_default": am_default(None),
        "am_default_feasible": am_default("feasible"),
        # the "am" preset adapts between segments; readapt=False is Haario's frozen AM
        "am": am(False, None, 6),
        "am_feasible": am(False, "feasible", 6),
        "am_feasible_12": am(False, "feasible", 12),
        "am_readapt": am(True, None, 6),
        "am_readapt_12": am(True, None, 12),
        "am_feasible_readapt": am(True, "feasible", 6),
        "am_feasible_readapt_12": am(True, "feasible", 12),
        "am_feasible_readapt_w10": am(True, "feasible", 12, warmup=10_000),
        "am_feasible_readapt_w10_s5": am(True, "feasible", 24, warmup=10_000, samples=5_000),
        "nuts_dense": ({"kind": "nuts_bj", "num_warmup": 500 // s, "num_samples": 250 // s},
                       4, 250 // s, None, 6),
        "chees": ({"kind": "chees", "num_warmup": 500 // s, "num_samples": 250 // s}, 8,
                  250 // s, None, 6),
        "chees_feasible": ({"kind": "chees", "num_warmup": 500 // s,
                            "num_samples": 250 // s}, 8, 250 // s, "feasible", 6),
        "nuts_dense_feasible": ({"kind": "nuts_bj", "num_warmup": 500 // s,
                                 "num_samples": 250 // s}, 4, 250 // s, "feasible", 6),
    }


def _unit_draws(run, site, params) -> np.ndarray:
    post = run.posterior(site)["posterior"].to_dataset()
    x = np.stack([post[p].values.reshape(-1) for p in params.names], axis=-1)
    return np.asarray(params.to_unit(x))


def run_portfolio_method(model: str, tw, method, workdir: str, seed: int = 0) -> dict:
    """One method on the twin sites through :func:`inference.run_sites` (run until
    converged, one worker): per-site table rows and the run's CPU time."""
    spec, chains, draws, space, segments, *chunk = method
    t0, c0 = time.perf_counter(), time.process_time()
    run = inference.run_sites(
        tw.profiles, tw.forcing, model, spec, output_dir=workdir, num_chains=chains,
        seed=seed, num_draws=draws, chunk_size=chunk[0] if chunk else len(tw.kind),
        workers=1, progress=False,
        overwrite=True, space=space,
        convergence=inference.Convergence(**STRICT, max_segments=segments))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"run": run, "wall_s": wall, "cpu_s": cpu}


def portfolio(models, quick: bool, seed: int = 0, only=None, progress=None) -> dict:
    """Every method on the same 24 twin sites per model (truth from the prior restricted to
    the feasible set; observations from the fitted likelihood); ``only`` limits the
    methods; ``progress(model, name, row)`` is called after each (partial results)."""
    from inference.testing import twin_sites
    from socmodels.contract import has_capability

    out = {"criterion": STRICT,
           "note": ("run_sites with inference.Convergence (warm-up once, segments until max"
                    " split R-hat <= 1.01 and min bulk/tail ESS >= 400, or 6 segments), one"
                    " worker; core_s = the site table's cpu_time (its share of the warm-up"
                    " and of each segment it ran, compilation excluded) -- XLA runs one CPU"
                    " program on about one core (cpu/wall of each run is reported); evals ="
                    " log-density evaluations (AM) or gradient evaluations (HMC), all chains,"
                    " warm-up included"),
           "load_1min_start": os.getloadavg()[0], "models": {}}
    workdir = tempfile.mkdtemp(prefix="socmc_portfolio_")
    try:
        for model in models:
            module = resolve_model(model)
            params = module.PARAMETERS
            tw = twin_sites(model, PORTFOLIO_SIZE, seed=seed)
            kinds = np.asarray(tw.kind).astype(str)
            methods = _portfolio_methods(quick)
            names = [n for n in methods
                     if methods[n][3] != "feasible" or has_capability(module,
                                                                      "feasible_parameters")]
            if only:
                names = [n for n in names if n in only]
            rows, unit_draws = {}, {}
            for name in names:
                r = run_portfolio_method(model, tw, methods[name],
                                         os.path.join(workdir, f"{model}_{name}"), seed)
                t = r["run"].table
                conv = np.asarray(t["stop_reason"].values).astype(str) == "converged"
                core_s = np.asarray(t["cpu_time"].values, float)
                ess = np.asarray(t["min_ess_bulk"].values, float)
                evals = np.asarray(t["n_evals"].values, float)
                ids = [str(x) for x in t["site"].values]
                unit_draws[name] = {i: _unit_draws(r["run"], i, params)
                                    for i, c in zip(ids, conv, strict=True) if c}
                by_kind = {k: float(conv[kinds == k].mean()) for k in dict.fromkeys(kinds)}
                rows[name] = {
                    "sampler": methods[name][0], "chains": methods[name][1],
                    "space": r["run"].config.space,
                    "fraction_converged": float(conv.mean()),
                    "fraction_converged_by_kind": by_kind,
                    "median_core_s_per_converged_profile": (
                        float(np.median(core_s[conv])) if conv.any() else None),
                    "p90_core_s_per_converged_profile": (
                        float(np.quantile(core_s[conv], 0.9)) if conv.any() else None),
                    "median_core_s_all_profiles": float(np.median(core_s)),
                    "median_evals_per_ess": (float(np.median(evals[conv] / ess[conv]))
                                             if conv.any() else None),
                    "median_segments": float(np.median(t["n_segments"].values)),
                    "median_max_rhat": float(np.median(t["max_r_hat"].values)),
                    "median_min_ess_bulk": float(np.median(ess)),
                    "divergent_per_site_median": float(np.median(t["n_divergent"].values)),
                    "compile_s": float(np.asarray(t["compile_time"].values)[0]),
                    "run_wall_s": r["wall_s"], "run_cpu_s": r["cpu_s"],
                    "per_site": {i: {"kind": k, "stop_reason": str(sr), "segments": int(g),
                                     "core_s": float(cs), "max_rhat": float(mr),
                                     "min_ess_bulk": float(e)}
                                 for i, k, sr, g, cs, mr, e in zip(
                                     ids, kinds, t["stop_reason"].values,
                                     t["n_segments"].values, core_s, t["max_r_hat"].values,
                                     ess, strict=True)},
                }
                if progress is not None:
                    progress(model, name, rows[name])
            # agreement with NUTS (logit space, else feasible space) where both converged:
            # |mean difference| in units of the NUTS posterior sd (unit cube), largest over
            # parameters
            ref_name = next((n for n in ("nuts_dense", "nuts_dense_feasible")
                             if n in unit_draws), None)
            ref = unit_draws.get(ref_name, {})
            for name, row in rows.items():
                row["nuts_reference"] = ref_name
                per_site = {
                    i: float(np.max(np.abs(d.mean(0) - ref[i].mean(0)) / ref[i].std(0)))
                    for i, d in unit_draws[name].items() if i in ref}
                row["max_z_vs_nuts_per_site"] = per_site
                z = list(per_site.values())
                row["sites_compared_with_nuts"] = len(z)
                row["median_max_z_vs_nuts"] = float(np.median(z)) if z else None
                row["max_max_z_vs_nuts"] = float(np.max(z)) if z else None
            out["models"][model] = {"sites": PORTFOLIO_SIZE,
                                    "kinds": sorted(set(kinds)), "methods": rows}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out["load_1min_end"] = os.getloadavg()[0]
    return out


if __name__ == "__main__":
    main()

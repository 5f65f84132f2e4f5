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
* ``portfolio`` (``--portfolio MODEL ...``): AM (logit space), NUTS (dense mass), ChEES-HMC
  and MAMS (``inference.samplers_blackjax``) -- for COMPAS also AM and ChEES in the
  feasible-box space (``inference.reparam``) -- on the same twin sites (temperate, tropical,
  permafrost, an 18-layer profile), each warmed up once and then extended segment by segment
  until the strict criterion (max split R-hat <= 1.01, min bulk and tail ESS >= 400) holds:
  fraction converged, core-seconds per converged profile (median, p90), evaluations per
  effective sample, divergences, agreement of posterior means with NUTS.

Usage::

    python benchmarks/sampling.py            # full (about 15 minutes on 2 cores)
    python benchmarks/sampling.py --quick    # smaller sizes (about 4 minutes)
    python benchmarks/sampling.py --portfolio clm5 compas [--quick]   # sampler portfolio
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
from typing import NamedTuple

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
    ap.add_argument("--methods", nargs="+", help="portfolio runs to include, e.g. am_logit"
                    " nuts_dense_logit chees_logit mams_logit am_feasible chees_feasible")
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
            part = {k: v for k, v in row.items() if not k.startswith("_")}
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

STRICT_RHAT, STRICT_ESS = 1.01, 400

PORTFOLIO_SITES = {
    # name: (climate_forcing keywords, observation depths [m])
    "temperate": (dict(mat=12.0, mat_amplitude=9.0, moisture=0.6, npp=500.0),
                  (0.05, 0.15, 0.3, 0.6, 1.0)),
    "tropical": (dict(mat=26.0, mat_amplitude=1.5, moisture=0.9, npp=1200.0, latitude=-3.0),
                 (0.05, 0.15, 0.3, 0.6, 1.0)),
    "permafrost": (dict(mat=-8.0, mat_amplitude=18.0, moisture=0.6, npp=150.0,
                        active_layer_depth=0.6, latitude=68.0), (0.05, 0.15, 0.3, 0.6, 1.0)),
    "long_profile": (dict(mat=8.0, mat_amplitude=10.0, moisture=0.7, npp=450.0),
                     tuple(np.round(np.linspace(0.05, 2.0, 18), 3))),
}


def portfolio_sites(model: str, seed: int = 0, noise_sd: float = 0.25):
    """Twin sites (truth drawn in u in (0.2, 0.8) until feasible) as batched SiteData."""
    from inference.sites import SiteData
    from socmodels.data.climate import climate_forcing
    from socmodels.observation import observe

    module = resolve_model(model)
    rng = np.random.default_rng(seed)
    n_max = max(len(z) for _, z in PORTFOLIO_SITES.values())
    rows, truths = [], []
    for name, (kw, depths) in PORTFOLIO_SITES.items():
        prep = module.prepare(climate_forcing(**kw))
        z = jnp.asarray(depths, float)
        f = jax.jit(lambda th, p=prep, z=z: (observe(module.steady_state(
            th, p, check_bounds=False).soc, z), module.steady_state(
            th, p, check_bounds=False).feasible))
        for _ in range(500):
            u = rng.uniform(0.2, 0.8, len(module.PARAMETERS))
            th = module.PARAMETERS.to_physical(jnp.asarray(u))
            pred, ok = f(th)
            if bool(ok) and bool(jnp.all(pred > 0)):
                break
        else:
            raise RuntimeError(f"no feasible truth for {model} site {name}")
        obs = np.asarray(pred) * np.exp(rng.normal(0.0, noise_sd, len(depths)))
        L = len(depths)
        pad = n_max - L
        rows.append(SiteData(jnp.asarray(np.r_[obs, np.ones(pad)]),
                             jnp.asarray(np.r_[depths, np.full(pad, depths[0])]),
                             jnp.asarray(np.r_[np.ones(L, bool), np.zeros(pad, bool)]),
                             jnp.ones(n_max), prep))
        truths.append(u)
    sites = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *rows)
    return list(PORTFOLIO_SITES), sites, np.array(truths)


class _AMConfig(NamedTuple):
    num_warmup: int
    num_samples: int


def _am_core():
    """inference.am (Haario AM, logit space) in the init/warmup/run_segment form."""
    from inference import am

    def kernel(cfg):
        return am.build_kernel(adapt_start=1_000, adapt_every=100, adapt_until=cfg.num_warmup)

    def init(cfg, logdensity_fn, positions, key):
        return jax.vmap(lambda p: am.init(p, logdensity_fn))(positions)

    def _scan(cfg, f, state, key, n, thin, start):
        k = kernel(cfg)

        def inner(carry, xs):
            s, acc = carry
            kk, it = xs
            s, info = jax.vmap(lambda kc, sc: k(kc, sc, f, it))(
                jax.random.split(kk, s.position.shape[0]), s)
            return (s, acc + info.is_accepted), None

        def outer(carry, xs):
            kk, it0 = xs
            its = it0 + jnp.arange(thin)
            carry, _ = jax.lax.scan(inner, carry, (jax.random.split(kk, thin), its))
            return carry, carry[0].position

        c = state.position.shape[0]
        starts = start + thin * jnp.arange(n // thin)
        (state, acc), draws = jax.lax.scan(outer, (state, jnp.zeros(c)),
                                           (jax.random.split(key, n // thin), starts))
        return state, jnp.swapaxes(draws, 0, 1), acc

    def warmup(cfg, f, state, key):
        state, _, _ = _scan(cfg, f, state, key, cfg.num_warmup, 100, 0)
        c = state.position.shape[0]
        return state, {"warmup_evals": jnp.full(c, cfg.num_warmup, jnp.int32)}

    def run_segment(cfg, f, state, tuning, key, num_steps, thin):
        state, draws, acc = _scan(cfg, f, state, key, num_steps, thin, cfg.num_warmup)
        c = state.position.shape[0]
        return state, draws, {"accepted": acc, "divergent": jnp.zeros(c, jnp.int32),
                              "n_evals": jnp.full(c, num_steps, jnp.int32)}

    return init, warmup, run_segment


def _portfolio_methods(quick: bool):
    from inference.samplers_blackjax import ChEESConfig, MAMSConfig, NUTSBlackJAXConfig, get_core

    s = 2 if quick else 1
    am = _am_core()
    return {
        # name: (config, (init, warmup, run_segment), chains, segment length, thin, segments)
        "am": (_AMConfig(20_000 // s, 10_000 // s), am, 4, 10_000 // s, 25 // s, 6),
        "nuts_dense": (NUTSBlackJAXConfig(num_warmup=500 // s, num_samples=250 // s),
                       get_core("nuts_bj")[1], 4, 250 // s, 1, 6),
        "chees": (ChEESConfig(num_warmup=500 // s, num_samples=250 // s),
                  get_core("chees")[1], 8, 250 // s, 1, 6),
        "mams": (MAMSConfig(num_warmup=1_000 // s, num_samples=500 // s),
                 get_core("mams")[1], 8, 500 // s, 2, 6),
    }


def _diagnose(theta_draws):
    """max split R-hat, min bulk and tail ESS per site of (site, chain, draw, param)."""
    import warnings

    import arviz_stats as azs
    import xarray as xr

    da = xr.DataArray(np.asarray(theta_draws), dims=("site", "chain", "draw", "parameter"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rhat = np.asarray(azs.rhat(da, sample_dims=["chain", "draw"]).values)
        bulk = np.asarray(azs.ess(da, sample_dims=["chain", "draw"], method="bulk").values)
        tail = np.asarray(azs.ess(da, sample_dims=["chain", "draw"], method="tail").values)
    return (np.nanmax(np.where(np.isfinite(rhat), rhat, np.inf), axis=1),
            np.nanmin(bulk, axis=1), np.nanmin(tail, axis=1))


def run_portfolio_method(model: str, sites, method, space: str, seed: int = 0):
    """Warm up once, then segments until the strict criterion holds at each site or the
    budget is spent. Returns per-site results (CPU time is the batch's process time shared
    equally by its sites, excluding compilation)."""
    from inference.models import log_density

    cfg, (init, warmup, run_segment), n_chains, seg_len, thin, n_seg = method
    module = resolve_model(model)
    d = len(module.PARAMETERS)
    if space == "feasible":
        from inference.reparam import log_density_feasible, physical

        def logdens(site):
            return lambda x: log_density_feasible(x, site)[0]
        to_theta = physical
    else:
        def logdens(site):
            return lambda x: log_density(x, site, model=module, space="logit")[0]

        def to_theta(x, site):
            return module.PARAMETERS.to_physical(jax.nn.sigmoid(x))

    n_sites = jax.tree_util.tree_leaves(sites)[0].shape[0]
    key = jax.random.PRNGKey(seed)

    def start(site, k):
        cand = jax.random.uniform(k, (256, d), minval=1e-6, maxval=1 - 1e-6)
        x = jnp.log(cand) - jnp.log1p(-cand)
        lp = jax.vmap(logdens(site))(x)
        order = jnp.argsort(-jnp.isfinite(lp).astype(int), stable=True)
        return x[order[:n_chains]], jnp.sum(jnp.isfinite(lp))

    def do_warmup(site, k):
        k1, k2, k3 = jax.random.split(k, 3)
        pos, n_ok = start(site, k1)
        st = init(cfg, logdens(site), pos, k2)
        st, tun = warmup(cfg, logdens(site), st, k3)
        return st, tun, n_ok

    def do_segment(site, st, tun, k):
        st, draws, info = run_segment(cfg, logdens(site), st, tun, k, seg_len, thin)
        theta = jax.vmap(jax.vmap(lambda x: to_theta(x, site)))(draws)
        return st, theta, info

    wfun = jax.jit(jax.vmap(do_warmup))
    sfun = jax.jit(jax.vmap(do_segment))
    keys = jax.random.split(key, n_sites)
    t0 = time.perf_counter()
    jax.block_until_ready(wfun(sites, keys))
    st_c = sfun  # compile the segment program on the warm-up output
    c0 = time.process_time()
    st, tun, n_ok = jax.block_until_ready(wfun(sites, keys))
    warm_cpu = time.process_time() - c0
    jax.block_until_ready(st_c(sites, st, tun, keys))
    compile_s = time.perf_counter() - t0 - warm_cpu  # approx.: wall minus one warm run
    evals = np.asarray(tun["warmup_evals"]).reshape(n_sites, -1).sum(1).astype(float)
    cpu = warm_cpu / n_sites
    all_theta, conv_at = [], np.full(n_sites, -1)
    res = {k: np.full(n_sites, np.nan) for k in ("core_s", "evals", "max_rhat", "min_ess_bulk",
                                                  "min_ess_tail")}
    div = np.zeros(n_sites)
    acc = np.zeros(n_sites)
    for s in range(n_seg):
        kk = jax.vmap(jax.random.fold_in, (0, None))(keys, s + 1)
        c0 = time.process_time()
        st, theta, info = jax.block_until_ready(sfun(sites, st, tun, kk))
        cpu += (time.process_time() - c0) / n_sites
        evals += np.asarray(info["n_evals"]).sum(1)
        div += np.asarray(info["divergent"]).sum(1)
        acc += np.asarray(info["accepted"]).mean(1) / seg_len
        all_theta.append(np.asarray(theta))
        rh, eb, et = _diagnose(np.concatenate(all_theta, axis=2))
        for i in range(n_sites):
            if conv_at[i] >= 0:
                continue
            ok = rh[i] <= STRICT_RHAT and eb[i] >= STRICT_ESS and et[i] >= STRICT_ESS
            if ok or s == n_seg - 1:
                res["core_s"][i], res["evals"][i] = cpu, evals[i]
                res["max_rhat"][i], res["min_ess_bulk"][i], res["min_ess_tail"][i] = (
                    rh[i], eb[i], et[i])
                if ok:
                    conv_at[i] = s
    draws = np.concatenate(all_theta, axis=2)
    return {"converged": conv_at >= 0, "segments": conv_at + 1, "divergent": div,
            "acceptance": acc / n_seg, "compile_s": compile_s, "n_chains": n_chains,
            "start_feasible_of_256": np.asarray(n_ok), **res,
            "posterior_mean_unit": np.asarray(module.PARAMETERS.to_unit(
                draws.reshape(n_sites, -1, d).mean(1)))}


def portfolio(models, quick: bool, seed: int = 0, only=None, progress=None) -> dict:
    """Run the portfolio; ``only`` limits the runs (names like ``"chees_feasible"``);
    ``progress(model, name, row)`` is called after each run (partial results)."""
    out = {"criterion": {"max_split_rhat": STRICT_RHAT, "min_ess_bulk": STRICT_ESS,
                         "min_ess_tail": STRICT_ESS},
           "note": "first measurement on 4 twin sites per model (issue 9 asks >= 20); cost ="
                   " process CPU time of the batched (vmapped) program shared equally by the"
                   " sites, warm-up included, compilation excluded; evals = log-density"
                   " evaluations (AM) or gradient evaluations (HMC family), all chains",
           "load_1min_start": os.getloadavg()[0], "models": {}}
    for model in models:
        names, sites, truth = portfolio_sites(model, seed)
        methods = _portfolio_methods(quick)
        runs = [(m, "logit") for m in methods]
        from inference import reparam

        if resolve_model(model) is reparam.MODEL:
            runs += [("am", "feasible"), ("chees", "feasible")]
        if only:
            runs = [tuple(m.rsplit("_", 1)) for m in only if tuple(m.rsplit("_", 1)) in runs]
        rows = {}
        for name, space in runs:
            r = run_portfolio_method(model, sites, methods[name], space, seed)
            conv = r["converged"]
            ess = np.where(conv, r["min_ess_bulk"], np.nan)
            rows[f"{name}_{space}"] = {
                "fraction_converged": float(conv.mean()),
                "converged_sites": [n for n, c in zip(names, conv, strict=True) if c],
                "median_core_s_per_converged_profile": (
                    float(np.median(r["core_s"][conv])) if conv.any() else None),
                "p90_core_s_per_converged_profile": (
                    float(np.quantile(r["core_s"][conv], 0.9)) if conv.any() else None),
                "median_evals_per_ess": (float(np.nanmedian(r["evals"] / ess))
                                         if conv.any() else None),
                "chains": r["n_chains"],
                "per_site": {n: {"converged": bool(r["converged"][i]),
                                 "segments": int(r["segments"][i]),
                                 "core_s": float(r["core_s"][i]),
                                 "max_rhat": float(r["max_rhat"][i]),
                                 "min_ess_bulk": float(r["min_ess_bulk"][i]),
                                 "min_ess_tail": float(r["min_ess_tail"][i]),
                                 "divergent": int(r["divergent"][i]),
                                 "acceptance": float(r["acceptance"][i]),
                                 "feasible_starts_of_256": int(r["start_feasible_of_256"][i])}
                             for i, n in enumerate(names)},
                "compile_s_approx": float(r["compile_s"]),
                "_mean_unit": r["posterior_mean_unit"],
            }
            if progress is not None:
                progress(model, f"{name}_{space}", rows[f"{name}_{space}"])
        # agreement of posterior means (unit cube) with NUTS, per site, where both converged
        ref = rows.get("nuts_dense_logit")
        for row in rows.values():
            diffs = [float(np.max(np.abs(row["_mean_unit"][i] - ref["_mean_unit"][i])))
                     for i, n in enumerate(names) if ref is not None
                     and row["per_site"][n]["converged"] and ref["per_site"][n]["converged"]]
            row["max_abs_mean_unit_difference_vs_nuts"] = max(diffs) if diffs else None
        for row in rows.values():
            row.pop("_mean_unit")
        out["models"][model] = {"sites": names, "methods": rows}
    out["load_1min_end"] = os.getloadavg()[0]
    return out


if __name__ == "__main__":
    main()

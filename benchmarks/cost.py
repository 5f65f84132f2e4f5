"""Gradient cost and compilation time of the soil models and the runner (issue 9, item 4).

Prints one JSON object (``--out FILE`` also writes it; existing parts of FILE that were not
re-measured are kept, so the parts can be run one at a time on a shared machine). Parts:

* ``vjp``: forward vs reverse-mode gradient time per site, CLM5 and COMPAS, at batch
  256, 1,024 and 4,096 (``--quick``: 256 and 1,024), jit + vmap over distinct parameter
  sets, after warm-up, min over interleaved repeats. Two scalars are differentiated: a
  steady-state objective (sum of log SOC per layer + log stock) and the site log density of
  the runner (``inference.log_density``, logit space, lognormal likelihood, 5 layers).
  ``old`` is the plain autodiff rule of the modifier means
  (``socmodels.processes._modifier_means.fun``), ``new`` the custom JVP, measured in the same
  process over the same inputs; ``ratio`` = gradient / forward time; ``xla_estimate``: the
  compiled programs' temporary memory, bytes accessed and flops (XLA's cost analysis, not
  affected by the machine's load).
* ``compile``: seconds to build the runner's programs (``init``, ``warmup``, ``segment``,
  ``finish`` of ``inference.programs.programs(config)``): ``*_lower`` (tracing + lowering,
  never cached across processes) and ``*_compile`` (XLA, or loading from the persistent
  cache), for AM and NUTS per model, in a first process (empty cache) and in a second
  process (same cache). The runner reports their sum as ``compile_time``.
* ``share``: the AM runner's time per chain-iteration: the compiled segment program vs the
  same number of bare vmapped log-density evaluations (sites x chains points per step), in
  the default run's sampler space, thinning (a draw stored every 20 iterations) and chunk
  (4 sites x 4 chains); ``model_share`` = bare / segment.
* ``chunk``: the same per chain-iteration times against the number of sites per compiled
  batch (1-64 sites x 4 chains, round-robin repeats): the measurement behind the
  pipeline's default ``calibration.chunk_size``.
* ``feasible``: COMPAS's log density in its feasible space as computed now against the
  previous implementation (bisection for the MIC-rule bound, steady state solved again)
  and each change alone, and against the logit space, on the pipeline's chunk.
* ``warmup``: AM's warm-up program against its segment program per chain-iteration, with
  the proposal refreshed between blocks of ``adapt_every`` steps (the runner's schedule)
  and, as the baseline in the same process, with the conditional refresh in every step;
  ``same_chains`` checks that both end with the same proposals.

Every part records ``os.getloadavg()`` before and after (the machine is shared).

Usage: ``python benchmarks/cost.py [--quick] [--part vjp|compile|share|chunk|feasible|warmup|all]
[--out F]``
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import inference  # noqa: E402
from inference.compilation import CACHE_ENV  # noqa: E402
from socmodels import get_model, processes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("clm5", "compas")
DEPTHS = (0.05, 0.15, 0.3, 0.6, 1.0)


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _time(fn, *args, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def _static_cost(compiled) -> dict:
    """XLA's own (load-independent) estimate: temporary buffers, bytes accessed, flops."""
    ca = compiled.cost_analysis()
    ca = ca[0] if isinstance(ca, (list, tuple)) else ca
    return {"temp_mb": compiled.memory_analysis().temp_size_in_bytes / 1e6,
            "bytes_accessed_mb": float(ca.get("bytes accessed", np.nan)) / 1e6,
            "mflops": float(ca.get("flops", np.nan)) / 1e6}


def _site_batch(name: str, b: int):
    """``b`` synthetic sites' SiteData (distinct forcings and observations) and positions."""
    from inference.sites import SiteData
    from inference.testing import example_forcing

    mod = get_model(name)
    n_forcing = min(b, 64)
    forcing = example_forcing(n_forcing, seed=0)
    prep = jax.vmap(mod.prepare)(forcing)
    idx = np.arange(b) % n_forcing
    prep = jax.tree_util.tree_map(lambda a: jnp.asarray(np.asarray(a)[idx]), prep)
    rng = np.random.default_rng(0)
    u = rng.uniform(0.05, 0.95, (b, len(mod.PARAMETERS)))
    nl = len(DEPTHS)
    obs = jnp.asarray(rng.uniform(2e3, 2e4, (b, nl)))
    depth = jnp.broadcast_to(jnp.asarray(DEPTHS), (b, nl))
    sites = SiteData(obs, depth, jnp.ones((b, nl), bool), jnp.ones((b, nl)), prep)
    return mod, sites, jnp.asarray(u)


def part_vjp(quick: bool) -> dict:
    sizes = (256, 1024) if quick else (256, 1024, 4096)
    rounds = 3 if quick else 5
    lik = inference.lognormal(0.1)
    new_rule, old_rule = processes._modifier_means, processes._modifier_means.fun
    out = {"load_before": _load(), "unit": "microseconds per site", "batches": list(sizes),
           "models": {}}
    for name in MODELS:
        res = {}
        for b in sizes:
            mod, sites, u = _site_batch(name, b)
            x = jnp.log(u) - jnp.log1p(-u)  # logit space, as the runner samples
            theta = mod.PARAMETERS.to_physical(u)

            def steady(th, site, mod=mod):
                ss = mod.steady_state(th, site.prepared)
                return jnp.sum(jnp.log(ss.soc)) + jnp.log(ss.stock)

            def density(xx, site, mod=mod):
                return inference.log_density(xx, site, model=mod, likelihood=lik,
                                             space="logit")[0]

            entry = {}
            for label, f, arg in (("steady_state", steady, theta), ("log_density", density, x)):
                fns = {}
                for rule, impl in (("old", old_rule), ("new", new_rule)):
                    processes._modifier_means = impl
                    try:  # compiled now, so each variant keeps its rule
                        fns[rule] = jax.jit(jax.vmap(jax.grad(f))).lower(arg, sites).compile()
                        if rule == "new":
                            fns["forward"] = jax.jit(jax.vmap(f)).lower(arg, sites).compile()
                    finally:
                        processes._modifier_means = new_rule
                static = {k: _static_cost(fn) for k, fn in fns.items()}
                np.testing.assert_allclose(np.asarray(fns["new"](arg, sites)),
                                           np.asarray(fns["old"](arg, sites)), rtol=1e-9)
                reps = 10 if b <= 1024 else 4
                times = {k: [] for k in fns}
                for _ in range(rounds):  # interleaved: the load changes within the run
                    for k, fn in fns.items():
                        jax.block_until_ready(fn(arg, sites))
                        times[k].append(_time(fn, arg, sites, repeats=reps))
                t = {k: min(v) for k, v in times.items()}
                entry[label] = {
                    "forward_us": t["forward"] / b * 1e6,
                    "grad_old_us": t["old"] / b * 1e6, "grad_new_us": t["new"] / b * 1e6,
                    "ratio_old": t["old"] / t["forward"], "ratio_new": t["new"] / t["forward"],
                    "xla_estimate": static}
            res[str(b)] = entry
            print(name, b, json.dumps(entry), _load(), file=sys.stderr, flush=True)
        out["models"][name] = res
    out["load_after"] = _load()
    return out


_COMPILE_CHILD = """
import json, sys, time
t_start = time.perf_counter()
import jax.numpy as jnp
import inference
from inference.config import RunConfig
from inference.models import resolve_model
from inference.programs import Chunk, _segment_keys, prepare_sites, programs
from inference.sites import read_profiles, site_keys
from inference.testing import synthetic_sites
model, sampler = sys.argv[1], sys.argv[2]
folder = inference.enable_compilation_cache()
smp = {"am": inference.adaptive_metropolis(num_warmup=20, num_samples=10),
       "nuts": inference.nuts(num_warmup=5, num_samples=5)}[sampler]
lik = inference.lognormal(0.1)
profiles, forcing, _ = synthetic_sites(model, 4, seed=1)
cfg = RunConfig(model=model, sampler=smp, likelihood=lik, num_chains=2, seed=0, num_draws=5,
                max_init_tries=100)
prof, _ = read_profiles(profiles, lik, invalid="raise")
progs = programs(cfg)
sites, ids = prepare_sites(Chunk(prof, forcing, pad_to=4), resolve_model(model))
key = jnp.asarray(site_keys(0, ids))
s = {}


def call(name, *args, **static):
    # lowering (tracing) and XLA compilation timed apart; the runner's Programs.call does
    # both in one (programs(cfg)._jitted are the jitted programs it compiles)
    t0 = time.perf_counter()
    lowered = progs._jitted[name].lower(*args, **static)
    t1 = time.perf_counter()
    exe = lowered.compile()
    s[name + "_lower"], s[name + "_compile"] = t1 - t0, time.perf_counter() - t1
    return exe(*args)


st, ok, tries = call("init", sites, key)
st, tun = call("warmup", sites, st, _segment_keys(key, 0))
st, draws, info = call("segment", sites, st, tun, _segment_keys(key, 1),
                       num_steps=cfg.n_keep * cfg.thin, thin=cfg.thin)
call("finish", sites, jnp.asarray(draws), key)
s["lower_total"] = sum(v for k, v in s.items() if k.endswith("_lower"))
s["compile_total"] = sum(v for k, v in s.items() if k.endswith("_compile"))
s["total"] = s["lower_total"] + s["compile_total"]
s["process_wall"] = time.perf_counter() - t_start
print(json.dumps({"folder": str(folder), **s}))
"""


def part_compile(quick: bool) -> dict:
    out = {"load_before": _load(), "unit": "seconds (lowering + compilation)",
           "chunk": "4 sites x 2 chains", "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            for sampler in ("am", "nuts"):
                env = {**os.environ, CACHE_ENV: str(Path(tmp) / f"{name}-{sampler}"),
                       "PYTHONPATH": str(ROOT)}
                entry = {}
                for label in ("first_process", "second_process"):
                    r = subprocess.run([sys.executable, "-c", _COMPILE_CHILD, name, sampler],
                                       env=env, cwd=ROOT, check=True, capture_output=True,
                                       text=True, timeout=600)
                    d = json.loads(r.stdout.strip().splitlines()[-1])
                    d.pop("folder")
                    entry[label] = {k: round(v, 2) for k, v in d.items()}
                    entry[label]["load"] = _load()
                out["runs"][f"{name}/{sampler}"] = entry
                print(name, sampler, json.dumps(entry), file=sys.stderr, flush=True)
    out["load_after"] = _load()
    return out


def _segment_vs_bare(name: str, n_sites: int, n_chains: int, steps: int, *, thin: int,
                     space: str | None, repeats: int = 3) -> dict:
    """The runner's compiled AM segment program (``steps`` iterations, a draw stored every
    ``thin``) vs the same number of bare vmapped log-density evaluations, per
    chain-iteration [us] (min over interleaved repeats)."""
    from inference.config import RunConfig
    from inference.programs import Chunk, _segment_keys, prepare_sites, programs
    from inference.sites import read_profiles, site_keys
    from inference.testing import synthetic_sites

    lik = inference.lognormal(0.1)
    mod = get_model(name)
    smp = inference.adaptive_metropolis(num_warmup=50, num_samples=steps)
    cfg = RunConfig(model=name, sampler=smp, likelihood=lik, num_chains=n_chains, seed=0,
                    num_draws=steps // thin, max_init_tries=100, space=space)
    profiles, forcing, _ = synthetic_sites(name, n_sites, seed=2)
    prof, _ = read_profiles(profiles, lik, invalid="raise")
    progs = programs(cfg)
    sites, ids = prepare_sites(Chunk(prof, forcing, pad_to=n_sites), mod)
    key = jnp.asarray(site_keys(0, ids))
    (st, _, _), _ = progs.call("init", sites, key)
    (st, tun), _ = progs.call("warmup", sites, st, _segment_keys(key, 0))
    seg_keys = _segment_keys(key, 1)

    def segment():
        return progs.call("segment", sites, st, tun, seg_keys, num_steps=steps, thin=thin)[0]

    def one(site, xc):
        return jax.vmap(lambda y: inference.log_density(
            y, site, model=mod, likelihood=lik, space=cfg.space)[0])(xc)

    @jax.jit
    def bare(x0):
        def step(x, k):  # a new point each step, so nothing is hoisted out of the loop
            lp = jax.vmap(one)(sites, x)
            return x + 1e-9 * jnp.tanh(jnp.where(jnp.isfinite(lp), lp, 0.0))[..., None], lp
        return jax.lax.scan(step, x0, jnp.arange(steps))[1]

    x0 = jnp.asarray(st.chains.position)  # (S, C, d): the chains after warm-up
    jax.block_until_ready(bare(x0))
    jax.block_until_ready(segment())
    t_seg, t_bare = [], []
    for _ in range(repeats):  # interleaved
        t_seg.append(_time(segment, repeats=2))
        t_bare.append(_time(bare, x0, repeats=2))
    per = n_sites * n_chains * steps
    return {"segment_us_per_chain_iteration": min(t_seg) / per * 1e6,
            "bare_log_density_us_per_evaluation": min(t_bare) / per * 1e6,
            "model_share": min(t_bare) / min(t_seg)}


def _default_run() -> tuple[int, dict, int, int]:
    """The default run's thinning (iterations per stored draw), sampler spaces, chunk size
    and chains per site."""
    from surrogate.config import CalibrationConfig

    c = CalibrationConfig()
    return (c.num_samples // c.num_draws, {m: c.space.get(m) for m in MODELS}, c.chunk_size,
            c.num_chains)


# 20; COMPAS in its feasible space; 4 sites x 4 chains
RUNNER_THIN, RUNNER_SPACE, RUNNER_CHUNK, RUNNER_CHAINS = _default_run()


def part_share(quick: bool) -> dict:
    """AM segment program vs the bare log-density evaluations it makes (the default run's
    space, thinning and chunk)."""
    n_sites, n_chains, steps = RUNNER_CHUNK, RUNNER_CHAINS, (500 if quick else 2000)
    out = {"load_before": _load(), "sites": n_sites, "chains": n_chains, "steps": steps,
           "thin": RUNNER_THIN, "space": {m: RUNNER_SPACE[m] or "logit" for m in MODELS},
           "models": {}}
    for name in MODELS:
        out["models"][name] = _segment_vs_bare(name, n_sites, n_chains, steps,
                                               thin=RUNNER_THIN, space=RUNNER_SPACE[name])
        print(name, json.dumps(out["models"][name]), _load(), file=sys.stderr, flush=True)
    out["load_after"] = _load()
    return out


def _warmup_vs_segment(name: str, steps: int, repeats: int = 3) -> dict:
    """The runner's AM warm-up program (``steps`` adapting iterations, ``adapt_every`` 100)
    against its segment program (``steps`` frozen iterations), per chain-iteration [us],
    in the default run's space and chunk, interleaved, min over repeats."""
    from inference.config import RunConfig
    from inference.programs import Chunk, _segment_keys, prepare_sites, programs
    from inference.sites import read_profiles, site_keys
    from inference.testing import synthetic_sites

    lik = inference.lognormal(0.1)
    smp = inference.adaptive_metropolis(num_warmup=steps, num_samples=steps,
                                        adapt_start=steps // 4, adapt_every=100)
    cfg = RunConfig(model=name, sampler=smp, likelihood=lik, num_chains=RUNNER_CHAINS,
                    seed=0, num_draws=steps // RUNNER_THIN, max_init_tries=100,
                    space=RUNNER_SPACE[name])
    profiles, forcing, _ = synthetic_sites(name, RUNNER_CHUNK, seed=2)
    prof, _ = read_profiles(profiles, lik, invalid="raise")
    progs = programs(cfg)
    sites, ids = prepare_sites(Chunk(prof, forcing, pad_to=RUNNER_CHUNK), get_model(name))
    key = jnp.asarray(site_keys(0, ids))
    (st0, _, _), _ = progs.call("init", sites, key)

    def warmup():
        return progs.call("warmup", sites, st0, _segment_keys(key, 0))[0]

    st, tun = jax.block_until_ready(warmup())

    def segment():
        return progs.call("segment", sites, st, tun, _segment_keys(key, 1), num_steps=steps,
                          thin=RUNNER_THIN)[0]

    jax.block_until_ready(segment())
    t_w, t_s = [], []
    for _ in range(repeats):
        t_w.append(_time(warmup, repeats=2))
        t_s.append(_time(segment, repeats=2))
    per = RUNNER_CHUNK * RUNNER_CHAINS * steps
    return {"warmup_us_per_chain_iteration": min(t_w) / per * 1e6,
            "segment_us_per_chain_iteration": min(t_s) / per * 1e6,
            "warmup_over_segment": min(t_w) / min(t_s),
            "proposal_checksum": float(jnp.sum(st.chains.proposal_cholesky))}


def part_warmup(quick: bool) -> dict:
    """AM's warm-up step against a frozen step, with the proposal refreshed between blocks
    of ``adapt_every`` steps (the runner's schedule) and, as the baseline in the same
    process, with the refresh as a conditional in every step
    (``inference.samplers.BLOCKED_WARMUP = False``). The two give the same chains; the
    proposal checksums must agree."""
    from inference import samplers
    from inference.programs import programs

    steps = 1000 if quick else 2000
    out = {"load_before": _load(), "sites": RUNNER_CHUNK, "chains": RUNNER_CHAINS,
           "steps": steps, "adapt_every": 100, "models": {}}
    for name in MODELS:
        rows = {}
        for label, flag in (("per_step_refresh", False), ("blocked_refresh", True)):
            samplers.BLOCKED_WARMUP = flag
            programs.cache_clear()
            rows[label] = _warmup_vs_segment(name, steps)
        samplers.BLOCKED_WARMUP = True
        programs.cache_clear()
        rows["same_chains"] = (rows["per_step_refresh"]["proposal_checksum"]
                               == rows["blocked_refresh"]["proposal_checksum"])
        rows["warmup_time_ratio"] = (rows["blocked_refresh"]["warmup_us_per_chain_iteration"]
                                     / rows["per_step_refresh"]["warmup_us_per_chain_iteration"])
        out["models"][name] = rows
        print(name, json.dumps(rows), _load(), file=sys.stderr, flush=True)
    out["load_after"] = _load()
    return out


def part_chunk(quick: bool) -> dict:
    """Time per chain-iteration of the AM segment program against the chunk size (sites per
    compiled batch, 4 chains each): what the runner's ``chunk_size`` is chosen by. Sizes
    are measured round-robin, ``rounds`` times, and the minimum is kept."""
    sizes = (1, 4, 16, 64) if quick else (1, 4, 8, 16, 32, 64)
    steps, rounds = (200, 2) if quick else (500, 2)
    out = {"load_before": _load(), "chains": 4, "steps": steps, "thin": RUNNER_THIN,
           "rounds": rounds, "unit": "microseconds per chain-iteration", "models": {}}
    for name in MODELS:
        rows: dict[int, list] = {n: [] for n in sizes}
        for _ in range(rounds):
            for n in sizes:
                rows[n].append(_segment_vs_bare(name, n, 4, steps, thin=RUNNER_THIN,
                                                space=RUNNER_SPACE[name], repeats=1))
        base = min(r["segment_us_per_chain_iteration"] for r in rows[64])
        out["models"][name] = {
            str(n): {"segment_us": min(r["segment_us_per_chain_iteration"] for r in rs),
                     "bare_us": min(r["bare_log_density_us_per_evaluation"] for r in rs),
                     "segment_vs_64_sites": min(r["segment_us_per_chain_iteration"]
                                                for r in rs) / base}
            for n, rs in rows.items()}
        print(name, json.dumps(out["models"][name]), _load(), file=sys.stderr, flush=True)
    out["load_after"] = _load()
    return out


def _bisection_root(a, d, kd, need, hi0, steps: int = 60):
    """The MIC-rule root as it was found before (a 60-step bisection in tau4s4): the
    baseline of ``part_feasible``."""
    from socmodels import compas

    def body(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        above = compas._column_soc(mid, a, d, kd) >= need
        return jnp.where(above, lo, mid), jnp.where(above, mid, hi)

    return jax.lax.fori_loop(0, steps, body, (jnp.zeros_like(hi0), hi0))[1], steps


def part_feasible(quick: bool) -> dict:
    """COMPAS's log density per evaluation in its feasible space, as computed now (the
    MIC-rule root by Newton on 1/SOC, the steady state returned by the map) against the
    previous implementation (a 60-step bisection, the steady state solved again from
    theta) and each change alone, and against the logit space (no map); bare vmapped
    evaluations of the pipeline's chunk (sites x 4 chains), min over interleaved repeats."""
    from inference.programs import Chunk, prepare_sites
    from inference.sites import read_profiles
    from inference.testing import synthetic_sites
    from socmodels import compas
    from surrogate.config import CalibrationConfig

    n_sites = CalibrationConfig().chunk_size
    steps, rounds = (100, 2) if quick else (400, 5)
    lik = inference.lognormal(0.1)
    profiles, forcing, _ = synthetic_sites("compas", n_sites, seed=2)
    prof, _ = read_profiles(profiles, lik, invalid="raise")
    sites, _ = prepare_sites(Chunk(prof, forcing, pad_to=n_sites), compas)
    x0 = jnp.asarray(np.random.default_rng(0).normal(0.0, 0.5, (n_sites, 4, 23)))
    newton_root, mapped = compas._mic_rule_root, compas.feasible_parameters

    def without_state(v, prepared):
        return mapped(v, prepared)._replace(steady_state=None)

    variants = {"now": (newton_root, mapped, "feasible"),
                "bisection": (_bisection_root, mapped, "feasible"),
                "state_solved_again": (newton_root, without_state, "feasible"),
                "before": (_bisection_root, without_state, "feasible"),
                "logit_space": (newton_root, mapped, "logit")}
    compiled, values = {}, {}
    for label, (root, feasible_map, space) in variants.items():
        compas._mic_rule_root, compas.feasible_parameters = root, feasible_map
        try:  # compiled now, so each variant keeps its implementation
            def density(y, site, space=space):
                return inference.log_density(y, site, model=compas, likelihood=lik,
                                             space=space)[0]

            def run(x0):
                def step(x, _):  # a new point each step, so nothing is hoisted
                    lp = jax.vmap(lambda s, xc: jax.vmap(lambda y: density(y, s))(xc))(sites, x)
                    return x + 1e-9 * jnp.tanh(jnp.where(jnp.isfinite(lp), lp, 0.0))[..., None], lp
                return jax.lax.scan(step, x0, jnp.arange(steps))[1]

            compiled[label] = jax.jit(run).lower(x0).compile()
        finally:
            compas._mic_rule_root, compas.feasible_parameters = newton_root, mapped
        values[label] = np.asarray(compiled[label](x0))
    for label in ("bisection", "state_solved_again", "before"):  # the same log densities
        np.testing.assert_allclose(values[label], values["now"], rtol=1e-9)
    out = {"load_before": _load(), "sites": n_sites, "chains": 4, "steps": steps,
           "rounds": rounds, "unit": "microseconds per log-density evaluation",
           "finite_fraction": float(np.isfinite(values["now"]).mean())}
    best = {k: np.inf for k in compiled}
    for _ in range(rounds):  # interleaved: the load changes within the run
        for label, fn in compiled.items():
            best[label] = min(best[label], _time(fn, x0, repeats=2))
    per = n_sites * 4 * steps
    out["us"] = {k: v / per * 1e6 for k, v in best.items()}
    out["vs_before"] = {k: v / best["before"] for k, v in best.items()}
    out["load_after"] = _load()
    print("feasible", json.dumps(out), file=sys.stderr, flush=True)
    return out


PARTS = {"vjp": part_vjp, "compile": part_compile, "share": part_share, "chunk": part_chunk,
         "feasible": part_feasible, "warmup": part_warmup}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller batches and fewer repeats")
    ap.add_argument("--part", choices=[*PARTS, "all"], default="all")
    ap.add_argument("--out", type=Path, help="also write (update) this JSON file")
    args = ap.parse_args()
    result = {}
    if args.out and args.out.exists():
        result = json.loads(args.out.read_text())
    result.update({"benchmark": "cost", "jax": jax.__version__,
                   "backend": jax.default_backend(), "cpu_count": os.cpu_count(),
                   "machine": platform.machine(), "dtype": "float64"})
    for name in (PARTS if args.part == "all" else [args.part]):
        result[name] = {"quick": args.quick, **PARTS[name](args.quick)}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

"""Steady-state throughput: structured JAX solver vs a dense NumPy/SciPy loop.

Prints one JSON object. For CLM5 and COMPAS, at batch sizes 1, 256 and 4096 (distinct
random parameter sets across the prior box, one prepared site per batch element):

* ``forward_per_s``: steady states per second (jit + vmap, site preparation done once);
* ``vjp_per_s``: forward + reverse-mode gradient of a scalar objective (per second);
* ``vjp_over_forward``: time ratio (target <= 3);
* ``forward_from_forcing_per_s`` (largest batch): including ``prepare`` of the forcing.

Baseline, measured in the same run over the same inputs: the dense reference
(``socmodels.reference``: build the 140x140 / 80x80 system, ``numpy.linalg.solve``), one
parameter set at a time, BLAS single-threaded (the fastest setting for small solves).

Usage: ``python benchmarks/steady_state.py [--quick]``
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import socmodels  # noqa: E402, F401  (enables float64)
from socmodels import Forcing, clm5, compas, layers  # noqa: E402
from socmodels import reference as R  # noqa: E402


def bench_forcing() -> Forcing:
    m = np.arange(12)
    z = layers.zsoi
    tsoi = 283.15 + 10.0 * np.cos(2 * np.pi * (m - 6) / 12)[:, None] * np.exp(-z / 1.5)
    return Forcing.create(
        tsoi=tsoi, w_scalar=np.full((12, 20), 0.6), o_scalar=np.ones((12, 20)),
        fpi_vr=np.full((12, 20), 0.7), altmax=np.full(12, 8.6), altmax_lastyear=np.full(12, 8.6),
        nbedrock=np.full(12, 20), input_cwd=50.0, input_litr1=150.0, input_litr2=250.0,
        input_litr3=100.0)


def best_time(fn, *args, repeats: int, min_time: float = 0.5) -> float:
    """Best wall time of one call over ``repeats`` (at least ``min_time`` s in total)."""
    jax.block_until_ready(fn(*args))  # compile + warm up
    best, total, n = np.inf, 0.0, 0
    while n < repeats or total < min_time:
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        dt = time.perf_counter() - t0
        best, total, n = min(best, dt), total + dt, n + 1
        if n > 10 * repeats:
            break
    return best


def run(quick: bool) -> dict:
    forcing = bench_forcing()
    sizes = (1, 256, 1024) if quick else (1, 256, 4096)
    n_dense = 50 if quick else 200
    out = {
        "benchmark": "steady_state",
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "dtype": "float64",
        "models": {},
    }
    for mod in (clm5, compas):
        n = len(mod.PARAMETERS)
        rng = np.random.default_rng(0)
        u = rng.uniform(0.05, 0.95, (max(sizes), n))
        thetas = np.asarray(mod.PARAMETERS.to_physical(u))
        prep1 = mod.prepare(forcing)

        def fwd(th, prep, mod=mod):
            return mod.steady_state(th, prep).soc

        def objective(th, prep, mod=mod):
            ss = mod.steady_state(th, prep)
            return jnp.sum(jnp.log(ss.soc)) + jnp.log(ss.stock)

        f_fwd = jax.jit(jax.vmap(fwd))
        f_vjp = jax.jit(jax.vmap(jax.grad(objective)))
        f_full = jax.jit(jax.vmap(lambda th, f, mod=mod: mod.steady_state(th, f).soc))
        res = {"n_parameters": n, "batches": {}}
        for b in sizes:
            th = jnp.asarray(thetas[:b])
            prep = jax.tree_util.tree_map(lambda a, b=b: jnp.broadcast_to(a, (b,) + a.shape) + 0,
                                          prep1)
            reps = 50 if b == 1 else 10
            t_f = best_time(f_fwd, th, prep, repeats=reps)
            t_v = best_time(f_vjp, th, prep, repeats=reps)
            entry = {"forward_per_s": b / t_f, "vjp_per_s": b / t_v, "vjp_over_forward": t_v / t_f}
            if b == max(sizes):
                fb = jax.tree_util.tree_map(lambda a, b=b: np.broadcast_to(a, (b,) + a.shape),
                                            forcing)
                t_full = best_time(f_full, th, fb, repeats=reps)
                entry["forward_from_forcing_per_s"] = b / t_full
            res["batches"][str(b)] = entry
        dense = R.clm5_dense_steady_state if mod is clm5 else R.compas_dense_steady_state
        dense(thetas[0], forcing)
        t0 = time.perf_counter()
        for i in range(n_dense):
            dense(thetas[i], forcing)
        t_dense = (time.perf_counter() - t0) / n_dense
        res["dense_numpy_per_s"] = 1.0 / t_dense
        big = res["batches"][str(max(sizes))]
        res["speedup_forward_vs_dense"] = big["forward_per_s"] * t_dense
        res["speedup_vjp_vs_dense_forward"] = big["vjp_per_s"] * t_dense
        # agreement with the dense solve on the benchmarked inputs (sanity, not timing)
        soc = np.asarray(f_fwd(jnp.asarray(thetas[:8]), jax.tree_util.tree_map(
            lambda a: jnp.broadcast_to(a, (8,) + a.shape) + 0, prep1)))
        ref = np.stack([dense(thetas[i], forcing)["soc"] for i in range(8)])
        ok = np.all(np.isfinite(ref), axis=1)
        res["max_rel_diff_vs_dense"] = float(
            np.max(np.abs(soc[ok] - ref[ok]) / np.abs(ref[ok]).max()))
        out["models"][mod.NAME] = res
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller batches (smoke test)")
    args = ap.parse_args()
    print(json.dumps(run(args.quick), indent=2))


if __name__ == "__main__":
    main()

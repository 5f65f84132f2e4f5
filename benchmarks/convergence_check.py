"""The runner's per-segment convergence check: rank normalization by table look-up vs SciPy.

``inference.convergence.diagnose`` runs after every segment of every chunk of sites; its
rank normalization (``inference.batched_stats._z_scale``) takes twice the average ranks as
indices into a table of ``ndtri`` at the ``2n + 1`` values an average rank can take. The
baseline, measured in the same run on the same draws, is the textbook form it replaced:
``scipy.stats.rankdata(method="average")`` then ``scipy.special.ndtri`` per draw. Both give
the same numbers (checked here, bit for bit, and in ``tests/test_batched_stats.py``).

The draws imitate AM's, per site and parameter: chains in which proposals are rejected
(the value repeats, so ranks tie); two regimes, ``not_converged`` (AR(1) moves at 0.9, one
move in four, each chain its own offset: R-hat fails, the ESS is skipped) and ``converged``
(independent moves, one in two: R-hat passes at more sites the more draws there are, and
their bulk and tail ESS are then computed; ``sites_with_ess`` says at how many). Timings
are the median of ``--repeat`` calls, alternating the two forms; the load average is
recorded before and after.

Usage: ``python benchmarks/convergence_check.py [--sites 4] [--repeat 15] [--out F]``
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from scipy import special, stats

from inference import batched_stats
from inference.convergence import diagnose


def _z_scale_scipy(x: np.ndarray) -> np.ndarray:
    """The baseline: SciPy's average ranks, ``ndtri`` per draw."""
    shape = x.shape
    flat = x.reshape(*shape[:-2], -1)
    n = flat.shape[-1]
    ranks = stats.rankdata(flat, method="average", axis=-1)
    return special.ndtri((ranks - 3 / 8) / (n - 2 * 3 / 8 + 1)).reshape(shape)


def am_like_draws(rng, sites, chains, draws, params, spread, ar, move_prob) -> np.ndarray:
    """(S, C, D, d) AR(1) chains (coefficient ``ar``) that move with ``move_prob`` and
    otherwise repeat; ``spread`` offsets each chain."""
    x = np.empty((sites, chains, draws, params))
    x[:, :, 0] = rng.normal(size=(sites, chains, params))
    for t in range(1, draws):
        move = rng.uniform(size=(sites, chains, params)) < move_prob
        step = ar * x[:, :, t - 1] + np.sqrt(1 - ar**2) * rng.normal(size=(sites, chains, params))
        x[:, :, t] = np.where(move, step, x[:, :, t - 1])
    return x + spread * rng.normal(size=(sites, chains, 1, params))


def _timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=4, help="sites per chunk (the default run's)")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--params", type=int, default=21, help="CLM5 has 21, COMPAS 23")
    ap.add_argument("--draws", type=int, nargs="+", default=[250, 500, 1000])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    table_form = batched_stats._z_scale
    load0 = [round(v, 2) for v in os.getloadavg()]
    rows = []
    for draws in args.draws:
        for regime, spread, ar, move in (("not_converged", 3.0, 0.9, 0.25),
                                         ("converged", 0.0, 0.0, 0.5)):
            x = am_like_draws(rng, args.sites, args.chains, draws, args.params, spread, ar,
                              move)
            outputs, times = {}, {"scipy": [], "table": []}
            for rep in range(args.repeat + 1):
                for name, z in (("scipy", _z_scale_scipy), ("table", table_form)):
                    batched_stats._z_scale = z
                    try:
                        if rep == 0:  # warm caches; keep the outputs for the equality check
                            d = diagnose(x, rhat_max=1.01)
                            outputs[name] = np.stack([d.r_hat, d.ess_bulk, d.ess_tail])
                        else:
                            times[name].append(_timed(diagnose, x, 1.01))
                    finally:
                        batched_stats._z_scale = table_form
            same = bool(np.array_equal(outputs["scipy"], outputs["table"], equal_nan=True))
            med = {k: float(np.median(v)) for k, v in times.items()}
            rows.append({"draws_per_chain": draws, "regime": regime,
                         "sites_with_ess": int(np.isfinite(outputs["table"][1]).all(axis=1).sum()),
                         "scipy_ms": round(1e3 * med["scipy"], 2),
                         "table_ms": round(1e3 * med["table"], 2),
                         "ratio_table_to_scipy": round(med["table"] / med["scipy"], 3),
                         "outputs_bit_identical": same})
    result = {"benchmark": "convergence_check", "sites": args.sites, "chains": args.chains,
              "params": args.params, "repeat": args.repeat, "cpu_count": os.cpu_count(),
              "load_before": load0, "load_after": [round(v, 2) for v in os.getloadavg()],
              "rows": rows}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    return result


if __name__ == "__main__":
    main()

"""Wall time of the default run's calibrations against the chunk size (sites per compiled
batch), on the default virtual world.

Each model's calibration (``surrogate.pipeline._calibrate``: the default configuration,
``workers`` = one per core) runs once per chunk size into a fresh folder, the sizes in
turn, in one process (the JAX compilation cache on, as in ``socmc run``). The results
should not depend on the chunking (the runner's keys do not, and what XLA would round with
the batch size is evaluated one site at a time, ``docs/inference.md`` §3). The benchmark
records, per run,
whether every decision is the same as with the first size (segments, stop reason, kept,
evaluations), the largest relative difference of the posterior summaries, and wall and
process CPU time with the ratio to the first size (the baseline, measured in the same
run). Prints (``--out``: writes) JSON.

Measured: ``benchmarks/results/chunking_sizes.json`` (sizes 64, 16 and 4, both models; made
by an earlier version of this script whose ``identical_to_first`` compared the summaries bit
for bit, before the per-site evaluation -- false then: they differed in the last bits, the
decisions did not; see ``docs/inference.md`` §3, "Keys").

Usage: ``python benchmarks/chunking.py [--sizes 64 16 4] [--models clm5 compas] [--out F]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from surrogate.config import load_config
from surrogate.pipeline import _calibrate, _world

DECISIONS = ("n_segments", "stop_reason", "kept", "n_evals", "status")
SUMMARIES = ("mean", "sd", "q05", "q95", "max_r_hat", "min_ess_bulk", "nse")


def _compare(table, first) -> dict:
    """Decisions equal, and the largest relative difference of the summaries."""
    same = all(np.array_equal(table[k].values, first[k].values) for k in DECISIONS)
    rel = 0.0
    for k in SUMMARIES:
        a, b = np.asarray(table[k].values, float), np.asarray(first[k].values, float)
        both = np.isfinite(a) & np.isfinite(b)
        if not np.array_equal(np.isfinite(a), np.isfinite(b)):
            return {"decisions_identical": same, "summaries_max_rel_diff": float("inf")}
        d = np.abs(a[both] - b[both]) / np.maximum(np.abs(b[both]), 1e-300)
        rel = max(rel, float(d.max(initial=0.0)))
    return {"decisions_identical": same, "summaries_max_rel_diff": rel}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 16, 4])
    ap.add_argument("--models", nargs="+", default=["clm5", "compas"])
    ap.add_argument("--out")
    a = ap.parse_args()
    cfg = load_config()
    root = Path(tempfile.mkdtemp(prefix="socmc_chunking_"))
    out = {"benchmark": "chunking", "cpu_count": os.cpu_count(), "sizes": a.sizes,
           "calibration": cfg["calibration"], "load_before": os.getloadavg(), "models": {}}
    try:
        world = _world(cfg, root)
        for model in a.models:
            rows, first = {}, None
            for size in a.sizes:
                c = {**cfg, "calibration": {**cfg["calibration"], "chunk_size": size}}
                t0, c0 = time.perf_counter(), time.process_time()
                table = _calibrate(c, root / f"chunk{size}", world, model)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                if first is None:
                    first = table
                rows[str(size)] = {
                    "wall_s": wall, "cpu_s": cpu, "cpu_per_wall": cpu / wall,
                    "wall_vs_first": wall / rows[str(a.sizes[0])]["wall_s"] if rows else 1.0,
                    "compile_s_max_chunk": float(np.max(table["compile_time"].values)),
                    **_compare(table, first), "load_after": os.getloadavg()}
                print(model, size, json.dumps(rows[str(size)]), file=sys.stderr, flush=True)
                shutil.rmtree(root / f"chunk{size}", ignore_errors=True)
            out["models"][model] = rows
    finally:
        shutil.rmtree(root, ignore_errors=True)
    out["load_after"] = os.getloadavg()
    text = json.dumps(out, indent=1)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    main()

"""Wall time and peak memory of the PRODA pipeline per stage: first, warm and no-op runs.

Runs ``socmc run`` three times, each in a new process, and prints one JSON object:

* ``first``: into a fresh output folder with an empty JAX compilation cache (a first run
  after installing);
* ``warm``: the output folder removed, the compilation cache kept (what a second project,
  or a re-run from scratch, costs);
* ``noop``: the same command again with every stage finished (nothing may be recomputed).

Per run: the process's wall time, and per stage the wall time (s) and the process's peak
resident memory so far (MiB). ``uptime``'s load average is recorded before and after, since
the machine may be shared. Usage:
``python benchmarks/pipeline.py [--preset tiny|default] [--keep DIR] [--cache DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(preset: str, out: Path, cache: Path) -> dict:
    env = {**os.environ, "TQDM_DISABLE": "1", "SOCMC_CACHE": str(cache)}
    started = time.time()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "surrogate.cli", "run", "--preset", preset,
                           "--out", str(out)], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(proc.returncode)
    stages = {}
    for p in sorted((out / "stages").glob("*.json")):
        d = json.loads(p.read_text())
        if p.stat().st_mtime >= started:  # (re)written by this run
            stages[p.stem] = {"seconds": round(d["seconds"], 2),
                              "peak_rss_mib_so_far": round(d.get("peak_rss_mib_so_far",
                                                                 float("nan")), 1)}
    return {"wall_seconds": round(wall, 1), "stages_run": stages,
            "nothing_to_do": "nothing to do" in proc.stdout}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny", choices=["tiny", "default", "paper"])
    ap.add_argument("--keep", help="output folder to keep (default: a temporary one)")
    ap.add_argument("--cache", help="compilation cache folder (default: a new, empty one)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="socmc-bench-"))
    out = Path(args.keep) if args.keep else tmp / "out"
    cache = Path(args.cache) if args.cache else tmp / "cache"
    if out.exists():
        shutil.rmtree(out)
    load = [os.getloadavg()]
    runs = {"first": _run(args.preset, out, cache)}
    shutil.rmtree(out)
    runs["warm"] = _run(args.preset, out, cache)
    runs["noop"] = _run(args.preset, out, cache)
    load.append(os.getloadavg())
    summary = json.loads((out / "summary.json").read_text())
    print(json.dumps({"benchmark": "pipeline", "preset": args.preset,
                      "cpu_count": os.cpu_count(),
                      "load_average_1_5_15min": {"before": load[0], "after": load[1]},
                      "runs": runs, "headline": summary, "out": str(out),
                      "cache": str(cache)}, indent=2, default=str))
    if not args.keep:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()

"""Wall time and peak memory of the PRODA pipeline per stage.

Runs ``socmc run`` (preset ``default`` unless ``--preset``) into a fresh temporary folder in a
child process and prints one JSON object: per stage the wall time (s) and the process's peak
resident memory so far (MiB), plus the total. Usage:
``python benchmarks/pipeline.py [--preset tiny|default] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="default", choices=["tiny", "default", "paper"])
    ap.add_argument("--keep", help="output folder to keep (default: a temporary one)")
    args = ap.parse_args()
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="socmc-bench-"))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "surrogate.cli", "run", "--preset", args.preset,
                           "--out", str(out)], capture_output=True, text=True,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(proc.returncode)
    stages = {}
    for p in sorted((out / "stages").glob("*.json")):
        d = json.loads(p.read_text())
        stages[p.stem] = {"seconds": round(d["seconds"], 2),
                          "peak_rss_mib_so_far": round(d.get("peak_rss_mib_so_far", float("nan")), 1)}
    summary = json.loads((out / "summary.json").read_text())
    print(json.dumps({"benchmark": "pipeline", "preset": args.preset, "cpu_count": os.cpu_count(),
                      "wall_seconds_total": round(wall, 1), "stages": stages,
                      "headline": summary, "out": str(out)}, indent=2, default=str))


if __name__ == "__main__":
    main()

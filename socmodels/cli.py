"""Command-line entry point: ``socmc``.

``socmc run [--config FILE] [--out DIR] [--preset default|tiny|paper]`` runs the PRODA
pipeline (data -> site calibration of CLM5 and COMPAS -> screening -> network -> maps ->
analyses -> report) on the embedded virtual world unless the config points at real data.
Re-running skips finished stages and sites. ``socmc steady-state`` prints both models'
steady states for a few example sites (a quick check of an installation).
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["main"]


def _steady_state_demo() -> int:
    import numpy as np

    from socmodels import clm5, compas
    from socmodels.data import climate_forcing

    sites = {
        "temperate": dict(mat=10.0, mat_amplitude=10.0, moisture=0.6, npp=500.0),
        "tropical": dict(mat=26.0, mat_amplitude=2.0, moisture=0.9, npp=1100.0),
        "permafrost": dict(mat=-8.0, mat_amplitude=18.0, moisture=0.5, npp=150.0,
                           active_layer_depth=1.0),
        "shallow bedrock": dict(mat=15.0, mat_amplitude=8.0, moisture=0.35, npp=350.0,
                                bedrock_depth=0.6),
    }
    rows = []
    for name, kw in sites.items():
        f = climate_forcing(**kw)
        for mod in (clm5, compas):
            th = np.asarray(mod.PARAMETERS.to_physical(np.full(len(mod.PARAMETERS), 0.5)))
            ss = mod.steady_state(th, f)
            rows.append({"site": name, "model": mod.NAME, "stock_0_1m_kgC_m2": float(ss.stock_1m) / 1e3,
                         "stock_total_kgC_m2": float(ss.stock) / 1e3, "feasible": bool(ss.feasible),
                         "input_gC_m2_yr": float(ss.total_input),
                         "respiration_gC_m2_yr": float(ss.respiration)})
    print(json.dumps(rows, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="socmc", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the PRODA pipeline (default: embedded virtual world)")
    run.add_argument("--config", help="YAML config file (see docs/pipeline.md)")
    run.add_argument("--out", help="output folder (default from config: socmc_output)")
    run.add_argument("--preset", choices=["default", "tiny", "paper"], default=None,
                     help="size preset for the virtual world and sampler budgets")
    run.add_argument("--force", action="store_true", help="redo finished stages")
    sub.add_parser("steady-state", help="print steady states at a few example sites")
    args = ap.parse_args(argv)
    if args.command == "steady-state":
        return _steady_state_demo()
    from surrogate.pipeline import load_config, run_pipeline

    cfg = load_config(args.config, preset=args.preset, out=args.out)
    run_pipeline(cfg, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())

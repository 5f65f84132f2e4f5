"""Command-line entry point: ``socmc``.

``socmc run [--config FILE] [--out DIR] [--preset default|tiny|paper]`` runs the PRODA
pipeline (data -> site calibration of every model -> screening -> network -> maps ->
analyses -> report) on the embedded virtual world unless the config points at real data.
Re-running redoes only the stages whose inputs changed (``docs/pipeline.md``).
``socmc steady-state`` prints every model's steady state at a few example sites (a quick
check of an installation; ``--json`` for machines). ``socmc --version`` prints the version.
Errors are one line on stderr and a non-zero exit code; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["main", "steady_state_examples"]

EXAMPLE_SITES: dict[str, dict] = {
    "temperate": dict(mat=10.0, mat_amplitude=10.0, moisture=0.6, npp=500.0),
    "tropical": dict(mat=26.0, mat_amplitude=2.0, moisture=0.9, npp=1100.0),
    "permafrost": dict(mat=-8.0, mat_amplitude=18.0, moisture=0.5, npp=150.0,
                       active_layer_depth=1.0),
    "shallow bedrock": dict(mat=15.0, mat_amplitude=8.0, moisture=0.35, npp=350.0,
                            bedrock_depth=0.6),
}
"""Site climates of ``socmc steady-state`` (arguments of ``socmodels.data.climate_forcing``)."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("socmc")
    except PackageNotFoundError:
        return "unknown"


def _reasons(status: int) -> list[str]:
    """Readable reasons of an infeasible steady state (``socmodels.describe_status``)."""
    import socmodels

    describe = getattr(socmodels, "describe_status", None)
    return list(describe(status)) if describe is not None else ["infeasible"]


def steady_state_examples() -> list[dict]:
    """Every registered model's steady state (mid-box parameters) at :data:`EXAMPLE_SITES`.

    Returns:
        One row per site and model: stocks [kgC m-2], input and respiration
        [gC m-2 yr-1], ``feasible`` and, when infeasible, ``reasons``.
    """
    import numpy as np

    import socmodels
    from socmodels.data import climate_forcing
    from surrogate.config import model_names

    rows = []
    for site, kw in EXAMPLE_SITES.items():
        forcing = climate_forcing(**kw)
        for name in model_names():
            mod = socmodels.get_model(name)
            theta = np.asarray(mod.PARAMETERS.to_physical(np.full(len(mod.PARAMETERS), 0.5)))
            ss = mod.steady_state(theta, forcing)
            status = int(np.asarray(getattr(ss, "status", 0 if bool(ss.feasible) else 1)))
            feasible = bool(ss.feasible)
            rows.append({"site": site, "model": mod.NAME,
                         "stock_0_1m_kgC_m2": float(ss.stock_1m) / 1e3,
                         "stock_total_kgC_m2": float(ss.stock) / 1e3,
                         "input_gC_m2_yr": float(ss.total_input),
                         "respiration_gC_m2_yr": float(ss.respiration),
                         "feasible": feasible, "status": status,
                         "reasons": [] if feasible else _reasons(status)})
    return rows


def _table(rows: list[dict]) -> str:
    """A fixed-width table of :func:`steady_state_examples` with the reasons below it."""
    head = ("site", "model", "SOC 0-1 m", "SOC total", "input", "respiration", "feasible")
    units = ("", "", "kgC m-2", "kgC m-2", "gC m-2 yr-1", "gC m-2 yr-1", "")
    body = [(r["site"], r["model"], f"{r['stock_0_1m_kgC_m2']:.1f}",
             f"{r['stock_total_kgC_m2']:.1f}", f"{r['input_gC_m2_yr']:.0f}",
             f"{r['respiration_gC_m2_yr']:.0f}", "yes" if r["feasible"] else "NO (see below)")
            for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(head, units, *body, strict=True)]

    def line(cells) -> str:
        return "  ".join(str(c).ljust(w) if k < 2 else str(c).rjust(w)
                         for k, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    out = [line(head), line(units), line(["-" * w for w in widths])] + [line(b) for b in body]
    bad = [r for r in rows if not r["feasible"]]
    if bad:
        out += ["", "Infeasible steady states at mid-box parameters (a calibration rejects"
                " them):"]
        out += [f"  {r['site']} / {r['model']}: " + "; ".join(r["reasons"]) for r in bad]
    return "\n".join(out)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="socmc", description=__doc__.splitlines()[0])
    ap.add_argument("--version", action="version", version=f"socmc {_version()}")
    ap.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the PRODA pipeline (default: embedded virtual world)")
    run.add_argument("--config", help="YAML config file (see docs/pipeline.md)")
    run.add_argument("--out", help="output folder (default from config: socmc_output)")
    run.add_argument("--preset", choices=["default", "tiny", "paper"], default=None,
                     help="size preset for the virtual world and sampler budgets")
    run.add_argument("--force", action="store_true",
                     help="redo finished stages (the calibration resumes its finished sites)")
    ss = sub.add_parser("steady-state", help="print steady states at a few example sites")
    ss.add_argument("--json", action="store_true", help="print JSON instead of a table")
    for p in (run, ss):  # also accepted after the command
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback on errors")
    return ap


def _run(args) -> int:
    if args.command == "steady-state":
        rows = steady_state_examples()
        print(json.dumps(rows, indent=2) if args.json else _table(rows))
        return 0
    from surrogate.pipeline import load_config, run_pipeline

    cfg = load_config(args.config, preset=args.preset, out=args.out)
    run_pipeline(cfg, force=args.force)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the ``socmc`` command line.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        The exit code: 0 on success, 1 on an error (one line on stderr; the traceback with
        ``--debug``), 2 on a usage or configuration error, 130 when interrupted.
    """
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("socmc: interrupted (re-run the same command to resume)", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        from surrogate.config import ConfigError

        msg = " ".join(str(exc).split()) or type(exc).__name__
        kind = "config error" if isinstance(exc, ConfigError) else type(exc).__name__
        print(f"socmc: {kind}: {msg} (--debug for the traceback)", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1


if __name__ == "__main__":
    sys.exit(main())

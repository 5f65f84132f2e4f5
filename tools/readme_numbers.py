"""Write the measured numbers of a run into README.md (between the ``numbers`` markers).

Usage (after ``bash tools/run.sh``)::

    python tools/readme_numbers.py                 # reads socmc_output/, rewrites README.md
    python tools/readme_numbers.py --run DIR --check   # exit 1 if README.md is out of date

The block between ``<!-- numbers:start -->`` and ``<!-- numbers:end -->`` is generated from
the run's ``analyses.json``, ``config.json``, ``summary.json`` and ``data/manifest.json``;
never edit it by hand.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from surrogate.config import model_sampler_options

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- numbers:start -->", "<!-- numbers:end -->"


def _load(run: Path, name: str) -> dict:
    p = run / name
    if not p.exists():
        raise FileNotFoundError(f"{p} is missing: is {run} the output folder of a finished"
                                " `socmc run`?")
    return json.loads(p.read_text())


def render_block(run: str | Path) -> str:
    """The Markdown of the numbers block (markers included) for the run in ``run``."""
    run = Path(run)
    res = _load(run, "analyses.json")
    cfg = _load(run, "config.json")
    summary = _load(run, "summary.json") if (run / "summary.json").exists() else {}
    man = _load(run, "data/manifest.json") if (run / "data" / "manifest.json").exists() else {}
    c, d = cfg["calibration"], cfg["data"]
    models = list(res["models"])
    names = [m.upper() for m in models]
    total = summary.get("total_seconds")
    iters = c["num_warmup"] + c["num_samples"]
    lines = [START, "",
             f"*Written by `tools/readme_numbers.py` from the run in `{run.name}/` (preset"
             f" `{cfg['preset']}`, seed {cfg['seed']}"
             + (f", {total:.0f} s wall" if total is not None else "") + ").*", "",
             f"{man.get('n_profiles_generated', d.get('n_profiles'))} virtual profiles"
             + (f" ({man['n_profiles_kept']} after screening of the WoSIS-format tables)"
                if "n_profiles_kept" in man else "")
             + (f", {man['n_land_cells']} land cells" if "n_land_cells" in man else "")
             + f" at {d['resolution']:g}°, {c['sampler'].upper()} with {c['num_chains']}"
             + (f" chains × {iters:,} iterations per site." if c.get("max_segments") is None
                else f" chains per site, {c['num_warmup']:,} warm-up iterations, then"
                f" segments of {c['num_samples']:,} until converged (at most"
                f" {c['max_segments']})"
                + "".join(f"; {m.upper()} in its {sp} space"
                          for m, sp in (c.get("space") or {}).items() if m in models)
                + "".join(f"; {m.upper()} with " + ", ".join(f"{k} {v}" for k, v in o.items())
                          for m in models if (o := model_sampler_options(c, m)))
                + "."), "",
             "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(models)]

    def row(label, fn):
        lines.append(f"| {label} | " + " | ".join(fn(res["models"][m]) for m in models) + " |")

    ess = f", bulk/tail ESS ≥ {c['ess_min']:g}" if c.get("ess_min") else ""
    row(f"sites kept (max R-hat ≤ {c['rhat_max']:g}{ess}, NSE > {c['nse_min']:g})",
        lambda r: f"{r['sites']['kept']} / {r['sites']['n']}")
    generators = sorted({g for m in models for g in res["models"][m]["sites"].get("by_generator",
                                                                                  {})})
    for g in generators:
        def kept_among(r, g=g):
            b = r["sites"].get("by_generator", {}).get(g)
            return f"{b['kept']} / {b['n']}" if b else ""
        row(f"… of the sites {g.upper()} generated", kept_among)
    row("median site NSE", lambda r: f"{r['sites']['median_nse']:.2f}")
    row("median site max R-hat", lambda r: f"{r['sites']['median_max_rhat']:.2f}")
    row("pooled NSE of PRODA-predicted SOC at held-out profiles [68 % CI]",
        lambda r: f"{r['heldout']['nse']:.2f} [{r['heldout']['nse_lo']:.2f},"
                  f" {r['heldout']['nse_hi']:.2f}] (n = {r['heldout']['n_profiles']})")
    row("global SOC 0-1 m, customary / PRODA (Pg C)",
        lambda r: f"{r['total_PgC_customary']:.0f} / {r['total_PgC_proda']:.0f}")
    lines.append("")
    if "log_soc_correlation" in res:
        cc = res["log_soc_correlation"]
        lines += [f"Correlation of log SOC (0–1 m) between the two models' maps:"
                  f" r = {cc['customary']:.2f} with customary parameters, r = {cc['proda']:.2f}"
                  " after PRODA (the paper: −0.026 and 0.51).", ""]
    mc = summary.get("model_comparison") or {}
    if mc.get("total_elpd_diff") is not None:
        other, ref = mc["other_model"].upper(), mc["reference_model"].upper()
        text = (f"Per-site model comparison (PSIS-LOO): total ELPD difference {other} − {ref}"
                f" = {mc['total_elpd_diff']:.1f} ± {mc['total_elpd_diff_se']:.1f} (SE);"
                f" {100 * mc['fraction_confident']:.0f} % of sites favour one model by"
                f" > 2 SE, {100 * mc['flagged_fraction']:.0f} % have a layer with Pareto"
                " k > 0.7.")
        if mc.get("truth_picks_generator") is not None:
            text += (f" On the virtual world, {100 * mc['truth_picks_generator']:.0f} % of the"
                     " confident sites pick the model that generated them.")
        lines += [text, ""]
    lines.append(END)
    return "\n".join(lines)


def update(text: str, block: str) -> str:
    """Replace the marked block of ``text`` by ``block``."""
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"README.md has no {START} ... {END} block")
    return pattern.sub(lambda _m: block, text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=str(ROOT / "socmc_output"), help="run output folder")
    ap.add_argument("--readme", default=str(ROOT / "README.md"))
    ap.add_argument("--check", action="store_true", help="only check; exit 1 if stale")
    a = ap.parse_args(argv)
    readme = Path(a.readme)
    text = readme.read_text()
    new = update(text, render_block(a.run))
    if a.check:
        if new != text:
            print(f"{readme} numbers differ from the run in {a.run}", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new)
    print(f"updated {readme} from {a.run}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

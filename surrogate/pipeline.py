"""The whole PRODA job as one resumable pipeline (``socmc run``).

Stages (each writes its outputs under ``out/`` and a marker in ``out/stages/``; re-running
skips finished stages, and the calibration stage resumes finished sites):

1. ``data``       -- the embedded virtual world (or real data, see ``docs/pipeline.md``);
2. ``calibrate``  -- site-level MCMC of CLM5 and COMPAS (all sites x chains batched);
3. ``network``    -- screening (R-hat, NSE), held-out sites, covariates -> parameters
                     networks (best-guess ensemble per model);
4. ``maps``       -- parameter maps, SOC maps with customary and PRODA parameters;
5. ``analyses``   -- between-model correlations, explained variation at held-out profiles,
                     system-level components, Michaelis ratios, zonal profiles, truth
                     recovery (virtual world);
6. ``report``     -- figures and ``report.md`` with the headline numbers.

Configuration: :func:`load_config` merges a preset (``tiny``, ``default``, ``paper``) with an
optional YAML file; unknown keys are rejected.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from surrogate.config import (
    PRESETS,
    ConfigError,
    load_config,
    model_sampler_options,
    sampler_config,
)
from surrogate.inputs import site_covariates, unit_means
from surrogate.plausibility import (
    GLOBAL_STOCK_RANGE_PGC,
    MIN_FEASIBLE_FRACTION,
    plausibility_flags,
)

__all__ = ["PRESETS", "load_config", "run_pipeline", "ConfigError", "stage_plan",
           "plausibility_flags", "GLOBAL_STOCK_RANGE_PGC",
           "MIN_FEASIBLE_FRACTION"]

STAGE_DIR = "stages"


# ---------------------------------------------------------------------------------------
# Fingerprints: a stage is redone when the fingerprint of its inputs changed
# ---------------------------------------------------------------------------------------

def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("socmc")
    except PackageNotFoundError:
        return "unknown"


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes (or of a folder's files, names included, sorted)."""
    p = Path(path)
    h = hashlib.sha256()
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        h.update(str(f.relative_to(p) if p.is_dir() else f.name).encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix.rstrip("."): d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}."))
    return out


def _changed_keys(old: dict, new: dict) -> list[str]:
    a, b = _flat(old), _flat(new)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


_SCREENING = ("rhat_max", "ess_min", "nse_min")
"""Calibration keys that only change which sites are kept (the chains are resumed) -- for a
fixed budget; run until converged (``max_segments``), R-hat and ESS decide when a site stops,
so they change the chains."""
_NOT_RESULTS = ("chunk_size", "workers")
"""Calibration keys that do not change any number (``run_sites``: batching only)."""


def _model_calibration(cal: dict, model: str) -> dict:
    """``cal`` as it concerns ``model``: its own entry of ``space`` and its own sampler options
    (each dropped when it has none, so configurations without them keep their fingerprints)."""
    out = {k: v for k, v in cal.items() if k not in ("space", "sampler_options")}
    if cal.get("space", {}).get(model) is not None:
        out["space"] = cal["space"][model]
    options = model_sampler_options(cal, model)
    if options:
        out["sampler_options"] = options
    return out


def stage_plan(cfg: dict) -> dict[str, dict]:
    """Every stage's inputs and fingerprint, computed from the configuration alone.

    A stage's fingerprint hashes its inputs (the configuration keys it reads, the input data
    files' hashes, the package version) and its upstream stages' fingerprints, so a change
    reruns the stage and everything downstream of it. Calibration stages also carry
    ``core``: the fingerprint without the screening thresholds; when only those changed the
    chains are reused (``run_sites`` resumes and re-screens), otherwise they are redone.

    Returns:
        ``{stage: {"inputs": ..., "upstream": [...], "fingerprint": str}}`` in run order.
    """
    version = _version()
    plan: dict[str, dict] = {}

    def add(name: str, inputs: dict, upstream: list[str], **extra) -> None:
        ups = {u: plan[u]["fingerprint"] for u in upstream}
        plan[name] = {"inputs": inputs, "upstream": ups, "version": version,
                      "fingerprint": _digest([inputs, ups, version]), **extra}

    # data.generators is dropped when unset, so configurations without it keep their
    # fingerprints (and their finished stages)
    data = {k: v for k, v in cfg["data"].items() if k != "generators" or v is not None}
    add("data", {"data": data, "seed": cfg["seed"], "files": _input_files(cfg)}, [])
    cal = {k: v for k, v in cfg["calibration"].items() if k not in _NOT_RESULTS}
    screening = _SCREENING if cal.get("max_segments") is None else ("nse_min",)
    core = {k: v for k, v in cal.items() if k not in screening}
    for m in cfg["models"]:
        inputs = {"model": m, "seed": cfg["seed"], "calibration": _model_calibration(cal, m)}
        add(f"calibrate_{m}", inputs, ["data"],
            core=_digest([{**inputs, "calibration": _model_calibration(core, m)},
                          plan["data"]["fingerprint"],
                          version]))
    for m in cfg["models"]:
        add(f"network_{m}", {"model": m, "seed": cfg["seed"], "network": cfg["network"]},
            ["data", f"calibrate_{m}"])
    every = [f"{s}_{m}" for s in ("calibrate", "network") for m in cfg["models"]]
    # your own data without a map grid: maps and analyses are skipped when they run (the
    # grid is known only once the data is read) and the report says so
    add("maps", {"models": cfg["models"]}, ["data", *every])
    add("analyses", {"models": cfg["models"], "seed": cfg["seed"]}, ["data", "maps", *every])
    report_after = ["analyses"]
    if len(cfg["models"]) > 1:  # per-site PSIS-LOO, stacking, held-out skill (docs/comparison.md)
        add("comparison", {"models": cfg["models"], "seed": cfg["seed"]}, ["data", *every])
        report_after.append("comparison")
    add("report", {"models": cfg["models"], "preset": cfg["preset"]}, report_after)
    return plan


def _input_files(cfg: dict) -> dict[str, str]:
    """Hashes of the data files the configuration reads (none for the virtual world).

    Keys: ``path`` (``path.<k>`` for the k-th of a list), ``climate.path`` (likewise; a
    glob is expanded, sorted) and ``covariates``.
    """
    d = cfg["data"]
    climate = d.get("climate") or {}
    values = {"path": d.get("path"), "climate.path": climate.get("path"),
              "covariates": d.get("covariates")}
    out: dict[str, str] = {}
    for key, value in values.items():
        items = [value] if isinstance(value, str) else list(value or [])
        for k, v in enumerate(items):
            name = key if len(items) == 1 else f"{key}.{k}"
            p = Path(v).expanduser()
            if set("*?[") & set(v):
                matches = sorted(p.parent.glob(p.name))
                out[name] = _digest([[m.name, file_hash(m)] for m in matches])
            else:
                out[name] = file_hash(p)
    return dict(sorted(out.items()))


def _outputs(name: str, out: Path, virtual: bool = True) -> list[Path]:
    """Files a finished stage has written (a missing one means: redo the stage)."""
    if name == "data":  # your own data: nothing is written (its files are fingerprinted)
        return [out / "data"] if virtual else []
    kind, _, model = name.partition("_")
    return {
        "calibrate": [out / "calibration" / model / "site_table.nc"],
        "network": [out / "network" / f"{model}_ensemble.npz",
                    out / "network" / f"{model}_sites.nc"],
        "maps": [out / "maps"],
        "analyses": [out / "analyses.json", out / "analyses_components.nc"],
        "comparison": [out / "comparison" / "site_comparison.nc",
                       out / "comparison" / "summary.json"],
        "report": [out / "report.md", out / "summary.json"],
    }[kind]


class _Stages:
    """Stage markers (``out/stages/<name>.json``): fingerprint, inputs, status, timings."""

    def __init__(self, out: Path, plan: dict[str, dict], force: bool) -> None:
        self.out = out
        self.dir = out / STAGE_DIR
        self.plan = plan
        self.force = force
        self.virtual = plan["data"]["inputs"]["data"]["source"] == "virtual_world"
        self.timings: dict[str, float] = {}

    def marker(self, name: str) -> dict | None:
        p = self.dir / f"{name}.json"
        try:
            return json.loads(p.read_text())
        except (OSError, ValueError):
            return None

    def done(self, name: str) -> bool:
        """Finished with the same fingerprint and its outputs present (``force``: redo all
        but the calibration, which resumes)."""
        if self.force and not name.startswith("calibrate_"):
            return False
        m = self.marker(name)
        outputs = [] if (m or {}).get("skipped") else _outputs(name, self.out, self.virtual)
        return (m is not None and m.get("status") == "done"
                and m.get("fingerprint") == self.plan[name]["fingerprint"]
                and all(p.exists() for p in outputs))

    def why(self, name: str) -> str:
        """Why a stage runs (for the log)."""
        m = self.marker(name)
        p = self.plan[name]
        if m is None:
            return "new"
        if m.get("fingerprint") != p["fingerprint"]:
            keys = _changed_keys(m.get("inputs", {}), p["inputs"])
            ups = [u for u, f in p["upstream"].items() if m.get("upstream", {}).get(u) != f]
            what = keys + [f"stage {u}" for u in ups]
            if m.get("version") != p["version"]:
                what.append(f"socmc {m.get('version')} -> {p['version']}")
            return "inputs changed: " + (", ".join(what) or "unknown")
        if m.get("status") != "done":
            return "resuming an unfinished run"
        if self.force and not name.startswith("calibrate_"):
            return "--force"
        return "outputs missing"

    def start(self, name: str) -> None:
        self._write(name, {"status": "running"})

    def mark(self, name: str, seconds: float, **info: Any) -> None:
        import resource

        self.timings[name] = seconds
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB -> MiB
        self._write(name, {"status": "done", "seconds": seconds,
                           "peak_rss_mib_so_far": peak, **info})

    def _write(self, name: str, info: dict) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        p = self.plan[name]
        body = {**info, "fingerprint": p["fingerprint"], "inputs": p["inputs"],
                "upstream": p["upstream"], "version": p["version"],
                **({"core": p["core"]} if "core" in p else {})}
        _write_json(self.dir / f"{name}.json", body)

    def seconds(self, name: str) -> float:
        m = self.marker(name) or {}
        return float(m.get("seconds", float("nan")))

    def forget_others(self) -> None:
        """Remove markers of stages this configuration does not have (e.g. a dropped model)."""
        for p in self.dir.glob("*.json"):
            if p.stem not in self.plan:
                p.unlink()


def _write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (a killed run never leaves half a marker)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


def _log(msg: str) -> None:
    print(f"[socmc {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------------------

def _world(cfg: dict, out: Path):
    """The data of the run: the virtual world, or your own files
    (:func:`surrogate.sources.user_world`: same attributes; ``grid`` may be ``None``)."""
    d = cfg["data"]
    if d["source"] != "virtual_world":
        from surrogate.sources import user_world

        return user_world(d, out, cfg["seed"])
    from socmodels.data import virtual_world

    return virtual_world(seed=cfg["seed"], resolution=d["resolution"], n_profiles=d["n_profiles"],
                         size=d["size"], out_dir=out / "data", noise_sd=d["noise_sd"],
                         generators=d.get("generators"))


def convergence_config(calibration: dict):
    """The run-until-converged criterion of ``calibration`` (None for a fixed budget)."""
    from inference import Convergence

    if calibration.get("max_segments") is None:
        return None
    return Convergence(rhat_max=calibration["rhat_max"], ess_bulk_min=calibration["ess_min"],
                       ess_tail_min=calibration["ess_min"],
                       max_segments=calibration["max_segments"])


def _calibrate(cfg: dict, out: Path, world, model: str, *, overwrite: bool = False):
    from inference import run_sites

    c = cfg["calibration"]
    return run_sites(world.profiles, world.forcing, model=model, sampler=sampler_config(c, model),
                     output_dir=out / "calibration" / model, likelihood=c["likelihood"],
                     num_chains=c["num_chains"], seed=cfg["seed"], num_draws=c["num_draws"],
                     chunk_size=c["chunk_size"], workers=c.get("workers") or os.cpu_count(),
                     invalid="skip", rhat_max=c["rhat_max"],
                     nse_min=c["nse_min"], ess_min=c.get("ess_min", 0.0),
                     convergence=convergence_config(c), overwrite=overwrite,
                     space=c.get("space", {}).get(model)).table


def _network(cfg: dict, out: Path, world, model: str, table):
    import xarray as xr

    from socmodels import get_model
    from surrogate import (
        MinMaxScaler,
        TrainConfig,
        best_guess_ensemble,
        heldout_indices,
        save_ensemble,
    )

    mod = get_model(model)
    n = cfg["network"]
    cov = site_covariates(world, table)
    names = list(cov.columns)
    if world.grid is not None:  # scale with the ranges over the map's cells (as PRODA)
        grid_x = np.stack([np.asarray(world.grid[v].values).ravel() for v in names], axis=1)
        scaler = MinMaxScaler.fit(grid_x[np.all(np.isfinite(grid_x), axis=1)], names=names)
    else:  # no covariate grid: the ranges over the sites
        scaler = MinMaxScaler.fit(cov.to_numpy(float), names=names)
    x = scaler.transform(cov.to_numpy(float))
    y = unit_means(table)
    kept = np.asarray(table["kept"].values, bool)
    held = heldout_indices(len(y), fraction=n["heldout_fraction"], seed=cfg["seed"])
    n_train = int(np.sum(kept & ~np.isin(np.arange(len(y)), held)))
    _log(f"  {model}: {int(kept.sum())} of {len(y)} sites pass the screening (R-hat <="
         f" {cfg['calibration']['rhat_max']}, NSE > {cfg['calibration']['nse_min']});"
         f" {len(held)} held out; {n_train} for training")
    if n_train < 4:
        raise RuntimeError(
            f"{model}: only {n_train} screened sites are left to train the network. Run the"
            " samplers longer (calibration.num_warmup/num_samples) or relax"
            " calibration.rhat_max / nse_min in the config.")
    tc = TrainConfig(hidden=tuple(n["hidden"]), dropout=n["dropout"], loss=n["loss"],
                     max_epochs=n["max_epochs"], patience=n["patience"],
                     epochs_per_call=n["epochs_per_call"])
    ens = best_guess_ensemble(x, y, n_members=n["n_members"], mask=kept, exclude=held,
                              config=tc, seed=cfg["seed"], scaler=scaler,
                              param_names=mod.PARAMETERS.names, progress=True)
    save_ensemble(ens, out / "network" / f"{model}_ensemble.npz")
    split = xr.Dataset({"kept": ("site", kept),
                        "heldout": ("site", np.isin(np.arange(len(y)), held))},
                       coords={"site": table["site"].values})
    from surrogate._proda import cf_site_split
    split = cf_site_split(split, model)
    split.to_netcdf(out / "network" / f"{model}_sites.nc")
    return ens


def run_pipeline(cfg: dict, *, force: bool = False) -> dict:
    """Run (or resume) the pipeline described by ``cfg`` (see :func:`load_config`).

    A stage runs when it has no finished marker, when the fingerprint of its inputs changed
    (:func:`stage_plan`; everything downstream follows) or when its outputs are missing;
    otherwise it is skipped without loading anything. ``force`` redoes every stage but the
    calibration, which resumes its finished sites.

    Args:
        cfg: A validated configuration (:func:`load_config`).
        force: Redo the finished non-calibration stages.

    Returns:
        The headline numbers (also in ``out/summary.json``).
    """
    from surrogate.config import validate_config

    cfg = validate_config(cfg)
    out = Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    plan = stage_plan(cfg)
    st = _Stages(out, plan, force)
    if st.dir.exists():
        st.forget_others()
    todo = [name for name in plan if not st.done(name)]
    if not todo:
        _write_json(out / "config.json", cfg)
        _log(f"every stage is up to date; nothing to do ({out / 'report.md'})")
        return json.loads((out / "summary.json").read_text())
    # Written before any work, so the folder always says what is (being) run; the markers
    # of the stages say which configuration each output comes from.
    _write_json(out / "config.json", cfg)
    from inference import enable_compilation_cache

    cache = enable_compilation_cache()
    _log(f"stages to run: {', '.join(todo)}" + (f" (JAX cache {cache})" if cache else ""))
    for sub in ("network", "maps", "figures", "calibration"):
        (out / sub).mkdir(exist_ok=True)
    t_all = time.perf_counter()

    @functools.cache
    def world():
        d = cfg["data"]
        clim = d.get("climate") or {}
        _log(f"stage 1/6 data: virtual world (seed {cfg['seed']}, {d.get('n_profiles')}"
             f" profiles, {d.get('resolution')} deg grid)" if d["source"] == "virtual_world"
             else f"stage 1/6 data: {d['source']} profiles from {d.get('path')}, climate"
             f" ({clim.get('kind')}) from {clim.get('path')}")
        t0 = time.perf_counter()
        w = _world(cfg, out)  # deterministic; rebuilt when a later stage needs it
        if "data" in todo and not st.done("data"):
            st.mark("data", time.perf_counter() - t0,
                    profiles=int(w.profiles.sizes["profile"]))
        return w

    if "data" in todo:
        _log(f"stage data: {st.why('data')}")
        world()

    tables = {}
    for model in cfg["models"]:
        name = f"calibrate_{model}"
        path = out / "calibration" / model
        if name not in todo:
            from inference import load_site_table

            tables[model] = load_site_table(path)
            continue
        marker = st.marker(name)
        overwrite = marker is not None and marker.get("core") != plan[name]["core"]
        _log(f"stage 2/6 calibrate {model} ({st.why(name)}): {cfg['calibration']['sampler']},"
             f" {cfg['calibration']['num_chains']} chains per site" +
             (" (redoing every site)" if overwrite else
              " (resuming finished sites)" if path.exists() else ""))
        w = world()
        st.start(name)
        t0 = time.perf_counter()
        tables[model] = _calibrate(cfg, out, w, model, overwrite=overwrite)
        st.mark(name, time.perf_counter() - t0)

    ensembles = {}
    for model in cfg["models"]:
        name = f"network_{model}"
        if name not in plan:
            continue
        if name not in todo and st.done(name):
            from surrogate import load_ensemble

            ensembles[model] = load_ensemble(out / "network" / f"{model}_ensemble.npz")
            continue
        _log(f"stage 3/6 network {model} ({st.why(name)}): screening + best-guess ensemble")
        w = world()
        st.start(name)
        t0 = time.perf_counter()
        ensembles[model] = _network(cfg, out, w, model, tables[model])
        st.mark(name, time.perf_counter() - t0)

    from surrogate import _proda

    for name, label, fn in (("maps", "maps: parameter maps and SOC maps (customary and PRODA)",
                             _proda.make_maps),
                            ("analyses", "analyses", _proda.make_analyses)):
        if name not in plan or st.done(name):
            continue
        _log(f"stage {4 if name == 'maps' else 5}/6 {label} ({st.why(name)})")
        w = world()
        st.start(name)
        if w.grid is None:  # your own data without a map grid: nothing to map
            note = "; ".join(w.info.get("notes", [])) or "no map grid"
            _log(f"  skipped: {note}")
            st.mark(name, 0.0, skipped=True, note=note)
            continue
        t0 = time.perf_counter()
        fn(cfg, out, w, tables, ensembles)
        st.mark(name, time.perf_counter() - t0)

    if "comparison" in plan and not st.done("comparison"):
        _log(f"stage 5b/6 model comparison ({st.why('comparison')}): per-site PSIS-LOO,"
             " stacking weights, held-out skill")
        from surrogate.comparison import make_comparison

        w = world()
        st.start("comparison")
        t0 = time.perf_counter()
        make_comparison(cfg, out, w, tables, ensembles)
        st.mark("comparison", time.perf_counter() - t0)

    if st.done("report"):
        summary = json.loads((out / "summary.json").read_text())
    else:
        _log(f"stage 6/6 report ({st.why('report')})")
        w = world()
        (st.dir / "report.json").unlink(missing_ok=True)  # no stale timing in the report
        t0 = time.perf_counter()
        make = _proda.make_report if w.grid is not None else _site_report
        summary = make(cfg, out, w, tables, st)
        summary["total_seconds"] = time.perf_counter() - t_all
        _write_json(out / "summary.json", summary)
        st.mark("report", time.perf_counter() - t0)
    _log(f"done in {time.perf_counter() - t_all:.0f} s: {out / 'report.md'}")
    return summary


def _site_report(cfg: dict, out: Path, world, tables: dict, stages) -> dict:
    """``report.md`` of a run on your own data without a map grid: calibration, screening,
    held-out skill (``world``: :class:`surrogate.sources.UserWorld` with ``grid`` None)."""
    from surrogate import _proda, load_ensemble

    d, c = cfg["data"], cfg["calibration"]
    note = "; ".join(world.info.get("notes", [])) or "there is no map grid"
    lines = ["# socmc PRODA report (your own data)", "",
             f"Data: `{d['source']}` from `{d['path']}`"
             f" ({int(world.profiles.sizes['profile'])} profiles after screening), climate"
             f" ({d['climate']['kind']}) from `{d['climate']['path']}`; network covariates:"
             f" {', '.join(map(str, world.covariates.columns))}. Sampler: {c['sampler']}"
             f" ({c['num_warmup']} warm-up + {c['num_samples']} iterations x"
             f" {c['num_chains']} chains{_proda._segments_text(c)}), likelihood {c['likelihood']}"
             f"{_proda._space_text(c)}. Screening: {_proda._screening_text(c)}.", "",
             f"**Maps and map analyses skipped:** {note}.", ""]
    res: dict = {"models": {}}
    for m in cfg["models"]:
        t = tables[m]
        r: dict = {"sites": _proda.site_summary(t, world)}
        path = out / "network" / f"{m}_ensemble.npz"
        if f"network_{m}" in stages.plan and path.exists():
            r["heldout"] = _proda._heldout_skill(cfg, out, world, m, load_ensemble(path), t)
        res["models"][m] = r
    flags = plausibility_flags(res)
    if flags:
        lines += ["**Implausible numbers (check before using them):**", ""]
        lines += [f"- {f}" for f in flags] + [""]
    lines += ["| model | sites calibrated / kept | median site NSE | median max R-hat |"
              " held-out pooled NSE [68 % CI] |", "|---|---|---|---|---|"]
    for m, r in res["models"].items():
        h = r.get("heldout")
        held = (f"{h['nse']:.2f} [{h['nse_lo']:.2f}, {h['nse_hi']:.2f}] (n ="
                f" {h['n_profiles']})" if h else "no network")
        s = r["sites"]
        lines.append(f"| {m.upper()} | {s['n']} / {s['kept']} | {s['median_nse']:.2f} |"
                     f" {s['median_max_rhat']:.3f} | {held} |")
    lines += ["", "## Stage timings (s)", ""]
    lines += [f"- {n}: {stages.seconds(n):.1f}" for n in stages.plan if n != "report"]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    (out / "analyses.json").write_text(json.dumps(res, indent=1, default=float))
    return {"heldout_nse": {m: r["heldout"]["nse"] for m, r in res["models"].items()
                            if "heldout" in r},
            "kept_sites": {m: r["sites"]["kept"] for m, r in res["models"].items()},
            "flags": flags}

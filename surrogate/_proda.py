"""Maps, analyses and the report of the PRODA pipeline (used by :mod:`surrogate.pipeline`).

Each function reads what earlier stages wrote and writes NetCDF files under ``out/``:
``maps/<model>.nc`` (parameter maps, SOC maps with customary and PRODA parameters),
``analyses.nc`` and ``analyses.json`` (headline numbers), ``figures/*.png`` and
``report.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from inference.metrics import nse
from socmodels import batch, get_model, has_capability
from socmodels import netcdf as cf
from surrogate import analysis as A
from surrogate.predict import predict_unit


def _steady_states(mod, theta: np.ndarray, forcing):
    """``(soc (n, 20), pools (n, P, 20), stock_1m (n,), feasible (n,))`` as NumPy
    (:func:`socmodels.batch.steady_states`)."""
    r = batch.steady_states(mod, theta, forcing, fields=("soc", "pools", "stock_1m", "feasible"))
    return r["soc"], r["pools"], r["stock_1m"], r["feasible"]


def _grid_covariates(world, names) -> np.ndarray:
    cells = world.grid_cells
    j, i = np.asarray(cells["j"]), np.asarray(cells["i"])
    return np.stack([np.asarray(world.grid[v].values)[j, i] for v in names], axis=1)


def _to_map(world, values: np.ndarray) -> np.ndarray:
    """Land-cell values (n_cells, ...) -> (..., lat, lon) array with NaN at sea."""
    cells = world.grid_cells
    j, i = np.asarray(cells["j"]), np.asarray(cells["i"])
    shape = (world.grid.sizes["lat"], world.grid.sizes["lon"])
    v = np.asarray(values, float)
    out = np.full(v.shape[1:] + shape, np.nan)
    out[..., j, i] = np.moveaxis(v, 0, -1)
    return out


def customary_theta(model: str, table, cells_forcing) -> np.ndarray:
    """The paper's 'customary' parameters: CLM5 defaults; COMPAS the mean site posterior mean.

    CLM5: :func:`socmodels.clm5.customary_theta` (tech-note defaults, texture rule per cell).
    COMPAS: mean over the kept sites of the site posterior means in the unit cube (paper,
    ``docs/original_code.md`` §3.2), mapped to physical units.
    """
    mod = get_model(model)
    if not has_capability(mod, "CUSTOMARY_FROM_POSTERIOR"):
        return np.asarray(mod.customary_theta(cells_forcing))
    from surrogate.inputs import unit_means

    u = unit_means(table)
    kept = np.asarray(table["kept"].values, bool)
    u_bar = np.nanmean(u[kept] if kept.any() else u, axis=0)
    n = len(np.asarray(cells_forcing.cellsand))
    return np.broadcast_to(np.asarray(mod.PARAMETERS.to_physical(u_bar)), (n, len(u_bar))).copy()


def make_maps(cfg: dict, out: Path, world, tables: dict, ensembles: dict) -> None:
    """Parameter maps (ensemble median and spread) and SOC maps per model."""
    lat, lon = world.grid["lat"].values, world.grid["lon"].values
    for model in cfg["models"]:
        mod = get_model(model)
        ens = ensembles[model]
        x = _grid_covariates(world, ens.scaler.names if ens.scaler.names else None)
        members = predict_unit(ens, x)                         # (m, n_cells, d), clipped
        u_med = np.median(members, axis=0)
        theta = np.asarray(mod.PARAMETERS.to_physical(u_med))
        soc, pools, s1m, feas = _steady_states(mod, theta, world.grid_forcing)
        th_c = customary_theta(model, tables[model], world.grid_forcing)
        soc_c, pools_c, s1m_c, feas_c = _steady_states(mod, th_c, world.grid_forcing)
        names = list(mod.PARAMETERS.names)
        ds = xr.Dataset(
            {
                "theta": (("parameter", "lat", "lon"), _to_map(world, theta)),
                "theta_unit_std": (("parameter", "lat", "lon"),
                                   _to_map(world, members.std(axis=0))),
                # infeasible steady states are not shown (NaN), never clipped
                "stock_1m": (("lat", "lon"), _to_map(world, np.where(feas, s1m, np.nan))),
                "stock_1m_customary": (("lat", "lon"),
                                       _to_map(world, np.where(feas_c, s1m_c, np.nan))),
                "feasible": (("lat", "lon"), _to_map(world, feas.astype(float))),
                "feasible_customary": (("lat", "lon"), _to_map(world, feas_c.astype(float))),
            },
            coords={"parameter": names, "lat": lat, "lon": lon},
            attrs={"model": mod.NAME, "stock_units": "gC m-2 (0-1 m)",
                   "theta": "PRODA parameters (ensemble median), physical units"},
        )
        ds = _cf_maps(ds, mod)
        ds.to_netcdf(out / "maps" / f"{model}.nc")
        np.savez_compressed(out / "maps" / f"{model}_cells.npz", theta=theta, pools=pools,
                            theta_customary=th_c, pools_customary=pools_c, feasible=feas)


def _cf_maps(ds: xr.Dataset, mod) -> xr.Dataset:
    """CF-1.10 metadata of a ``maps/<model>.nc`` dataset (see :mod:`socmodels.netcdf`)."""
    name = mod.NAME
    cf.describe(ds["theta"], None, f"{name} PRODA parameters (ensemble median), physical units")
    cf.describe(ds["theta_unit_std"], "1",
                f"{name} ensemble spread (std) of the PRODA parameters in the unit cube")
    for var, which in (("stock_1m", "PRODA"), ("stock_1m_customary", "customary")):
        cf.describe(ds[var], "g m-2", f"{name} soil organic carbon stock 0-1 m (grams of"
                    f" carbon), {which} parameters; NaN where infeasible",
                    standard_name="soil_mass_content_of_carbon")
    for var, which in (("feasible", "PRODA"), ("feasible_customary", "customary")):
        cf.describe(ds[var], None, f"{name} steady state feasible, {which} parameters",
                    flag_values=np.array([0.0, 1.0]), flag_meanings="infeasible feasible")
    ds = cf.add_parameter_units(ds, mod.PARAMETERS, variables=["theta"],
                                unit_cube=["theta_unit_std"])
    ds = cf.add_lat_lon(ds)
    return cf.set_conventions(ds, f"{name} PRODA parameter and SOC maps (socmc)")


def cf_site_split(ds: xr.Dataset, model: str) -> xr.Dataset:
    """CF metadata of the network stage's site split (``network/<model>_sites.nc``)."""
    cf.describe(ds["site"], None if ds["site"].dtype.kind in "OUS" else "1",
                "site (profile) identifier")
    cf.describe(ds["kept"], None, "site passed the R-hat and NSE screening")
    cf.describe(ds["heldout"], None, "site held out from network training (skill test)")
    return cf.set_conventions(ds, f"{model}: screened and held-out sites of the network stage")


def _heldout_skill(cfg, out, world, model: str, ens, table) -> dict:
    """Pooled NSE of PRODA-predicted SOC at held-out profiles (never used in training)."""
    from inference.likelihoods import lognormal
    from inference.sites import read_profiles
    from surrogate.inputs import site_covariates

    mod = get_model(model)
    split = xr.open_dataset(out / "network" / f"{model}_sites.nc")
    held_ids = [str(s) for s in split["site"].values[split["heldout"].values.astype(bool)]]
    split.close()
    prof, _ = read_profiles(world.profiles, lognormal(), invalid="skip")
    ids = [str(s) for s in prof.site_id]
    rows = [ids.index(s) for s in held_ids if s in ids]
    cov = site_covariates(world, table.sel(site=table["site"].values[
        np.isin([str(s) for s in table["site"].values], held_ids)]))
    u = np.median(predict_unit(ens, cov.to_numpy(float)), axis=0)
    theta = np.asarray(mod.PARAMETERS.to_physical(u))
    pid = [str(p) for p in world.profiles["profile_id"].values]
    site_rows = np.array([pid.index(s) for s in cov.index])
    forcing = jax.tree_util.tree_map(lambda a: np.asarray(a)[site_rows], world.forcing)
    soc, _, _, feas = _steady_states(mod, theta, forcing)
    from socmodels import observe
    pred = np.asarray(jax.vmap(observe)(jnp.asarray(soc), jnp.asarray(prof.depth[rows])))
    obs, mask = prof.obs[rows], prof.mask[rows]
    groups = np.repeat(np.arange(len(rows)), obs.shape[1]).reshape(obs.shape)
    boot = A.nse_bootstrap(pred[mask], obs[mask], groups=groups[mask], n_boot=500,
                           seed=cfg["seed"])
    return {"nse": float(boot["nse"]), "nse_lo": float(boot["nse_lower"]),
            "nse_hi": float(boot["nse_upper"]), "n_profiles": len(rows),
            "n_layers": int(mask.sum()), "feasible_fraction": float(np.mean(feas))}


def _r2(a, b) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if a.size < 3 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1] ** 2)


def _recovery(world, model: str, table, maps: xr.Dataset) -> dict:
    """How well the truth was recovered (virtual world only).

    * ``site_r2``: true vs posterior-mean parameters (unit cube) over the sites whose
      observations this model generated (``truth.generating_model``; in a "mixed" world
      the other sites have no true parameters of this model);
    * ``map_r2``: true vs PRODA-predicted parameter maps over land cells;
    * ``soc_map``: log-SOC correlation and NSE of the PRODA 0-1 m stock map against the
      model's true stock map.
    """
    mod = get_model(model)
    truth = world.truth
    out: dict = {}
    gens = _world_generators(world, model)
    if model not in gens:
        # a pure world of another model: this model's "truth" generated nothing, so there
        # is nothing of it to recover; its SOC map is scored against the world's true SOC
        out["n_sites_generated"] = 0
        if len(gens) == 1:
            out["world_generator"] = gens[0]
            out.update(_soc_skill(np.asarray(truth[f"{gens[0]}_stock_1m_map"].values), maps))
        return out
    if f"{model}_theta" in truth:
        pid = [str(p) for p in np.asarray(truth["profile_id"].values)]
        ids = [str(s) for s in np.asarray(table["site"].values)]
        rows = np.array([pid.index(s) for s in ids])
        own = np.ones(len(rows), bool)
        if "generating_model" in truth:
            own = np.asarray(truth["generating_model"].values)[rows] == model
        t_u = np.asarray(mod.PARAMETERS.to_unit(np.asarray(truth[f"{model}_theta"].values)[rows]))
        m_u = np.asarray(mod.PARAMETERS.to_unit(np.asarray(table["mean"].values)))
        out["n_sites_generated"] = int(own.sum())
        out["site_r2"] = {n: _r2(t_u[own, k], m_u[own, k])
                          for k, n in enumerate(mod.PARAMETERS.names)}
    mkey = f"{model}_theta_map"
    if mkey in truth:
        tm = np.asarray(mod.PARAMETERS.to_unit(np.moveaxis(np.asarray(truth[mkey].values), 0, -1)))
        pm = np.asarray(mod.PARAMETERS.to_unit(np.moveaxis(maps["theta"].values, 0, -1)))
        out["map_r2"] = {n: _r2(tm[..., k].ravel(), pm[..., k].ravel())
                         for k, n in enumerate(mod.PARAMETERS.names)}
    skey = f"{model}_stock_1m_map"
    if skey in truth:
        out.update(_soc_skill(np.asarray(truth[skey].values), maps))
    return out


def _world_generators(world, model: str) -> list[str]:
    """The models that generated the world's profiles (``[model]`` for an older world)."""
    if "generating_model" not in world.truth:
        return [model]
    return sorted({str(g) for g in np.asarray(world.truth["generating_model"].values)})


def _soc_skill(true_map: np.ndarray, maps: xr.Dataset) -> dict:
    """Log-SOC r and NSE of the PRODA and customary 0-1 m stock maps against ``true_map``."""
    t = true_map.ravel()
    out = {}
    for var, label in (("stock_1m", "soc_map"), ("stock_1m_customary", "soc_map_customary")):
        p = np.asarray(maps[var].values).ravel()
        ok = np.isfinite(t) & np.isfinite(p) & (t > 0) & (p > 0)
        lt, lp = np.log(t[ok]), np.log(p[ok])
        out[label] = {"log_r": float(np.corrcoef(lt, lp)[0, 1]), "log_nse": float(nse(lp, lt))}
    return out


def site_summary(table, world) -> dict:
    """Calibration and screening counts of one model's site table.

    ``n``, ``kept``, ``median_nse``, ``median_max_rhat``; on a world with a truth that records
    each profile's generating model (the virtual world), also ``by_generator``: ``{model: {"n",
    "converged", "kept"}}`` over the sites each model generated. In a mixed world a model is
    also calibrated on profiles the other model generated, and there a converged posterior
    can still fit worse than the profile's mean (NSE <= 0): the kept fraction then measures
    model structure, not the sampler, and the split shows which.
    """
    t = table
    out = {"n": int(t.sizes["site"]), "kept": int(np.sum(t["kept"].values)),
           "median_nse": float(np.nanmedian(t["nse"].values)),
           "median_max_rhat": float(np.nanmedian(t["max_r_hat"].values))}
    truth = getattr(world, "truth", None)
    if truth is not None and "generating_model" in truth and "profile_id" in truth:
        gen = dict(zip((str(p) for p in truth["profile_id"].values),
                       (str(g) for g in truth["generating_model"].values), strict=True))
        by_site = np.array([gen.get(str(s), "") for s in t["site"].values])
        converged = np.asarray(t["stop_reason"].values).astype(str) == "converged" \
            if "stop_reason" in t else np.ones(by_site.shape, bool)
        kept = np.asarray(t["kept"].values, bool)
        out["by_generator"] = {str(g): {"n": int(np.sum(by_site == g)),
                                   "converged": int(np.sum(converged & (by_site == g))),
                                   "kept": int(np.sum(kept & (by_site == g)))}
                               for g in sorted(set(by_site) - {""})}
    return out


def make_analyses(cfg: dict, out: Path, world, tables: dict, ensembles: dict) -> None:
    maps = {m: xr.load_dataset(out / "maps" / f"{m}.nc") for m in cfg["models"]}
    area = A.cell_area(world.grid["lat"].values, world.grid["lon"].values)
    res: dict = {"models": {}}
    comps = {}
    for model in cfg["models"]:
        mod = get_model(model)
        ds = maps[model]
        cells = np.load(out / "maps" / f"{model}_cells.npz")
        r: dict = {}
        r["total_PgC_proda"] = float(A.global_total(ds["stock_1m"], area))
        r["total_PgC_customary"] = float(A.global_total(ds["stock_1m_customary"], area))
        r["feasible_cells_fraction"] = float(np.nanmean(ds["feasible"].values))
        r["heldout"] = _heldout_skill(cfg, out, world, model, ensembles[model], tables[model])
        t = tables[model]
        r["sites"] = site_summary(t, world)
        r["recovery"] = _recovery(world, model, t, ds)
        if has_capability(mod, "site_components"):
            c = A.components(mod, jnp.asarray(cells["theta"]), world.grid_forcing,
                             jnp.asarray(cells["pools"]))
            comps[model] = {k: _to_map(world, np.asarray(v)) for k, v in c._asdict().items()}
        if has_capability(mod, "site_michaelis_ratios"):
            ratio = A.michaelis_ratios(jnp.asarray(cells["theta"]), world.grid_forcing,
                                       jnp.asarray(cells["pools"]), model=mod)
            r["michaelis_gt100_fraction"] = {
                k: float(A.first_order_fraction(np.asarray(v))) for k, v in
                (ratio._asdict().items() if hasattr(ratio, "_asdict") else ratio.items())}
        res["models"][model] = r
    pair = list(comps)[:2]  # the first two models with components are compared
    if len(pair) == 2:
        m1, m2 = pair
        before = A.log_correlation(maps[m1]["stock_1m_customary"], maps[m2]["stock_1m_customary"])
        after = A.log_correlation(maps[m1]["stock_1m"], maps[m2]["stock_1m"])
        res["log_soc_correlation"] = {"customary": float(before["r"]),
                                      "proda": float(after["r"])}
        cc = {}
        for k in ("cte", "k", "xi", "v", "b", "carbon_input"):
            a, b = comps[m1][k], comps[m2][k]
            ok = np.isfinite(a) & np.isfinite(b)
            cc[k] = float(np.corrcoef(a[ok], b[ok])[0, 1]) if ok.sum() > 2 and a[ok].std() > 0 \
                and b[ok].std() > 0 else float("nan")
        res["component_correlation"] = cc
    comp_ds = xr.Dataset({f"{m}_{k}": (("lat", "lon"), v) for m, c in comps.items()
                          for k, v in c.items()},
                         coords={"lat": world.grid["lat"].values, "lon": world.grid["lon"].values})
    for m in comps:
        for k in comps[m]:
            cf.describe(comp_ds[f"{m}_{k}"], A.COMPONENT_UNITS[k],
                        f"{get_model(m).NAME} {A.COMPONENT_LONG_NAMES[k]} (PRODA parameters)")
    comp_ds = cf.add_lat_lon(cf.set_conventions(
        comp_ds, "system-level components of the PRODA-calibrated models (socmc)"))
    comp_ds.to_netcdf(out / "analyses_components.nc")
    (out / "analyses.json").write_text(json.dumps(res, indent=1, default=float))


def _figures(cfg: dict, out: Path, world, tables: dict) -> list[tuple[str, str]]:
    """Draw the report's figures (:mod:`surrogate.plots`); returns ``(path, caption)`` pairs."""
    from surrogate import plots

    figs: list[tuple[str, str]] = []
    fdir = out / "figures"
    models = list(cfg["models"])
    names = {m: get_model(m).NAME for m in models}
    maps = {m: xr.load_dataset(out / "maps" / f"{m}.nc") for m in models}
    land = np.asarray(world.grid["land"].values, bool) if "land" in world.grid else None

    def add(fig, name: str, caption: str) -> None:
        plots.save(fig, fdir / name)
        figs.append((f"figures/{name}", caption))

    add(plots.soc_maps_figure(maps, land=land), "soc_maps.png",
        "SOC stock 0-1 m with customary (left) and PRODA (right) parameters; grey: land"
        " cells without a feasible steady state; pale blue: sea.")
    add(plots.latitudinal_figure(maps), "latitudinal.png",
        "Zonal median SOC stock 0-1 m, customary (dashed) and PRODA (solid) parameters.")
    comp_path = out / "analyses_components.nc"
    comp = xr.load_dataset(comp_path) if comp_path.exists() else xr.Dataset()
    pair = [m for m in models if f"{m}_cte" in comp][:2]
    if len(pair) == 2:
        add(plots.components_figure(comp, pair, names), "components.png",
            f"System-level components of {names[pair[0]]} (x) and {names[pair[1]]} (y) with"
            " PRODA parameters over land cells; dashed: 1:1; r of logs on log axes.")
    for m in models:
        mod = get_model(m)
        ds = maps[m]
        spread = np.nanstd(np.asarray(mod.PARAMETERS.to_unit(
            np.moveaxis(ds["theta"].values, 0, -1))).reshape(-1, len(mod.PARAMETERS)), axis=0)
        top = [mod.PARAMETERS.names[k] for k in np.argsort(-np.nan_to_num(spread))[:4]]
        add(plots.parameter_maps_figure(ds, top, land=land), f"parameter_maps_{m}.png",
            f"{names[m]} PRODA parameter maps (ensemble median) of the four parameters with"
            " the largest spatial spread in the unit cube.")
        mk = f"{m}_theta_map"
        if mk in world.truth and m in _world_generators(world, m):
            tu = np.asarray(mod.PARAMETERS.to_unit(np.moveaxis(world.truth[mk].values, 0, -1)))
            pu = np.asarray(mod.PARAMETERS.to_unit(np.moveaxis(ds["theta"].values, 0, -1)))
            add(plots.recovery_figure(tu, pu, list(mod.PARAMETERS.names), names[m]),
                f"recovery_{m}.png",
                f"{names[m]}: true vs PRODA-predicted parameter maps over land cells (unit"
                " cube), with the 1:1 line and r.")
    try:
        from inference import dashboard

        c = cfg["calibration"]
        for m in models:
            # the run's own screening thresholds (issue 12)
            fig = dashboard(tables[m], rhat_max=c["rhat_max"], nse_min=c["nse_min"])
            plots.outline_site_maps(fig)
            add(fig, f"diagnostics_{m}.png",
                f"{names[m]} site diagnostics; dashed red: this run's screening thresholds"
                f" (R-hat <= {c['rhat_max']}, NSE > {c['nse_min']}).")
    except Exception as exc:  # the report must not fail on a plotting problem
        print(f"[socmc] diagnostics dashboard skipped: {exc}")
    return figs


def write_html_report(markdown_text: str, out: Path, *, title: str = "socmc PRODA report"
                      ) -> Path:
    """``report.html`` beside ``report.md``: the same text with every figure embedded.

    Images are inlined as base64 PNG (no external assets), so the file can be mailed or
    attached as it is.

    Args:
        markdown_text: the report's Markdown (image paths relative to ``out``).
        out: the run's output folder.
        title: HTML title.

    Returns:
        The path written.
    """
    import base64
    import html
    import re

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown_text)

    def inline(m: re.Match) -> str:
        src = html.unescape(m.group(1))
        path = out / src
        if not path.exists():
            return m.group(0)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'src="data:image/png;base64,{data}"'

    body = re.sub(r'src="([^"]+\.png)"', inline, body)
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:2px 8px}"
             "img{max-width:100%}figure{margin:1em 0}")
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{style}</style></head>"
            f"<body>\n{body}</body></html>\n")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def make_report(cfg: dict, out: Path, world, tables: dict, stages) -> dict:
    res = json.loads((out / "analyses.json").read_text())
    figs = _figures(cfg, out, world, tables)
    lines = ["# socmc PRODA report", "",
             f"Preset `{cfg['preset']}`, seed {cfg['seed']}, data: {cfg['data']['source']}"
             f" ({int(world.profiles.sizes['profile'])} profiles, {len(world.grid_cells)} land"
             f" cells). Sampler: {cfg['calibration']['sampler']}"
             f" ({cfg['calibration']['num_warmup']} warm-up + {cfg['calibration']['num_samples']}"
             f" iterations x {cfg['calibration']['num_chains']} chains"
             f"{_segments_text(cfg['calibration'])}), likelihood"
             f" {cfg['calibration']['likelihood']}{_space_text(cfg['calibration'])}."
             f" Screening: {_screening_text(cfg['calibration'])}.",
             ""]
    if cfg["calibration"]["rhat_max"] > 1.05:
        lines += [f"**Note:** the R-hat threshold ({cfg['calibration']['rhat_max']}) is relaxed"
                  " from the paper's 1.05 because this run's chains are short; its numbers"
                  " illustrate the method, they are not converged posteriors. Use"
                  " `--preset paper` (or longer chains) for results.", ""]
    from surrogate.plausibility import plausibility_flags

    flags = plausibility_flags(res)
    if flags:
        lines += ["**Implausible numbers (check before using them):**", ""]
        lines += [f"- {f}" for f in flags] + [""]
    lines += ["## Headline numbers", ""]
    if "log_soc_correlation" in res:
        c = res["log_soc_correlation"]
        lines += [f"- Correlation of log SOC (0-1 m) between CLM5 and COMPAS maps: customary"
                  f" parameters r = {c['customary']:.3f}; PRODA parameters r = {c['proda']:.3f}"
                  f" ({'higher' if c['proda'] > c['customary'] else 'NOT higher'} after PRODA).",
                  ""]
    lines += ["| | " + " | ".join(m.upper() for m in res["models"]) + " |",
              "|---|" + "---|" * len(res["models"])]

    def row(label, fn):
        lines.append(f"| {label} | " + " | ".join(fn(r) for r in res["models"].values()) + " |")

    row("sites calibrated / kept (R-hat, NSE screening)",
        lambda r: f"{r['sites']['n']} / {r['sites']['kept']}")
    generators = sorted({g for r in res["models"].values()
                         for g in r["sites"].get("by_generator", {})})
    for g in generators:
        row(f"sites {g.upper()} generated: calibrated / kept",
            lambda r, g=g: (lambda b: f"{b['n']} / {b['kept']}")(r["sites"]["by_generator"][g])
            if g in r["sites"].get("by_generator", {}) else "")
    row("median site NSE (posterior mean)", lambda r: f"{r['sites']['median_nse']:.2f}")
    row("median site max R-hat", lambda r: f"{r['sites']['median_max_rhat']:.3f}")
    row("held-out profiles: pooled NSE of PRODA-predicted SOC [68 % CI]",
        lambda r: f"{r['heldout']['nse']:.2f} [{r['heldout']['nse_lo']:.2f},"
                  f" {r['heldout']['nse_hi']:.2f}] (n = {r['heldout']['n_profiles']})")
    row("global SOC 0-1 m, customary (Pg C)", lambda r: f"{r['total_PgC_customary']:.0f}")
    row("global SOC 0-1 m, PRODA (Pg C)", lambda r: f"{r['total_PgC_proda']:.0f}")
    row("feasible land cells (PRODA)", lambda r: f"{100 * r['feasible_cells_fraction']:.0f} %")
    lines.append("")
    if "component_correlation" in res:
        lines += ["Between-model correlation of system-level components (PRODA maps): " +
                  ", ".join(f"{k} {v:.2f}" for k, v in res["component_correlation"].items()), ""]
    for m_name, r_m in res["models"].items():
        if "michaelis_gt100_fraction" in r_m:
            mm = r_m["michaelis_gt100_fraction"]
            lines += [f"{get_model(m_name).NAME}: share of cell-layers whose Michaelis constant"
                      " exceeds 100x the substrate: "
                      + ", ".join(f"{k} {100 * v:.0f} %" for k, v in mm.items()), ""]
    if any(r.get("recovery") for r in res["models"].values()):  # no truth: your own data
        lines += ["## Truth recovery (virtual world)", "",
                  "SOC: the PRODA (and customary) 0-1 m stock maps against each model's true"
                  " stock map (log scale). Parameters: R² between true and recovered values in"
                  " the unit cube, for site posterior means (sites whose observations the model"
                  " generated) and for the PRODA parameter maps (all land cells). Low R² marks"
                  " parameters the profiles do not identify.", ""]
    for m, r in res["models"].items():
        rec = r.get("recovery", {})
        if rec.get("n_sites_generated") == 0:
            gen = rec.get("world_generator")
            lines.append(f"- {m.upper()} generated none of the profiles, so it has no truth to"
                         " recover" + (f"; its maps are scored against the true SOC of this"
                                       f" pure {gen.upper()} world" if gen else ""))
        against = "the world's true SOC" if rec.get("n_sites_generated") == 0 else "truth"
        for label, name in (("soc_map", "PRODA"), ("soc_map_customary", "customary")):
            if label in rec:
                lines.append(f"- {m.upper()} {name} SOC map vs {against}: log r ="
                             f" {rec[label]['log_r']:.2f}, NSE(log) = {rec[label]['log_nse']:.2f}")
    lines.append("")
    for m, r in res["models"].items():
        rec = r.get("recovery", {})
        if not rec or rec.get("n_sites_generated") == 0:
            continue
        names = list(rec.get("site_r2", rec.get("map_r2", {})).keys())
        lines += [f"### {m.upper()} (site R² over {rec.get('n_sites_generated', '?')} sites"
                  " generated by this model)", "", "| parameter | site R² | map R² |",
                  "|---|---|---|"]
        for n in names:
            s = rec.get("site_r2", {}).get(n, float("nan"))
            p = rec.get("map_r2", {}).get(n, float("nan"))
            lines.append(f"| {n} | {s:.2f} | {p:.2f} |")
        lines.append("")
    from surrogate.comparison import report_section

    cmp_lines, cmp_head = report_section(out)
    lines += cmp_lines
    lines += ["## Stage timings (s)", ""]
    for name in sorted(p.stem for p in (out / "stages").glob("*.json")):
        lines.append(f"- {name}: {stages.seconds(name):.1f}")
    lines += ["", "## Figures", ""]
    for f, caption in figs:
        lines += [f"![{caption}]({f})", "", f"*{caption}*", ""]
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text)
    write_html_report(text, out)
    summary = {"log_soc_correlation": res.get("log_soc_correlation"),
               "heldout_nse": {m: r["heldout"]["nse"] for m, r in res["models"].items()},
               "kept_sites": {m: r["sites"]["kept"] for m, r in res["models"].items()},
               "flags": flags, "model_comparison": cmp_head}
    return summary


def _segments_text(c: dict) -> str:
    """How long the chains ran (fixed budget or run until converged)."""
    if c.get("max_segments") is None:
        return ""
    return (f"; run until converged: segments of {c['num_samples']} iterations after the"
            f" warm-up, at most {c['max_segments']}")


def _space_text(c: dict) -> str:
    """Each model's sampler space and sampler options, in words."""
    from surrogate.config import model_names, model_sampler_options

    spaces = c.get("space") or {}
    text = "".join(f"; {m} sampled in its {s} space" for m, s in spaces.items())
    for m in model_names():
        options = model_sampler_options(c, m)
        if options:
            text += f"; {m} with " + ", ".join(f"{k}={v}" for k, v in options.items())
    return text


def _screening_text(c: dict) -> str:
    """The screening criterion, in words."""
    ess = f", bulk and tail ESS >= {c['ess_min']:g}" if c.get("ess_min") else ""
    return f"max split R-hat <= {c['rhat_max']}{ess} and NSE > {c['nse_min']}"


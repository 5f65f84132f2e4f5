"""Results on disk: chunk checkpoints (ArviZ DataTrees), the site table, and reading them.

On disk (``output_dir``)::

    run_config.json        the resolved configuration (checked on resume)
    chunks/chunk-<h>.nc    one ArviZ DataTree per finished chunk (groups posterior,
                           posterior_predictive, log_likelihood, observed_data,
                           constant_data, sample_stats, summary), written atomically
    skipped_sites.json     sites dropped by ``invalid="skip"`` and why
    site_table.nc          the site table (:mod:`inference.schema`)

File handling: every file of a run is read by :func:`read_groups`, which reads the bytes
into memory, parses them with netCDF4 from memory, loads what is asked and closes it. No
handle on a file of the run stays open and xarray's file cache is never used, so a user
who holds the same file open lazily (ArviZ/xarray) in the same process cannot make a later
read crash (it used to end in a segmentation fault). Writes go to a temporary file that
replaces the target atomically; all netCDF I/O holds one lock (the C libraries are not
thread-safe).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
import warnings
from pathlib import Path

import netCDF4
import numpy as np
import xarray as xr

from inference.config import RunConfig
from inference.convergence import Diagnostics
from inference.diagnostics import DEFAULT_NSE_MIN, DEFAULT_RHAT_MAX, screen, summarize
from inference.models import REJECTION_BITS, resolve_model
from inference.programs import Chunk, ChunkResult
from inference.schema import apply_schema, validate_site_table

__all__ = ["CHUNK_DIR", "TABLE_FILE", "SKIPPED_FILE", "CONFIG_FILE", "GROUPS",
           "CorruptCheckpointWarning", "read_groups", "write_atomic", "chunk_path",
           "chunk_tree", "completed_sites", "assemble_site_table", "write_table",
           "load_site_table", "load_site"]

CONFIG_FILE = "run_config.json"
TABLE_FILE = "site_table.nc"
SKIPPED_FILE = "skipped_sites.json"
CHUNK_DIR = "chunks"
GROUPS = ("posterior", "posterior_predictive", "log_likelihood", "observed_data",
          "constant_data", "sample_stats", "summary")

IO_LOCK = threading.RLock()
"""The netCDF/HDF5 C libraries are not thread-safe: all file I/O of the runner holds it."""


class CorruptCheckpointWarning(UserWarning):
    """A checkpoint could not be read (truncated or corrupt); it is moved aside and redone."""


def read_groups(path, groups=(None,)) -> dict:
    """Groups of a netCDF file, fully loaded into memory; no handle stays open.

    Args:
        path: the file.
        groups: group names (``None``: the root group).

    Returns:
        ``{group: xarray.Dataset}``.

    Raises:
        OSError or ValueError: the file is not a readable netCDF file (truncated, corrupt)
            or lacks a group.
    """
    data = Path(path).read_bytes()
    with IO_LOCK:
        nc = netCDF4.Dataset(f"inmemory-{uuid.uuid4().hex}.nc", mode="r", memory=data)
        try:
            out = {}
            for g in groups:
                if g is not None and g not in nc.groups:
                    raise ValueError(f"{path} has no group {g!r}")
                # not closed per group: closing the store would close ``nc``
                out[g] = xr.open_dataset(xr.backends.NetCDF4DataStore(nc, group=g)).load()
            return out
        finally:
            nc.close()


def write_atomic(obj: xr.Dataset | xr.DataTree, path: Path) -> None:
    """Write a Dataset or DataTree to ``path`` through a temporary file (atomic replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    try:
        with IO_LOCK:
            obj.to_netcdf(tmp, engine="netcdf4")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def chunk_path(output_dir, chunk: Chunk) -> Path:
    """Where ``chunk``'s checkpoint goes."""
    return Path(output_dir) / CHUNK_DIR / f"{chunk.name}.nc"


def _cf(ds: xr.Dataset) -> xr.Dataset:
    """``units``/``long_name`` on every variable lacking them, ``Conventions`` set."""
    for name in ds.variables:
        attrs = ds[name].attrs
        attrs.setdefault("long_name", name.replace("_", " "))
        attrs.setdefault("units", "1")
    ds.attrs["Conventions"] = "CF-1.10"
    return ds


def chunk_tree(chunk: Chunk, config: RunConfig, r: ChunkResult) -> xr.DataTree:
    """The checkpoint of one chunk: ArviZ groups plus the chunk's rows of the site table."""
    params = resolve_model(config.model).PARAMETERS
    prof = chunk.profiles
    ids = np.asarray(prof.site_id)
    if ids.dtype == object:
        ids = ids.astype(str)
    n_sites = len(ids)
    coords = {"site": ids, "chain": np.arange(config.num_chains),
              "draw": np.arange(config.n_keep), "layer": np.arange(config.n_layers)}
    scd = ("site", "chain", "draw")
    scd_coords = {k: coords[k] for k in scd}
    mask = prof.mask
    obs = np.where(mask, prof.obs, np.nan)
    # masked layers carry no information: NaN in the stored predictions
    pred = np.where(mask[:, None, None, :], r.pred, np.nan)
    loglik = np.where(mask[:, None, None, :], r.loglik, np.nan)
    attrs = {"model": config.model, "sampler": config.sampler.name,
             "likelihood": str(config.likelihood), "created_by": "socmc inference.run_sites",
             "run_config": json.dumps(config.to_dict())}
    posterior = xr.Dataset({p.name: (scd, r.theta[..., k]) for k, p in enumerate(params)},
                           coords=scd_coords, attrs=attrs)
    for p in params:
        posterior[p.name].attrs.update(units=p.unit, long_name=p.meaning)
    layer4 = (*scd, "layer")
    ppc = xr.Dataset({"soc": (layer4, r.y_rep)}, coords=coords)
    ppc["soc"].attrs.update(units="gC m-3", long_name="posterior-predictive SOC density")
    ll = xr.Dataset({"soc": (layer4, loglik)}, coords=coords)
    ll["soc"].attrs.update(units="1", long_name="pointwise log-likelihood of the observed"
                           " SOC density")
    observed = xr.Dataset({"soc": (("site", "layer"), obs)},
                          coords={"site": ids, "layer": coords["layer"]})
    observed["soc"].attrs.update(units="gC m-3", long_name="observed SOC density")
    constant = xr.Dataset({"depth": (("site", "layer"), prof.depth),
                           "mask": (("site", "layer"), mask),
                           "soc_pred": (layer4, pred)}, coords=coords)
    constant["depth"].attrs.update(units="m", long_name="depth of the observed layer")
    constant["mask"].attrs.update(units="1", long_name="valid observed layer")
    constant["soc_pred"].attrs.update(units="gC m-3", long_name="model prediction at the"
                                      " observed depths (no observation error)")
    stats = xr.Dataset({"lp": (scd, r.lp), "diverging": (scd, r.diverging),
                        "n_steps": (scd, r.n_steps)}, coords=scd_coords)
    stats["lp"].attrs.update(units="1", long_name="log posterior density (sampler space)")

    summary = summarize(r.theta, r.pred, prof.obs, mask, site_ids=ids,
                        parameter_names=params.names)
    if r.diagnostics is not None:  # run until converged: the statistics the criterion saw
        diag = Diagnostics(*r.diagnostics)
        for name, values in zip(("r_hat", "ess_bulk", "ess_tail"), diag, strict=True):
            summary[name] = (("site", "parameter"), np.asarray(values, float))
        summary["max_r_hat"] = ("site", diag.max_r_hat)
        summary["min_ess_bulk"] = ("site", diag.min_ess_bulk)
        summary["min_ess_tail"] = ("site", diag.min_ess_tail)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows of failed sites
        summary["mean_unit"] = (("site", "parameter"), np.nanmean(r.u, axis=(1, 2))
                                if n_sites else np.zeros((0, len(params))))
        flat_u = np.asarray(r.u, float).reshape(n_sites, -1, len(params))
        summary["sd_unit"] = (("site", "parameter"), np.nanstd(flat_u, axis=1, ddof=1)
                              if n_sites else np.zeros((0, len(params))))
    acc = np.asarray(r.acceptance, float)
    summary["acceptance_rate"] = ("site", acc.mean(axis=1))
    summary["chain_acceptance_rate"] = (("site", "chain"), acc)
    summary["rejected_fraction"] = (("site", "reason"), np.asarray(r.rejected_fraction, float))
    summary = summary.assign_coords(reason=list(REJECTION_BITS))
    summary["n_divergent"] = ("site", np.asarray(r.n_divergent, int))
    summary["n_evals"] = ("site", np.asarray(r.n_evals, float))
    summary["wall_time"] = ("site", np.asarray(r.site_time, float) if r.site_time is not None
                            else np.full(n_sites, r.wall_time / max(n_sites, 1)))
    summary["cpu_time"] = ("site", np.asarray(r.site_cpu, float) if r.site_cpu is not None
                           else np.full(n_sites, np.nan))
    summary["n_segments"] = ("site", np.asarray(r.n_segments if r.n_segments is not None
                                                else np.ones(n_sites), int))
    summary["compile_time"] = ("site", np.full(n_sites, r.compile_time))
    summary["n_layers"] = ("site", mask.sum(axis=1))
    summary["lat"] = ("site", prof.lat)
    summary["lon"] = ("site", prof.lon)
    summary["status"] = ("site", np.asarray(r.status, dtype=object))
    summary["stop_reason"] = ("site", np.asarray(
        r.stop_reason if r.stop_reason is not None else
        np.where(np.asarray(r.status) == "ok", "budget", np.asarray(r.status))).astype(object))
    summary["chunk"] = ("site", np.full(n_sites, chunk.name, dtype=object))
    fp = chunk.fingerprints if chunk.fingerprints is not None else np.full(n_sites, "")
    summary["input_fingerprint"] = ("site", np.asarray(fp, dtype=object))
    summary = apply_schema(summary, {p.name: p.unit for p in params})
    summary.attrs.update(attrs)
    groups = {"posterior": posterior, "posterior_predictive": ppc, "log_likelihood": ll,
              "observed_data": observed, "constant_data": constant, "sample_stats": stats,
              "summary": summary}
    root = xr.Dataset(attrs={"Conventions": "CF-1.10",
                             "title": f"{config.model} site posteriors ({chunk.name})"})
    return xr.DataTree.from_dict({"/": root, **{k: _cf(v) for k, v in groups.items()}})


def _set_aside(path: Path, err: Exception) -> None:
    bad = path.with_name(path.name + f".corrupt-{uuid.uuid4().hex[:8]}")
    warnings.warn(f"checkpoint {path} is unreadable ({type(err).__name__}: {err}); moved to"
                  f" {bad.name}, its sites will be recomputed", CorruptCheckpointWarning,
                  stacklevel=3)
    os.replace(path, bad)


def completed_sites(output_dir, fingerprints: dict[str, str] | None = None,
                    ) -> dict[str, Path]:
    """``{str(site_id): chunk file}`` for every site with a valid checkpoint.

    An unreadable (truncated, corrupt) chunk file is reported with a
    :class:`CorruptCheckpointWarning` naming it and moved aside. With ``fingerprints``
    (``{site: digest}`` of the current inputs), a chunk file holding a site whose stored
    digest differs is reported and removed: its sites are stale and will be recomputed.
    """
    done: dict[str, Path] = {}
    for path in sorted((Path(output_dir) / CHUNK_DIR).glob("chunk-*.nc")):
        try:
            summary = read_groups(path, ["summary"])["summary"]
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            _set_aside(path, err)
            continue
        sites = [str(s) for s in np.asarray(summary["site"].values)]
        if fingerprints is not None:
            stored = (np.asarray(summary["input_fingerprint"].values).astype(str)
                      if "input_fingerprint" in summary else np.full(len(sites), ""))
            stale = [s for s, f in zip(sites, stored, strict=True)
                     if s in fingerprints and fingerprints[s] != f]
            if stale:
                warnings.warn(f"checkpoint {path} was computed from other inputs (data,"
                              f" forcing, configuration or package version) for sites"
                              f" {stale[:5]}{' ...' if len(stale) > 5 else ''}; recomputing"
                              " them", stacklevel=2)
                path.unlink()
                continue
        for s in sites:
            done[s] = path
    return done


def assemble_site_table(output_dir, site_order=None, skipped: dict | None = None, *,
                        rhat_max: float = DEFAULT_RHAT_MAX,
                        nse_min: float = DEFAULT_NSE_MIN, ess_min: float = 0.0) -> xr.Dataset:
    """Concatenate the chunks' summaries into the site table (in ``site_order``); ``kept``
    by :func:`inference.diagnostics.screen` with the given thresholds."""
    paths = sorted((Path(output_dir) / CHUNK_DIR).glob("chunk-*.nc"))
    if not paths:
        raise FileNotFoundError(f"no checkpoints in {Path(output_dir) / CHUNK_DIR}")
    parts = [read_groups(p, ["summary"])["summary"] for p in paths]
    table = xr.concat(parts, dim="site", data_vars="all", coords="minimal", compat="override",
                      join="outer")
    attrs = parts[0].attrs
    if site_order is not None:
        by_str = {str(s): i for i, s in enumerate(np.asarray(table["site"].values))}
        rows = [by_str.get(str(s), -1) for s in site_order]
        table = table.isel(site=[r for r in rows if r >= 0])
        missing = [s for s, r in zip(site_order, rows, strict=True) if r < 0]
        if missing:
            filler = table.isel(site=[0] * len(missing)).copy(deep=True)
            for v in filler.variables:
                if v in filler.dims:
                    continue
                kind = filler[v].dtype.kind
                if kind == "f":
                    filler[v].values[:] = np.nan
                elif kind in "iub":
                    filler[v].values[:] = 0
                else:
                    filler[v] = filler[v].copy(data=np.full(filler[v].shape, "", dtype=object))
            filler["status"] = ("site", np.full(len(missing), "skipped", dtype=object))
            filler["stop_reason"] = ("site", np.full(len(missing), "skipped", dtype=object))
            filler = filler.assign_coords(site=np.asarray(missing).astype(
                table["site"].dtype if table["site"].dtype.kind != "O" else str))
            table = xr.concat([table, filler], dim="site", data_vars="all", coords="minimal",
                              compat="override", join="outer")
            order = {str(s): i for i, s in enumerate(np.asarray(table["site"].values))}
            table = table.isel(site=[order[str(s)] for s in site_order])
        if skipped:
            reason = np.array([skipped.get(s, skipped.get(str(s), ""))
                               for s in np.asarray(table["site"].values)], dtype=object)
            table["skip_reason"] = ("site", reason)
    table["kept"] = screen(table, rhat_max=rhat_max, nse_min=nse_min, ess_min=ess_min)
    table = apply_schema(table)
    table.attrs = dict(attrs, rhat_max=rhat_max, nse_min=nse_min, ess_min=ess_min,
                       Conventions="CF-1.10")
    validate_site_table(table)
    return table


def write_table(table: xr.Dataset, path: Path) -> None:
    """Write the site table (``kept`` as int8: netCDF has no bool)."""
    t = table.copy()
    t["kept"] = t["kept"].astype("int8")
    write_atomic(t, path)


def load_site_table(output_dir) -> xr.Dataset:
    """The site table of a finished run (assembled from the checkpoints if needed)."""
    path = Path(output_dir) / TABLE_FILE
    if path.exists():
        try:
            t = read_groups(path)[None]
        except (OSError, ValueError, RuntimeError) as err:
            warnings.warn(f"site table {path} is unreadable ({type(err).__name__}: {err});"
                          " assembling it from the checkpoints", CorruptCheckpointWarning,
                          stacklevel=2)
        else:
            t["kept"] = t["kept"].astype(bool)
            return t
    return assemble_site_table(output_dir)


def load_site(output_dir, site_id) -> xr.DataTree:
    """One site's results as an ArviZ DataTree (dims chain, draw; valid layers only).

    Groups: ``posterior`` (one variable per parameter, physical units),
    ``posterior_predictive`` / ``log_likelihood`` / ``observed_data`` (``soc`` over
    ``layer``), ``constant_data`` (``depth``, ``soc_pred``), ``sample_stats``.
    Works directly with ``arviz_stats`` (``loo``, ``summary``, ...). The file is read into
    memory and closed (see the module docstring).

    Raises:
        KeyError: the site has no checkpoint in ``output_dir``.
    """
    done = completed_sites(output_dir)
    key = str(site_id)
    if key not in done:
        raise KeyError(f"site {site_id!r} has no checkpoint in {output_dir}")
    tree = read_groups(done[key], GROUPS)
    sites = [str(s) for s in np.asarray(tree["summary"]["site"].values)]
    i = sites.index(key)
    n_valid = int(np.asarray(tree["constant_data"]["mask"].values)[i].sum())
    out = {}
    for group in GROUPS[:-1]:
        ds = tree[group].isel(site=i, drop=True)
        if "layer" in ds.dims:
            ds = ds.isel(layer=slice(0, n_valid))
        out[group] = ds.drop_vars("mask", errors="ignore")
    out["posterior"].attrs = dict(tree["posterior"].attrs, site=key)
    return xr.DataTree.from_dict(out)

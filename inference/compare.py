"""AM vs NUTS (vs PRODA's sampler) on the same sites: cost per effective sample, agreement.

:func:`compare_methods` runs :func:`inference.run_sites` once per sampler on the same sites
(same seed, same likelihood) and returns one table. Cost is counted two ways: model
evaluations per effective sample (AM: one steady state per iteration; NUTS: one
steady state + VJP per leapfrog step, so NUTS's count understates its cost by the VJP/forward
ratio) and seconds per effective sample (sampling wall time without compilation). The
effective sample size is the smallest bulk ESS over parameters. Agreement is measured
against a reference sampler as ``z = (mean - mean_ref) / sd_ref`` per parameter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import xarray as xr

__all__ = ["compare_methods", "compare_tables"]


def compare_tables(tables: dict[str, xr.Dataset], *, reference: str | None = None) -> xr.Dataset:
    """The comparison table from finished site tables ``{sampler name: table}`` (same sites).

    The dimension is called ``sampler`` (not ``method``, which ``xarray.DataArray.sel``
    reserves for its own keyword).
    """
    methods = list(tables)
    reference = reference or methods[0]
    if reference not in tables:
        raise ValueError(f"reference '{reference}' is not among {methods}")
    ref = tables[reference]
    sites = ref["site"].values
    per_site = {}
    for name in ("wall_time", "n_evals", "min_ess_bulk", "min_ess_tail", "max_r_hat",
                 "acceptance_rate", "n_divergent", "nse", "kept"):
        per_site[name] = xr.concat([tables[m][name].sel(site=sites) for m in methods],
                                   dim="sampler")
    ds = xr.Dataset(per_site).assign_coords(sampler=methods)
    ess = ds["min_ess_bulk"].where(ds["min_ess_bulk"] > 0)
    ds["evals_per_ess"] = ds["n_evals"] / ess
    ds["seconds_per_ess"] = ds["wall_time"] / ess
    mean = xr.concat([tables[m]["mean"].sel(site=sites) for m in methods], dim="sampler")
    sd = xr.concat([tables[m]["sd"].sel(site=sites) for m in methods], dim="sampler")
    ds["mean"] = mean.assign_coords(sampler=methods)
    ds["sd"] = sd.assign_coords(sampler=methods)
    z = (ds["mean"] - ref["mean"].sel(site=sites)) / ref["sd"].sel(site=sites)
    ds["z_vs_reference"] = z
    ds["max_abs_z"] = np.abs(z).max("parameter")
    for name in ("evals_per_ess", "seconds_per_ess", "max_r_hat", "acceptance_rate",
                 "max_abs_z", "wall_time", "n_evals", "min_ess_bulk"):
        ds[f"median_{name}"] = ds[name].median("site")
    ds["fraction_kept"] = ds["kept"].astype(float).mean("site")
    ds.attrs["reference"] = reference
    return ds


def compare_methods(profiles: xr.Dataset, forcing, model: str = "clm5",
                    samplers: Sequence = ("am", "nuts", "proda_compat"), *, output_dir,
                    reference: str | None = None, **run_options) -> xr.Dataset:
    """Run each sampler on the same sites and compare them.

    Args:
        profiles, forcing, model: As for :func:`inference.run_sites`.
        samplers (sequence):
            Names or configs (:mod:`inference.samplers`); each runs in
            ``<output_dir>/<sampler name>``.
        reference (str, optional):
            Sampler name the posterior means are compared with (default: ``"nuts"`` if present,
            else the first).
        **run_options:
            Passed to :func:`inference.run_sites` (``num_chains``, ``seed``, ``likelihood``,
            ``chunk_size``, ...).

    Returns:
        xarray.Dataset:
            dims (sampler, site): ``wall_time, n_evals, min_ess_bulk, evals_per_ess,
            seconds_per_ess, max_r_hat, acceptance_rate, n_divergent, nse, kept,
            max_abs_z``; (sampler, site, parameter): ``mean, sd, z_vs_reference``; (sampler):
            ``median_*`` and ``fraction_kept``. ``.to_dataframe()`` on the (sampler) variables
            gives a one-row-per-sampler table.
    """
    from inference.run import run_sites
    from inference.samplers import get_sampler

    configs = [get_sampler(s) for s in samplers]
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise ValueError(f"sampler names must be distinct, got {names}")
    tables = {}
    for cfg in configs:
        run = run_sites(profiles, forcing, model, cfg, output_dir=Path(output_dir) / cfg.name,
                        **run_options)
        tables[cfg.name] = run.table
    if reference is None:
        reference = "nuts" if "nuts" in tables else names[0]
    return compare_tables(tables, reference=reference)

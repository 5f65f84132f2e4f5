"""The site table: one row per site, written and validated here only.

:func:`inference.run_sites` writes ``site_table.nc`` (and returns the same Dataset);
:func:`inference.load_site_table` reads it. Dimensions: ``site`` (coordinate: the profile
id; ``lat``, ``lon`` are coordinates along it), ``parameter`` (the model's parameter names)
and ``chain``. Global attributes: ``Conventions = "CF-1.10"``, ``model``, ``sampler``,
``likelihood``, ``run_config`` (JSON), ``rhat_max``, ``nse_min``.

Variables (every one carries ``units`` and ``long_name``):

{table}

``status`` is ``"ok"``, ``"init_failed"`` (no chain found a feasible start) or
``"skipped"`` (the profile failed validation; ``skip_reason`` says why). Summaries of
``init_failed`` and ``skipped`` sites are NaN and ``kept`` is False for them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import xarray as xr

__all__ = ["Variable", "SITE_TABLE", "STOP_REASONS", "apply_schema", "validate_site_table",
           "schema_table"]

CONVENTIONS = "CF-1.10"
STOP_REASONS = ("converged", "budget", "init_failed", "skipped")
"""``converged``: the run-until-converged criterion held (:class:`inference.Convergence`);
``budget``: every configured iteration was run (without meeting the criterion, if one was
set); ``init_failed``: no feasible start; ``skipped``: not run."""


class Variable(NamedTuple):
    """One site-table variable: dims, units (UDUNITS; ``"1"`` dimensionless), meaning."""

    dims: tuple[str, ...]
    units: str
    long_name: str
    required: bool = True


_SP = ("site", "parameter")
SITE_TABLE: dict[str, Variable] = {
    "mean": Variable(_SP, "parameter units", "posterior mean of the parameter"),
    "sd": Variable(_SP, "parameter units", "posterior standard deviation"),
    "q05": Variable(_SP, "parameter units", "posterior 5% quantile"),
    "q50": Variable(_SP, "parameter units", "posterior median"),
    "q95": Variable(_SP, "parameter units", "posterior 95% quantile"),
    "mean_unit": Variable(_SP, "1", "posterior mean of the parameter's unit-cube value u"
                          " (the surrogate network's regression target)"),
    "sd_unit": Variable(_SP, "1", "posterior standard deviation of u (prior: 1/sqrt(12))",
                        required=False),
    "r_hat": Variable(_SP, "1", "rank-normalized split R-hat (ArviZ)"),
    "ess_bulk": Variable(_SP, "1", "bulk effective sample size (ArviZ)"),
    "ess_tail": Variable(_SP, "1", "tail effective sample size (ArviZ)"),
    "mcse_mean": Variable(_SP, "parameter units", "Monte Carlo standard error of the mean"),
    "nse": Variable(("site",), "1", "Nash-Sutcliffe efficiency of the posterior-mean"
                    " prediction at the observed layers"),
    "max_r_hat": Variable(("site",), "1", "largest R-hat over parameters"),
    "min_ess_bulk": Variable(("site",), "1", "smallest bulk ESS over parameters"),
    "min_ess_tail": Variable(("site",), "1", "smallest tail ESS over parameters"),
    "acceptance_rate": Variable(("site",), "1", "mean acceptance rate of the kept"
                                " iterations over chains (NUTS: mean acceptance"
                                " probability)"),
    "chain_acceptance_rate": Variable(("site", "chain"), "1", "acceptance rate per chain"),
    "rejected_fraction": Variable(("site", "reason"), "1", "fraction of all proposals"
                                  " (chains, warm-up included) rejected for each reason; a"
                                  " proposal may have several; NaN where the sampler does"
                                  " not report it (NUTS)"),
    "n_divergent": Variable(("site",), "1", "divergent transitions after warm-up (NUTS)"),
    "n_evals": Variable(("site",), "1", "log-density evaluations, all chains, starts included"
                        " (NUTS: gradient evaluations, i.e. leapfrog steps)"),
    "wall_time": Variable(("site",), "s", "sampling wall time without compilation: the"
                          " site's share of the warm-up and of each segment it ran (a"
                          " segment's time divided by the sites in it)"),
    "cpu_time": Variable(("site",), "s", "sampling CPU time (core-seconds) shared the same"
                         " way as wall_time: the process's CPU time, so exact with one worker"
                         " and an upper bound when worker threads share the process"),
    "compile_time": Variable(("site",), "s", "compilation time of the site's chunk"),
    "n_segments": Variable(("site",), "1", "segments of num_samples iterations drawn after"
                           " warm-up (1 for a fixed budget)"),
    "n_layers": Variable(("site",), "1", "number of valid observed layers"),
    "status": Variable(("site",), "1", "outcome: ok, init_failed or skipped"),
    "stop_reason": Variable(("site",), "1", "why sampling stopped: " + ", ".join(STOP_REASONS)),
    "chunk": Variable(("site",), "1", "name of the checkpoint file holding the site's draws"),
    "input_fingerprint": Variable(("site",), "1", "digest of the site's inputs, the run"
                                  " configuration and the package version"),
    "kept": Variable(("site",), "1", "passed screening (R-hat <= rhat_max, NSE > nse_min,"
                     " bulk and tail ESS >= ess_min, status ok)"),
    "skip_reason": Variable(("site",), "1", "why the profile was skipped", required=False),
}
COORDINATES: dict[str, Variable] = {
    "lat": Variable(("site",), "degrees_north", "latitude"),
    "lon": Variable(("site",), "degrees_east", "longitude"),
    "site": Variable(("site",), "1", "profile id"),
    "parameter": Variable(("parameter",), "1", "parameter name"),
    "reason": Variable(("reason",), "1", "rejection reason: the model's failure bits"
                       " (nonfinite, negative, density_cap, no_positive_root, mic_fraction),"
                       " infeasible_other, prediction (unusable at an observed depth),"
                       " outside_prior"),
}


def schema_table() -> str:
    """The schema as a Markdown table (rendered into this docstring and the docs)."""
    rows = ["| variable | dims | units | long_name |", "| --- | --- | --- | --- |"]
    for name, v in {**COORDINATES, **SITE_TABLE}.items():
        rows.append(f"| `{name}` | {', '.join(v.dims)} | {v.units} | {v.long_name} |")
    return "\n".join(rows)


__doc__ = __doc__.format(table=schema_table())


def apply_schema(table: xr.Dataset, parameter_units: dict[str, str] | None = None,
                 ) -> xr.Dataset:
    """Set coordinates, ``units``/``long_name`` and ``Conventions`` on a site table.

    Args:
        table: the assembled table (modified copy returned).
        parameter_units: units of each parameter (stored as ``parameter_units`` on the
            parameter-unit variables, whose ``units`` cannot be one string for all rows).
    """
    t = table.copy()
    coords = [c for c in ("lat", "lon") if c in t.data_vars]
    if coords:
        t = t.set_coords(coords)
    for name, v in {**COORDINATES, **SITE_TABLE}.items():
        if name in t.variables:
            t[name].attrs.update(units=v.units, long_name=v.long_name)
    for name, standard_name in (("lat", "latitude"), ("lon", "longitude")):
        if name in t.variables:  # CF: the axes tools look for
            t[name].attrs["standard_name"] = standard_name
    if parameter_units:
        units = " ".join(f"{k}: {u}" for k, u in parameter_units.items())
        for name, v in SITE_TABLE.items():
            if v.units == "parameter units" and name in t:
                t[name].attrs["parameter_units"] = units
    for name in ("status", "stop_reason", "chunk", "skip_reason", "input_fingerprint"):
        if name in t:  # variable-length strings: never truncated to the longest value
            t[name] = t[name].astype(object)
    t.attrs["Conventions"] = CONVENTIONS
    return t


def validate_site_table(table: xr.Dataset) -> None:
    """Raise ``ValueError`` naming every variable that is missing or has the wrong dims."""
    problems = []
    for name, v in {**COORDINATES, **SITE_TABLE}.items():
        if name not in table.variables:
            if v.required:
                problems.append(f"missing {name!r}")
            continue
        if tuple(table[name].dims) != v.dims:
            problems.append(f"{name!r} has dims {tuple(table[name].dims)}, expected {v.dims}")
        for attr in ("units", "long_name"):
            if attr not in table[name].attrs:
                problems.append(f"{name!r} lacks the attribute {attr!r}")
    status = np.asarray(table["status"].values).astype(str) if "status" in table else []
    bad = sorted(set(status) - {"ok", "init_failed", "skipped"})
    if bad:
        problems.append(f"unknown status values {bad}")
    if problems:
        raise ValueError("site table does not follow inference.schema: " + "; ".join(problems))

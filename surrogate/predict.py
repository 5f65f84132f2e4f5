"""Covariate grids -> parameter maps (Tao et al. 2024 §2.7; ``docs/original_code.md`` §6.2, §6.4).

Pipeline: grid covariates --:class:`~surrogate.scaling.MinMaxScaler`--> [0, 1] --ensemble-->
unit-cube parameters --clip to [1e-4, 1]--> physical parameters
(``ParameterTable.to_physical``) --> one map per member --> median and spread.

The original clips grid predictions with ``> 1 -> 1`` and ``<= 0 -> 1e-4`` and leaves
values in (0, 1e-4) unchanged; :func:`clip_unit` clips to [1e-4, 1], which differs from
that by less than 1e-4 in unit space and keeps every rate finite (Q16: ``tau = 0`` at
``u = 0`` for parameters whose lower bound is 0).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import jax
import numpy as np
import xarray as xr

from socmodels.netcdf import add_lat_lon, cf_units, set_conventions
from surrogate.scaling import MinMaxScaler, as_array_scaler
from surrogate.train import Ensemble

__all__ = [
    "UNIT_FLOOR",
    "QUANTILES",
    "clip_unit",
    "predict_unit",
    "predict_members",
    "summarize_ensemble",
    "predict_maps",
]

UNIT_FLOOR = 1e-4
"""Lower clip of unit-cube predictions (original: ``kp <= 0 -> 1e-4``)."""

QUANTILES = (0.14, 0.86)
"""Percentiles of the ensemble spread used for the GCB summary bands (§6.4)."""


def clip_unit(u, *, floor: float = UNIT_FLOOR) -> np.ndarray:
    """Clip unit-cube predictions to ``[floor, 1]`` (NaN stays NaN)."""
    return np.clip(np.asarray(u), floor, 1.0)


def _scale(ensemble: Ensemble, x, scaler: MinMaxScaler | None, scaled: bool) -> np.ndarray:
    if scaled:
        return np.asarray(x, dtype=np.float64)
    s = as_array_scaler(scaler if scaler is not None else ensemble.scaler)
    if s is None:
        raise ValueError("no scaler: pass scaler=..., train with scaler=..., or pass"
                         " already scaled covariates with scaled=True")
    return s.transform(x)


def predict_unit(ensemble: Ensemble, covariates, *, scaler: MinMaxScaler | None = None,
                 scaled: bool = False, clip: bool = True) -> np.ndarray:
    """Unit-cube predictions ``(members, n, d)`` for covariates ``(n, p)``.

    Args:
        ensemble (Ensemble): Trained networks.
        covariates (array (n, p)):
            Raw covariates (scaled with ``scaler`` or ``ensemble.scaler``) or, with
            ``scaled=True``, already scaled ones. Rows containing NaN give NaN predictions.
        clip (bool): Clip to ``[1e-4, 1]`` (:func:`clip_unit`).
    """
    x = _scale(ensemble, covariates, scaler, scaled)
    if x.ndim != 2:
        raise ValueError(f"covariates must have shape (n, p); got {x.shape}")
    ok = np.all(np.isfinite(x), axis=1)
    out = np.full((len(ensemble), x.shape[0], ensemble.n_out), np.nan, np.float32)
    if ok.any():
        out[:, ok] = ensemble.predict(x[ok])
    return clip_unit(out) if clip else out


def _stack_covariates(covariates, names: Sequence[str] | None, covariate_dim: str):
    """Return (matrix (n_cells, p), spatial dims, spatial coords, spatial shape)."""
    if isinstance(covariates, xr.Dataset):
        if names is None:
            names = list(covariates.data_vars)
        missing = [n for n in names if n not in covariates]
        if missing:
            raise ValueError(f"covariate grid lacks variables {missing}")
        da = xr.concat([covariates[n] for n in names], dim=covariate_dim)
    elif isinstance(covariates, xr.DataArray):
        if covariate_dim not in covariates.dims:
            raise ValueError(f"the covariate DataArray needs a '{covariate_dim}' dimension")
        da = covariates
    else:
        raise TypeError("covariates must be an xarray Dataset (one variable per covariate)"
                        " or a DataArray with a covariate dimension")
    da = da.transpose(..., covariate_dim)
    space_dims = da.dims[:-1]
    shape = da.shape[:-1]
    coords = {d: da.coords[d] for d in space_dims if d in da.coords}
    return np.asarray(da.values, dtype=np.float64).reshape(-1, da.shape[-1]), space_dims, \
        coords, shape


def predict_members(ensemble: Ensemble, covariates, *, table=None,
                    scaler: MinMaxScaler | None = None, names: Sequence[str] | None = None,
                    space: str = "physical", covariate_dim: str = "covariate",
                    member_dim: str = "member", scaled: bool = False) -> xr.Dataset:
    """Parameter maps of every ensemble member.

    Args:
        ensemble (Ensemble): Trained networks.
        covariates (xr.Dataset or xr.DataArray):
            Grid covariates: a Dataset with one variable per covariate on spatial dims (e.g.
            ``lat, lon``), or a DataArray with an extra ``covariate_dim``. Variables are taken
            in the order ``names`` -> ``scaler.names`` (fitted columns) -> Dataset order.
            Cells with any NaN
            covariate are NaN in the output (they are not predicted).
        table (ParameterTable, optional):
            Parameter table (``socmodels`` CLM5/COMPAS); gives variable names, units and the
            unit -> physical map. Required for ``space="physical"``.
        scaler (MinMaxScaler, optional): Defaults to ``ensemble.scaler``.
        space ({"physical", "unit"}):
            Output space; unit-cube values are clipped to [1e-4, 1] in both cases.
        scaled (bool): The covariates are already scaled to [0, 1] (no scaler is applied).

    Returns:
        xr.Dataset: One variable per parameter with dims ``(member, *spatial dims)``.
    """
    if space not in ("physical", "unit"):
        raise ValueError("space must be 'physical' or 'unit'")
    s = as_array_scaler(scaler if scaler is not None else ensemble.scaler)
    if names is None and s is not None:
        names = s.names
    x, space_dims, coords, shape = _stack_covariates(covariates, names, covariate_dim)
    u = predict_unit(ensemble, x, scaler=s, scaled=scaled)
    values = u.astype(np.float64)
    if space == "physical":
        if table is None:
            raise ValueError("space='physical' needs the parameter table (table=...)")
        # row-wise through the table's own map (vmap: no implicit rank promotion)
        flat = values.reshape(-1, values.shape[-1])
        values = np.asarray(jax.vmap(table.to_physical)(flat)).reshape(values.shape)
    if table is not None:
        if len(table) != ensemble.n_out:
            raise ValueError(f"table has {len(table)} parameters; the ensemble predicts"
                             f" {ensemble.n_out}")
        pnames = list(table.names)
    elif ensemble.param_names is not None:
        pnames = list(ensemble.param_names)
    else:
        pnames = [f"p{i}" for i in range(ensemble.n_out)]
    values = values.reshape((len(ensemble), *shape, ensemble.n_out))
    dims = (member_dim, *space_dims)
    ds = xr.Dataset(coords={**coords, member_dim: ensemble.member_ids})
    for i, name in enumerate(pnames):
        attrs = {"space": space}
        if table is not None:
            attrs.update(units=cf_units(table[i].unit) if space == "physical" else "1",
                         long_name=table[i].meaning)
        ds[name] = xr.DataArray(values[..., i], dims=dims, attrs=attrs)
    ds.attrs.update(ensemble_kind=ensemble.kind, n_members=len(ensemble), seed=ensemble.seed,
                    unit_clip=f"[{UNIT_FLOOR}, 1]")
    return ds


def summarize_ensemble(members: xr.Dataset, *, dim: str = "member",
                       quantiles: tuple[float, float] = QUANTILES) -> xr.Dataset:
    """Ensemble median and spread of every variable.

    For each variable ``v`` returns ``v`` (median over ``dim``), ``v_std`` (standard
    deviation, ddof 0), ``v_p14`` and ``v_p86`` (the ``quantiles``, default 14th/86th
    percentiles as in the GCB summary bands). NaNs are ignored member-wise.
    """
    out = xr.Dataset(coords={k: v for k, v in members.coords.items() if dim not in v.dims})
    lo, hi = quantiles
    with warnings.catch_warnings():
        # cells that are NaN in every member (no covariates) stay NaN silently
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        warnings.filterwarnings("ignore", "Degrees of freedom", RuntimeWarning)
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        for name, da in members.data_vars.items():
            _summarize_var(out, name, da, dim, lo, hi)
    out.attrs.update(members.attrs)
    out.attrs["summary_over"] = dim
    return out


def _summarize_var(out: xr.Dataset, name: str, da: xr.DataArray, dim: str, lo: float,
                   hi: float) -> None:
    """Add the median, std and two quantiles of ``da`` over ``dim`` to ``out``."""
    if dim not in da.dims:
        out[name] = da
        return
    out[name] = da.median(dim, skipna=True).assign_attrs(da.attrs, statistic="median")
    out[f"{name}_std"] = da.std(dim, skipna=True).assign_attrs(da.attrs, statistic="std")
    q = da.quantile([lo, hi], dim=dim, skipna=True)
    out[f"{name}_p{round(100 * lo)}"] = q.isel(quantile=0, drop=True).assign_attrs(
        da.attrs, statistic=f"quantile {lo}")
    out[f"{name}_p{round(100 * hi)}"] = q.isel(quantile=1, drop=True).assign_attrs(
        da.attrs, statistic=f"quantile {hi}")


def predict_maps(ensemble: Ensemble, covariates, *, table=None,
                 scaler: MinMaxScaler | None = None, names: Sequence[str] | None = None,
                 space: str = "physical", covariate_dim: str = "covariate",
                 quantiles: tuple[float, float] = QUANTILES, scaled: bool = False) -> xr.Dataset:
    """Parameter maps: ensemble median (variables = parameter names) and spread.

    ``predict_members`` followed by :func:`summarize_ensemble`. For a best-guess ensemble
    the median is the map the GCB figures use; for a bootstrap ensemble ``*_std`` and
    ``*_p14``/``*_p86`` are the uncertainty maps.
    """
    members = predict_members(ensemble, covariates, table=table, scaler=scaler, names=names,
                              space=space, covariate_dim=covariate_dim, scaled=scaled)
    maps = summarize_ensemble(members, quantiles=quantiles)
    if table is not None and "lat" in maps.dims and "lon" in maps.dims:
        # CF-1.10, so that maps.to_netcdf(...) writes a file CF tools read (socmodels.netcdf)
        maps = add_lat_lon(maps)
        set_conventions(maps, f"{table.model} PRODA parameter maps (socmc)")
    return maps

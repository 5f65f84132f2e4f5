"""CF-1.10 metadata for every NetCDF file the project writes, and a small checker.

The helpers add what CF-aware tools (xarray/cf-xarray, Panoply, CDO, ncview) need to
recognise a file: the global ``Conventions``, ``units`` and ``long_name`` (and
``standard_name`` where the CF standard-name table has one) on every variable, latitude and
longitude coordinates with units and cell bounds on grids.

Parameters along a ``parameter`` dimension have one unit each, which a single ``units``
attribute cannot express. The CF-friendly way used here: an auxiliary string coordinate
``<dim>_units`` along that dimension (e.g. ``parameter_units("parameter")``) holds the
UDUNITS unit of every parameter, and the data variable names it in its ``units_coordinate``
attribute instead of carrying a ``units`` attribute (it has ``long_name`` as usual). CF tools
show the coordinate beside the values; :func:`parameter_units_of` reads it back.

Units are written as UDUNITS strings: the carbon unit ``gC`` of the model tables becomes
``g`` (the long names say "carbon"), ``yr`` is UDUNITS' year, ``1`` is dimensionless.

Functions:
    :func:`cf_units`, :func:`describe`, :func:`add_lat_lon`, :func:`add_parameter_units`,
    :func:`set_conventions`, :func:`cf_problems`, :func:`parameter_units_of`.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

import numpy as np
import xarray as xr

__all__ = ["CONVENTIONS", "STANDARD_NAMES", "cf_units", "describe", "add_lat_lon",
           "add_parameter_units", "set_conventions", "cf_problems", "parameter_units_of"]

CONVENTIONS = "CF-1.10"

#: CF standard names used by the project, with their canonical units (CF standard-name table).
STANDARD_NAMES: dict[str, str] = {
    "latitude": "degrees_north",
    "longitude": "degrees_east",
    "soil_mass_content_of_carbon": "kg m-2",
    "cell_area": "m2",
    "depth": "m",
    "air_temperature": "K",
    "soil_temperature": "K",
    "net_primary_productivity_of_biomass_expressed_as_carbon": "kg m-2 s-1",
    "land_binary_mask": "1",
    "soil_carbon_content": "kg m-2",
}

_LAT_NAMES = ("lat", "latitude")
_LON_NAMES = ("lon", "longitude")


def cf_units(unit: str) -> str:
    """A model-table unit as a UDUNITS string (``gC m-3`` -> ``g m-3``, ``1 (per cm)`` -> ``1``).

    Args:
        unit: unit as written in the project's tables and docs.

    Returns:
        The UDUNITS form (the carbon in ``gC``/``kgC`` moves to the long name).
    """
    u = re.sub(r"\s*\(.*?\)\s*", "", str(unit)).strip()
    u = re.sub(r"\b(k?g)C\b", r"\1", u)
    return u or "1"


def describe(da: xr.DataArray, units: str | None, long_name: str,
             standard_name: str | None = None, **extra: Any) -> xr.DataArray:
    """Set ``units``/``long_name``/``standard_name`` (in place) and return the variable.

    Args:
        da: variable of a dataset (``ds[name]``), changed in place.
        units: UDUNITS string (``None`` for strings and flags, which have no units).
        long_name: readable description.
        standard_name: CF standard name, if the table has one.
        **extra: further attributes.

    Returns:
        ``da``.

    Raises:
        ValueError: ``standard_name`` is not one of :data:`STANDARD_NAMES`.
    """
    if standard_name is not None and standard_name not in STANDARD_NAMES:
        raise ValueError(f"unknown CF standard name {standard_name!r}; known:"
                         f" {sorted(STANDARD_NAMES)}")
    if units is not None:
        da.attrs["units"] = cf_units(units)
    da.attrs["long_name"] = long_name
    if standard_name is not None:
        da.attrs["standard_name"] = standard_name
    da.attrs.update(extra)
    return da


def _bounds(centres: np.ndarray, lo: float, hi: float) -> np.ndarray:
    c = np.asarray(centres, float)
    if c.size == 1:
        half = 0.5 * (hi - lo)
        return np.array([[max(lo, c[0] - half), min(hi, c[0] + half)]])
    mid = 0.5 * (c[1:] + c[:-1])
    edges = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    if lo < hi and c[0] < c[-1]:
        edges = np.clip(edges, lo, hi)
    return np.stack([edges[:-1], edges[1:]], axis=-1)


def add_lat_lon(ds: xr.Dataset, *, lat: str = "lat", lon: str = "lon",
                bounds: bool | None = None) -> xr.Dataset:
    """Latitude/longitude as CF coordinates (units, standard_name, axis, cell bounds on grids).

    Data variables named ``lat``/``lon`` (e.g. per-site positions) become coordinates.

    Args:
        ds: dataset with ``lat`` and ``lon`` (dimension or per-site variables).
        lat, lon: their names.
        bounds: add ``lat_bnds``/``lon_bnds`` (default: when ``lat`` and ``lon`` are
            dimension coordinates, i.e. on grids).

    Returns:
        A new dataset.
    """
    ds = ds.copy()
    promote = [n for n in (lat, lon) if n in ds.data_vars]
    if promote:
        ds = ds.set_coords(promote)
    grid = lat in ds.dims and lon in ds.dims
    bounds = grid if bounds is None else bounds
    for name, std, units, axis, rng in ((lat, "latitude", "degrees_north", "Y", (-90.0, 90.0)),
                                         (lon, "longitude", "degrees_east", "X",
                                          (-180.0, 360.0))):
        if name not in ds.variables:
            continue
        attrs = {"units": units, "standard_name": std, "long_name": std}
        if name in ds.dims:
            attrs["axis"] = axis
        if bounds and name in ds.dims:
            bname = f"{name}_bnds"
            b = _bounds(ds[name].values, *rng)
            if name == lon and ds[name].size > 1:  # a global lon grid is periodic: no clipping
                b = _bounds(ds[name].values, -np.inf, np.inf)
            ds = ds.assign_coords({bname: ((name, "nv"), b)})
            attrs["bounds"] = bname
        ds[name].attrs.update(attrs)
    return ds


def add_parameter_units(ds: xr.DataArray | xr.Dataset, table: Sequence[Any], *,
                        dim: str = "parameter", variables: Iterable[str] | None = None,
                        unit_cube: Iterable[str] = ()) -> xr.Dataset:
    """Record the unit of each parameter along ``dim`` (see the module docstring).

    Args:
        ds: dataset with a ``dim`` coordinate of parameter names.
        table: the model's ``PARAMETERS`` (``.names`` order must match ``ds[dim]``).
        dim: parameter dimension.
        variables: the data variables in physical units along ``dim`` (default: all that have
            ``dim`` and no ``units`` yet, except ``unit_cube`` ones).
        unit_cube: variables holding unit-cube values (dimensionless, ``units = "1"``).

    Returns:
        A new dataset with ``<dim>_units``, ``<dim>_long_name`` coordinates.

    Raises:
        ValueError: the names along ``dim`` differ from the table's.
    """
    ds = ds.copy()
    names = [str(n) for n in ds[dim].values]
    if names != list(table.names):
        raise ValueError(f"{dim}: names {names} differ from the {table.model} table"
                         f" {list(table.names)}")
    ds = ds.assign_coords({
        f"{dim}_units": (dim, np.array([cf_units(p.unit) for p in table], dtype=object),
                         {"long_name": f"units of each {table.model} parameter (UDUNITS)"}),
        f"{dim}_long_name": (dim, np.array([p.meaning for p in table], dtype=object),
                             {"long_name": f"meaning of each {table.model} parameter"}),
    })
    ds[dim].attrs.update(long_name=f"{table.model} parameter name")
    unit_cube = set(unit_cube)
    for v in unit_cube:
        ds[v].attrs["units"] = "1"
    todo = variables if variables is not None else [
        v for v in ds.data_vars if dim in ds[v].dims and "units" not in ds[v].attrs
        and v not in unit_cube]
    for v in todo:
        ds[v].attrs.pop("units", None)
        ds[v].attrs["units_coordinate"] = f"{dim}_units"
    return ds


def parameter_units_of(ds: xr.Dataset, var: str) -> dict[str, str]:
    """The unit of each parameter of a variable written by :func:`add_parameter_units`."""
    coord = ds[var].attrs["units_coordinate"]
    dim = ds[coord].dims[0]
    return {str(n): str(u) for n, u in zip(ds[dim].values, ds[coord].values, strict=True)}


def set_conventions(ds: xr.Dataset, title: str, *, source: str = "socmc",
                    **attrs: Any) -> xr.Dataset:
    """Global ``Conventions``, ``title``, ``source`` (and any further global attributes)."""
    ds.attrs.update(Conventions=CONVENTIONS, title=title, source=source, **attrs)
    return ds


def _is_text(da: xr.DataArray) -> bool:
    return da.dtype.kind in "OUS"


def _is_flag(da: xr.DataArray) -> bool:
    return "flag_values" in da.attrs or "flag_meanings" in da.attrs or da.dtype == bool


def cf_problems(ds: xr.Dataset) -> list[str]:
    """Check a dataset (as written, or opened) against the rules above.

    Rules: global ``Conventions`` naming CF; every variable has ``long_name`` or
    ``standard_name``; every numeric, non-flag variable has ``units`` (or a
    ``units_coordinate`` naming an existing per-parameter units coordinate); a
    ``standard_name`` is one this module knows; variables called ``lat``/``lon`` are
    coordinates with ``degrees_north``/``degrees_east`` and their standard names; on grids
    (``lat`` and ``lon`` both dimensions) both have ``bounds`` naming an existing (n, 2)
    variable. Bounds variables inherit their metadata and are not checked.

    Args:
        ds: the dataset.

    Returns:
        Readable problems (empty when the dataset passes).
    """
    out: list[str] = []
    conv = str(ds.attrs.get("Conventions", ""))
    if not conv.startswith("CF-"):
        out.append(f"global attribute Conventions is {conv!r}, expected {CONVENTIONS!r}")
    bounds_vars = {str(ds[v].attrs["bounds"]) for v in ds.variables if "bounds" in ds[v].attrs}
    for name in ds.variables:
        if name in bounds_vars:
            continue
        da = ds[name]
        a = da.attrs
        if "long_name" not in a and "standard_name" not in a:
            out.append(f"{name}: no long_name or standard_name")
        sn = a.get("standard_name")
        if sn is not None and sn not in STANDARD_NAMES:
            out.append(f"{name}: standard_name {sn!r} is not a known CF standard name")
        if not (_is_text(da) or _is_flag(da)) and "units" not in a:
            uc = a.get("units_coordinate")
            if uc is None:
                out.append(f"{name}: no units")
            elif uc not in ds.variables:
                out.append(f"{name}: units_coordinate {uc!r} is not in the file")
    for names, std, units in ((_LAT_NAMES, "latitude", "degrees_north"),
                              (_LON_NAMES, "longitude", "degrees_east")):
        for name in names:
            if name not in ds.variables:
                continue
            if name in ds.data_vars:
                out.append(f"{name}: is a data variable; it must be a coordinate")
            a = ds[name].attrs
            if a.get("units") != units:
                out.append(f"{name}: units {a.get('units')!r}, expected {units!r}")
            if a.get("standard_name") != std:
                out.append(f"{name}: standard_name {a.get('standard_name')!r}, expected {std!r}")
    lat = next((n for n in _LAT_NAMES if n in ds.dims), None)
    lon = next((n for n in _LON_NAMES if n in ds.dims), None)
    if lat and lon:
        for name in (lat, lon):
            b = ds[name].attrs.get("bounds")
            if b is None:
                out.append(f"{name}: grid coordinate without a bounds attribute")
            elif b not in ds.variables:
                out.append(f"{name}: bounds variable {b!r} is not in the file")
            elif ds[b].shape != (ds.sizes[name], 2):
                out.append(f"{name}: bounds {b!r} has shape {ds[b].shape}, expected"
                           f" ({ds.sizes[name]}, 2)")
    return out


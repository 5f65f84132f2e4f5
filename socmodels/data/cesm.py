"""Forcing from CESM2/CLM5 monthly history files: climatology, sampling at sites, writing.

:func:`read_clm5_history` opens monthly CLM5 history NetCDF files (``*.clm2.h0.*.nc``; one
file per month or several months per file), selects a year range, builds the 12-month
climatology of the variables the models need and keeps the land cells.
:func:`forcing_at_sites` samples it at profile locations (nearest land cell, great-circle
distance reported) into a batched :class:`~socmodels.Forcing`;
:func:`climatology_forcing` gives the forcing of every land cell (for maps).

Variables read (``docs/original_code.md`` §4):

===========================  ==================  =========================================
history variable             Forcing field       notes
===========================  ==================  =========================================
``TSOI``                     ``tsoi``            K (degC converted); first 20 levels
``W_SCALAR``                 ``w_scalar``        0-1, ``levdcmp``
``O_SCALAR``                 ``o_scalar``        0-1, ``levdcmp``
``FPI_vr``                   ``fpi_vr``          0-1, ``levdcmp``
``ALTMAX``                   ``altmax``          m
``ALTMAX_LASTYEAR``          ``altmax_lastyear`` m (missing: the annual maximum of ALTMAX)
``nbedrock`` / ``ZBEDROCK``  ``nbedrock``        layer index, or bedrock depth in m
                                                 (missing: 20, no bedrock)
``CELLSAND``                 ``cellsand``        % (missing: 40 %)
``CWD_INPUT_ACC_VECTOR``     ``input_cwd``       see below
``LITR1/2/3_INPUT_ACC_``     ``input_litr1/2/3`` see below
``VECTOR``
===========================  ==================  =========================================

**Litter inputs.** The ``*_INPUT_ACC_VECTOR`` fields are per-layer accumulations (gC m-3).
The annual input of a stream is ``sum over months and layers of value x dz`` (gC m-2 yr-1)
when each monthly value is that month's accumulated input, which is what the authors' code
assumes ("sum monthly input (gC/m3/month) as annual input", ``docs/original_code.md`` §2.7).
Whether CLM's accumulators are monthly increments is not verified (§10 Q10), so the
interpretation is the ``input_units`` option: ``"per_month"`` (the code's choice),
``"per_year"`` (annual rate: mean over months), ``"per_second"`` (rate in gC m-3 s-1: mean x
365 x 86400) or ``"auto"`` (default: from the ``units`` attribute: ``/s`` -> per second,
``/yr`` -> per year, anything else -> per month). The choice is recorded in
``attrs['input_units']``.

**Time stamps.** CESM stamps monthly means at the *end* of the averaging interval (the
January mean carries 1 February 00:00). Months are assigned from the midpoint of
``time_bounds``/``time_bnds`` when present, else by subtracting one day from stamps that all
fall on the first of a month at 00:00. The rule used is in ``attrs['month_assignment']``.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from socmodels import layers
from socmodels.data._report import DataError
from socmodels.forcing import Forcing, ForcingError
from socmodels.layers import nbedrock_from_depth

__all__ = ["read_clm5_history", "climatology_forcing", "forcing_at_sites", "SiteForcing",
           "write_clm5_history", "nearest_cells", "HISTORY_VARIABLES", "INPUT_VARIABLES",
           "EARTH_RADIUS_KM"]

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius [km] for great-circle distances."""

HISTORY_VARIABLES = {
    "tsoi": "TSOI",
    "w_scalar": "W_SCALAR",
    "o_scalar": "O_SCALAR",
    "fpi_vr": "FPI_vr",
    "altmax": "ALTMAX",
    "altmax_lastyear": "ALTMAX_LASTYEAR",
    "cellsand": "CELLSAND",
}
"""Forcing field -> CLM5 history variable (besides bedrock and inputs)."""

INPUT_VARIABLES = {
    "input_cwd": "CWD_INPUT_ACC_VECTOR",
    "input_litr1": "LITR1_INPUT_ACC_VECTOR",
    "input_litr2": "LITR2_INPUT_ACC_VECTOR",
    "input_litr3": "LITR3_INPUT_ACC_VECTOR",
}
"""Forcing input field -> CLM5 history variable (per-layer accumulations)."""

_LEVEL_DIMS = ("levgrnd", "levsoi", "levdcmp", "levdcmp_full")
_PROFILE_FIELDS = ("tsoi", "w_scalar", "o_scalar", "fpi_vr")
_MONTH_FIELDS = ("altmax", "altmax_lastyear", "nbedrock")
_SECONDS_PER_YEAR = 365.0 * 86400.0
_LOAD_BYTES = 2e9


def _as_paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(paths, (str, Path)):
        p = Path(paths)
        if p.is_dir():
            out = sorted(q for q in p.iterdir() if q.suffix in (".nc", ".nc4"))
        elif any(ch in str(paths) for ch in "*?["):
            out = [Path(q) for q in sorted(glob.glob(str(paths)))]
        else:
            out = [p]
    else:
        out = [Path(q) for q in paths]
    if not out:
        raise DataError("no NetCDF history files found", file=str(paths), reason="no_files")
    for p in out:
        if not p.is_file():
            raise DataError("no such file", file=p, reason="not_found")
    return out


def _needed(ds: xr.Dataset) -> xr.Dataset:
    keep = set(HISTORY_VARIABLES.values()) | set(INPUT_VARIABLES.values())
    keep |= {"nbedrock", "ZBEDROCK", "zbedrock", "landfrac", "landmask", "lat", "lon",
             "time_bounds", "time_bnds", "grid1d_lat", "grid1d_lon"}
    return ds[[v for v in ds.data_vars if v in keep]]


def _open(files: Sequence[Path]) -> xr.Dataset:
    coder = xr.coders.CFDatetimeCoder(use_cftime=True)
    try:
        if len(files) == 1:
            return _needed(xr.open_dataset(files[0], decode_times=coder))
        return xr.open_mfdataset(files, combine="nested", concat_dim="time",
                                 data_vars="minimal", coords="minimal", compat="override",
                                 join="override", preprocess=_needed, decode_times=coder,
                                 parallel=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot open the history file(s) as NetCDF: {exc}",
                        file=files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1})",
                        reason="unreadable") from exc


def _month_and_year(ds: xr.Dataset, where: str) -> tuple[np.ndarray, np.ndarray, str]:
    if "time" not in ds.dims:
        raise DataError("no 'time' dimension: expected monthly history output", file=where,
                        column="time", reason="missing_dim")
    bnds = next((b for b in ("time_bounds", "time_bnds") if b in ds), None)
    if bnds is not None:
        b = ds[bnds].values
        if np.issubdtype(np.asarray(b).dtype, np.number):
            import cftime
            enc = ds["time"].encoding
            b = cftime.num2date(b, enc.get("units"), enc.get("calendar", "standard"))
        mid = np.array([b0 + (b1 - b0) / 2 for b0, b1 in np.asarray(b)], dtype=object)
        rule = f"midpoint of {bnds}"
    else:
        t = np.asarray(ds["time"].values, dtype=object)
        if all(getattr(x, "day", 0) == 1 and getattr(x, "hour", 0) == 0 for x in t):
            import datetime
            mid = np.array([x - datetime.timedelta(days=1) for x in t], dtype=object)
            rule = "time stamps at the end of the month (CESM convention): minus one day"
        else:
            mid = t
            rule = "time stamps"
    month = np.array([x.month for x in mid])
    year = np.array([x.year for x in mid])
    return month, year, rule


def _spatial(ds: xr.Dataset, var: str, where: str) -> tuple[str, ...]:
    dims = ds[var].dims
    if "lat" in dims and "lon" in dims:
        return ("lat", "lon")
    if "lndgrid" in dims:
        return ("lndgrid",)
    raise DataError(f"variable has dims {dims}; expected (lat, lon) or lndgrid", file=where,
                    column=var, reason="dims")


def _level_dim(da: xr.DataArray, where: str) -> str:
    d = next((d for d in da.dims if d in _LEVEL_DIMS), None)
    if d is None:
        raise DataError(f"no vertical dimension among {_LEVEL_DIMS} (dims {da.dims})",
                        file=where, column=da.name, reason="dims")
    if da.sizes[d] < layers.NLEV:
        raise DataError(f"vertical dimension '{d}' has {da.sizes[d]} levels; 20 decomposition"
                        " levels are needed (was the run vertically resolved?)", file=where,
                        column=da.name, reason="dims")
    return d


def read_clm5_history(paths: str | Path | Iterable[str | Path], *,
                      years: tuple[int, int] | None = None, input_units: str = "auto"
                      ) -> xr.Dataset:
    """Monthly CLM5 history files -> 12-month climatology on the land cells.

    Args:
        paths (path, glob pattern, folder or list of paths):
            The history files (``*.clm2.h0.*.nc``), gridded ``(lat, lon)`` or unstructured
            (``lndgrid`` with ``lat``/``lon`` per cell).
        years ((int, int), optional):
            First and last model year (inclusive) of the climatology; default all.
        input_units ({"auto", "per_month", "per_year", "per_second"}):
            Interpretation of the ``*_INPUT_ACC_VECTOR`` values (module docstring).

    Returns:
        xarray.Dataset:
            Dimensions ``cell`` (land cells), ``month`` (1-12), ``level`` (1-20); variables named
            as the :class:`~socmodels.Forcing` fields (``tsoi`` (cell, month, level) K, ...,
            ``input_cwd`` (cell) gC m-2 yr-1, ``cellsand`` (cell, level) %); coordinates ``lat``,
            ``lon`` (cell; lon in [-180, 180)), and ``grid_index`` locating each cell in the
            original grid. ``attrs`` record the files, years, month rule, input interpretation and
            filled values.

    Raises:
        DataError:
            Missing variable, wrong dimensions, months missing from the selected years,
            implausible units (naming file and variable).
    """
    if input_units not in ("auto", "per_month", "per_year", "per_second"):
        raise ValueError(f"input_units must be auto/per_month/per_year/per_second, got"
                         f" {input_units!r}")
    files = _as_paths(paths)
    where = str(files[0]) if len(files) == 1 else f"{files[0]} (+{len(files) - 1} more)"
    ds = _open(files)
    try:
        return _climatology(ds, files, where, years, input_units)
    finally:
        ds.close()


def _climatology(ds: xr.Dataset, files: list[Path], where: str,
                 years: tuple[int, int] | None, input_units: str) -> xr.Dataset:
    for name in ("TSOI", "W_SCALAR", "O_SCALAR", "FPI_vr", "ALTMAX",
                 *INPUT_VARIABLES.values()):
        if name not in ds:
            raise DataError("required history variable missing (add it to the history"
                            " field list, hist_fincl1, and rerun)", file=where, column=name,
                            reason="missing_variable")
    month, year, rule = _month_and_year(ds, where)
    sel = np.ones(len(month), bool)
    if years is not None:
        sel = (year >= years[0]) & (year <= years[1])
    found = sorted(set(month[sel]))
    if found != list(range(1, 13)):
        missing = sorted(set(range(1, 13)) - set(found))
        raise DataError(f"the selected years {years or (year.min(), year.max())} lack month(s)"
                        f" {missing}; a climatology needs all 12 months", file=where,
                        column="time", reason="missing_months")
    ds = ds.isel(time=np.flatnonzero(sel))
    if ds.nbytes < _LOAD_BYTES:   # small enough: compute in memory (much faster than dask)
        ds = ds.load()
    mcoord = xr.DataArray(month[sel], dims="time")
    spatial = _spatial(ds, "TSOI", where)
    notes: dict[str, Any] = {}

    def clim(name: str) -> xr.DataArray:
        da = ds[name]
        if "time" in da.dims:
            da = da.groupby(mcoord.rename("month")).mean("time")
        else:
            da = da.expand_dims(month=np.arange(1, 13))
        return da

    def profile(name: str) -> xr.DataArray:
        da = clim(name)
        d = _level_dim(da, where)
        da = da.isel({d: slice(0, layers.NLEV)}).rename({d: "level"})
        return da.transpose("month", "level", *spatial)

    out: dict[str, xr.DataArray] = {}
    tsoi = profile("TSOI")
    unit = str(ds["TSOI"].attrs.get("units", "K")).strip()
    if unit.lower() in ("degc", "c", "deg_c", "celsius", "degree_celsius"):
        tsoi = tsoi + 273.15
        notes["tsoi_converted"] = "degC -> K"
    out["tsoi"] = tsoi
    for f in ("w_scalar", "o_scalar", "fpi_vr"):
        out[f] = profile(HISTORY_VARIABLES[f])
    out["altmax"] = clim("ALTMAX").transpose("month", *spatial)
    if "ALTMAX_LASTYEAR" in ds:
        out["altmax_lastyear"] = clim("ALTMAX_LASTYEAR").transpose("month", *spatial)
    else:
        out["altmax_lastyear"] = out["altmax"].max("month").expand_dims(month=np.arange(1, 13))
        notes["altmax_lastyear"] = "missing: annual maximum of ALTMAX used"
    if "nbedrock" in ds:
        nb = clim("nbedrock")
        notes["nbedrock"] = "history variable nbedrock"
    elif "ZBEDROCK" in ds or "zbedrock" in ds:
        zb = clim("ZBEDROCK" if "ZBEDROCK" in ds else "zbedrock").load()
        nb = xr.apply_ufunc(nbedrock_from_depth, zb)
        notes["nbedrock"] = "from ZBEDROCK (depth to bedrock, m)"
    else:
        nb = xr.full_like(out["altmax"], float(layers.NLEV))
        notes["nbedrock"] = "missing: 20 (no bedrock) assumed"
    out["nbedrock"] = nb.transpose("month", *spatial)
    if "CELLSAND" in ds:
        sand = ds["CELLSAND"]
        if "time" in sand.dims:
            sand = sand.mean("time")
        d = _level_dim(sand, where)
        out["cellsand"] = sand.isel({d: slice(0, layers.NLEV)}).rename({d: "level"}) \
            .transpose("level", *spatial)
    else:
        out["cellsand"] = xr.full_like(out["tsoi"].isel(month=0), 40.0)
        notes["cellsand"] = "missing: 40 % assumed"
    interp: dict[str, str] = {}
    dz = xr.DataArray(layers.dz, dims="level")
    for f, name in INPUT_VARIABLES.items():
        da = profile(name)
        mode = input_units
        u = str(ds[name].attrs.get("units", "")).replace(" ", "").lower()
        if mode == "auto":
            mode = ("per_second" if u.endswith("/s") or "s-1" in u or "s^-1" in u
                    else "per_year" if u.endswith("/yr") or u.endswith("/y") or "yr-1" in u
                    else "per_month")
        col = (da * dz).sum("level", skipna=True)
        annual = (col.sum("month") if mode == "per_month" else
                  col.mean("month") if mode == "per_year" else col.mean("month")
                  * _SECONDS_PER_YEAR)
        interp[name] = f"{mode} (units attribute {u!r})"
        out[f] = annual
    clim_ds = xr.Dataset(out).load()
    # land cells
    valid = np.isfinite(clim_ds["tsoi"].isel(level=0)).all("month")
    for lm in ("landfrac", "landmask"):
        if lm in ds:
            lf = ds[lm]
            if "time" in lf.dims:
                lf = lf.isel(time=0)
            valid = valid & (lf.load() > 0)
    if spatial == ("lat", "lon"):
        lat2, lon2 = xr.broadcast(clim_ds["lat"], clim_ds["lon"])
        stacked = clim_ds.stack(cell=("lat", "lon"))
        vflat = valid.stack(cell=("lat", "lon")).values
        lat_c = lat2.transpose("lat", "lon").values.ravel()
        lon_c = lon2.transpose("lat", "lon").values.ravel()
        gidx = np.arange(vflat.size)
        stacked = stacked.drop_vars(["cell", "lat", "lon"])
    else:
        latn = "lat" if "lat" in ds else "grid1d_lat"
        lonn = "lon" if "lon" in ds else "grid1d_lon"
        stacked = clim_ds.rename({"lndgrid": "cell"})
        vflat = valid.values
        lat_c = np.asarray(ds[latn].values, float)
        lon_c = np.asarray(ds[lonn].values, float)
        gidx = np.arange(vflat.size)
        stacked = stacked.drop_vars([v for v in ("lat", "lon") if v in stacked.coords])
    keep = np.flatnonzero(vflat)
    if keep.size == 0:
        raise DataError("no land cell with finite TSOI", file=where, column="TSOI",
                        reason="no_land")
    res = stacked.isel(cell=keep)
    res = res.transpose("cell", "month", "level")
    lon_c = ((lon_c[keep] + 180.0) % 360.0) - 180.0
    res = res.assign_coords(lat=("cell", lat_c[keep]), lon=("cell", lon_c),
                            grid_index=("cell", gidx[keep]), month=np.arange(1, 13),
                            level=np.arange(1, layers.NLEV + 1))
    filled = _fill_and_check(res, where)
    res.attrs.update({
        "files": "; ".join(str(f) for f in files),
        "years": (f"{years[0]}-{years[1]}" if years is not None
                  else f"{year.min()}-{year.max()}"),
        "month_assignment": rule,
        "input_units": "; ".join(f"{k}: {v}" for k, v in interp.items()),
        "filled_values": str(filled),
        "grid": "lat-lon" if spatial == ("lat", "lon") else "lndgrid",
        "grid_shape": str(tuple(int(ds.sizes[s]) for s in spatial)),
        **{f"note_{k}": v for k, v in notes.items()},
    })
    units = {"tsoi": "K", "w_scalar": "1", "o_scalar": "1", "fpi_vr": "1", "altmax": "m",
             "altmax_lastyear": "m", "nbedrock": "1 (layer index, 1-based)", "cellsand": "%"}
    for k, u in units.items():
        res[k].attrs["units"] = u
    for k in INPUT_VARIABLES:
        res[k].attrs["units"] = "gC m-2 yr-1"
    return res


def _fill_and_check(res: xr.Dataset, where: str) -> dict[str, int]:
    """Fill NaN inside land columns from the layer above (then below); check ranges."""
    filled: dict[str, int] = {}
    for f in (*_PROFILE_FIELDS, "cellsand"):
        a = res[f].values
        nan = np.isnan(a)
        if nan.any():
            filled[f] = int(nan.sum())
            ax = a.ndim - 1
            idx = np.where(~nan, np.arange(a.shape[ax]), 0)
            np.maximum.accumulate(idx, axis=ax, out=idx)
            a = np.take_along_axis(a, idx, axis=ax)
            nan = np.isnan(a)
            if nan.any():  # NaN at the top: take the first finite value below
                rev = a[..., ::-1]
                idx = np.where(~np.isnan(rev), np.arange(rev.shape[ax]), 0)
                np.maximum.accumulate(idx, axis=ax, out=idx)
                a = np.take_along_axis(rev, idx, axis=ax)[..., ::-1]
            res[f].values = a
    for f in (*_MONTH_FIELDS, *INPUT_VARIABLES):
        a = res[f].values
        nan = np.isnan(a)
        if nan.any():
            filled[f] = int(nan.sum())
            fill = 0.0 if f.startswith("input") else (float(layers.NLEV) if f == "nbedrock"
                                                     else np.nan)
            if np.isnan(fill):
                raise DataError(f"{int(nan.sum())} NaN values on land cells", file=where,
                                column=f.upper(), reason="nan")
            res[f].values = np.where(nan, fill, a)
    for f, name in (("w_scalar", "W_SCALAR"), ("o_scalar", "O_SCALAR"), ("fpi_vr", "FPI_vr")):
        a = res[f].values
        if a.min() < -1e-6 or a.max() > 1 + 1e-6:
            raise DataError(f"values in [{a.min():.4g}, {a.max():.4g}], expected 0-1", file=where,
                            column=name, reason="range")
        res[f].values = np.clip(a, 0.0, 1.0)
    t = res["tsoi"].values
    if t.min() < 150 or t.max() > 350:
        raise DataError(f"soil temperature in [{t.min():.4g}, {t.max():.4g}], expected kelvin",
                        file=where, column="TSOI", reason="units")
    nb = res["nbedrock"].values
    res["nbedrock"].values = np.clip(np.round(nb), 1, layers.NLEV)
    return filled


def climatology_forcing(clim: xr.Dataset, cells: Any = None) -> Forcing:
    """Batched, validated :class:`~socmodels.Forcing` of (a subset of) the climatology cells.

    Args:
        clim (xarray.Dataset): From :func:`read_clm5_history`.
        cells (array_like of int, optional): Cell indices (positions along ``cell``); default all.
    """
    sub = clim if cells is None else clim.isel(cell=np.asarray(cells, int))
    fields = {f: sub[f].values for f in ("tsoi", "w_scalar", "o_scalar", "fpi_vr", "altmax",
                                         "altmax_lastyear", "nbedrock", "cellsand",
                                         *INPUT_VARIABLES)}
    try:
        return Forcing.create(**fields)
    except ForcingError as exc:
        raise DataError(f"the climatology does not make a valid Forcing: {exc}",
                        file=clim.attrs.get("files"), reason="forcing") from exc


class SiteForcing(NamedTuple):
    """Forcing sampled at sites.

    Attributes:
        forcing (Forcing): Batched, leading axis = sites (in the order given).
        cell (ndarray of int): Index of the land cell used for each site (position along ``cell``).
        distance_km (ndarray): Great-circle distance from the site to the cell centre [km].
        cell_lat, cell_lon (ndarray): Centre of that cell [degrees].
    """

    forcing: Forcing
    cell: np.ndarray
    distance_km: np.ndarray
    cell_lat: np.ndarray
    cell_lon: np.ndarray


def _unit_vectors(lat: Any, lon: Any) -> np.ndarray:
    la, lo = np.radians(np.asarray(lat, float)), np.radians(np.asarray(lon, float))
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def nearest_cells(cell_lat: Any, cell_lon: Any, lat: Any, lon: Any
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Nearest cell (great circle) for each site: ``(index, distance_km)``."""
    from scipy.spatial import cKDTree

    lat = np.asarray(lat, float)
    lon = np.asarray(lon, float)
    if np.any(~np.isfinite(lat)) or np.any(~np.isfinite(lon)):
        i = int(np.flatnonzero(~(np.isfinite(lat) & np.isfinite(lon)))[0])
        raise DataError(f"site {i} has a missing coordinate", column="lat/lon", reason="nan")
    tree = cKDTree(_unit_vectors(cell_lat, cell_lon))
    chord, idx = tree.query(_unit_vectors(lat, lon))
    dist = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))
    return idx.astype(int), dist


def forcing_at_sites(clim: xr.Dataset, lat: Any, lon: Any, *,
                     max_distance_km: float | None = None) -> SiteForcing:
    """Sample the climatology at sites: nearest land cell, distance reported.

    Args:
        clim (xarray.Dataset): From :func:`read_clm5_history`.
        lat, lon (array_like): Site coordinates [degrees] (e.g. ``profiles.lat``, ``profiles.lon``).
        max_distance_km (float, optional):
            Raise :class:`DataError` for a site farther than this from any land cell (a site in
            the sea, or swapped coordinates).

    Returns:
        SiteForcing
    """
    lat = np.atleast_1d(np.asarray(lat, float))
    lon = np.atleast_1d(np.asarray(lon, float))
    idx, dist = nearest_cells(clim["lat"].values, clim["lon"].values, lat, lon)
    if max_distance_km is not None and np.any(dist > max_distance_km):
        i = int(np.argmax(dist > max_distance_km))
        raise DataError(f"site {i} at ({lat[i]:.4g}, {lon[i]:.4g}) is {dist[i]:.1f} km from the"
                        f" nearest land cell (limit {max_distance_km} km); check its"
                        " coordinates", column="lat/lon", reason="far_from_land")
    return SiteForcing(climatology_forcing(clim, idx), idx, dist,
                       clim["lat"].values[idx], clim["lon"].values[idx])


# ---------------------------------------------------------------------------------------
# Writing CLM5-history-like files (virtual world, tests)
# ---------------------------------------------------------------------------------------

def write_clm5_history(path: str | Path, forcing: Forcing, lat: np.ndarray, lon: np.ndarray,
                       land: np.ndarray, *, year: int = 1, input_profile_beta: float = 0.95,
                       compress: bool = True, temperature_anomaly: float = 0.0) -> Path:
    """Write one year of monthly means in the CLM5 h0 layout for gridded land cells.

    Args:
        path (str or Path): Output NetCDF file.
        forcing (Forcing):
            Batched forcing of the land cells (leading axis = ``land.sum()`` cells, row-major
            over ``(lat, lon)``).
        lat, lon (ndarray):
            1-D grid centres [degrees]; ``lon`` in [0, 360) like CLM, or [-180, 180).
        land (ndarray of bool): (nlat, nlon) land mask.
        year (int):
            Model year of the 12 time steps (no-leap calendar, stamps at the end of each month).
        input_profile_beta (float):
            The annual input of each stream is written per layer with a Jackson ``beta`` profile
            and 1/12 per month, as gC m-3 accumulated per month (so that the sum over months and
            layers of value x dz is the annual input).
        compress (bool): zlib-compress the variables.
        temperature_anomaly (float): Added to TSOI (K) in this year (to test multi-year averaging).

    Returns:
        Path
    """
    import cftime

    path = Path(path)
    nlat, nlon = land.shape
    j, i = np.nonzero(land)
    n = j.size
    if forcing.batch_shape != (n,):
        raise ValueError(f"forcing batch {forcing.batch_shape} != number of land cells {n}")
    nlev_g = 25

    def grid(a: np.ndarray, extra: tuple[int, ...]) -> np.ndarray:
        out = np.full(extra + (nlat, nlon), np.nan, np.float32)
        out[(...,) + (j, i)] = np.moveaxis(a, 0, -1)
        return out

    tsoi = np.asarray(forcing.tsoi) + temperature_anomaly            # (n, 12, 20)
    tsoi25 = np.concatenate([tsoi, np.repeat(tsoi[:, :, -1:], nlev_g - layers.NLEV, 2)], 2)
    f = (input_profile_beta ** (100 * layers.ztop) - input_profile_beta ** (100 * layers.zisoi))
    f = f / f.sum()
    days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    ends = np.cumsum(days) + 365 * (year - 1)
    starts = ends - days
    enc_units = "days since 0001-01-01 00:00:00"
    time = cftime.num2date(ends, enc_units, "noleap")
    bounds = cftime.num2date(np.stack([starts, ends], 1), enc_units, "noleap")
    prof_dims = ("time", "levdcmp", "lat", "lon")
    data: dict[str, Any] = {
        "TSOI": (("time", "levgrnd", "lat", "lon"), grid(tsoi25, (12, nlev_g)),
                 {"units": "K", "long_name": "soil temperature (vegetated landunits only)"}),
    }
    for name, fld, ln in (("W_SCALAR", forcing.w_scalar, "Moisture (dryness) inhibition of"
                           " decomposition"),
                          ("O_SCALAR", forcing.o_scalar, "fraction by which decomposition is"
                           " reduced due to anoxia"),
                          ("FPI_vr", forcing.fpi_vr, "fraction of potential immobilization")):
        data[name] = (prof_dims, grid(np.asarray(fld), (12, layers.NLEV)),
                      {"units": "1", "long_name": ln})
    for name, fld in (("ALTMAX", forcing.altmax), ("ALTMAX_LASTYEAR", forcing.altmax_lastyear)):
        data[name] = (("time", "lat", "lon"), grid(np.asarray(fld), (12,)), {"units": "m"})
    data["nbedrock"] = (("lat", "lon"), grid(np.asarray(forcing.nbedrock)[:, 0], ()),
                        {"units": "1", "long_name": "index of shallowest bedrock layer"})
    data["CELLSAND"] = (("levsoi", "lat", "lon"),
                        grid(np.asarray(forcing.cellsand), (layers.NLEV,)),
                        {"units": "percent", "long_name": "percent sand"})
    for fname, vname in INPUT_VARIABLES.items():
        annual = np.asarray(getattr(forcing, fname))                  # (n,)
        per = annual[:, None, None] * f[None, None, :] / layers.dz / 12.0
        per = np.broadcast_to(per, (n, 12, layers.NLEV))
        data[vname] = (prof_dims, grid(per, (12, layers.NLEV)),
                       {"units": "gC/m^3", "long_name": f"{vname}: input accumulated over the"
                        " month (per layer)"})
    landfrac = np.where(land, 1.0, np.nan).astype(np.float32)
    data["landfrac"] = (("lat", "lon"), landfrac, {"units": "1"})
    data["time_bounds"] = (("time", "hist_interval"), bounds, {})
    ds = xr.Dataset(data, coords={
        "time": ("time", time, {"bounds": "time_bounds",
                                "long_name": "time at end of averaging interval"}),
        "lat": ("lat", np.asarray(lat, np.float32), {"units": "degrees_north"}),
        "lon": ("lon", np.asarray(lon, np.float32), {"units": "degrees_east"}),
        "levgrnd": ("levgrnd", np.concatenate([layers.zsoi21, [13.3277669529664,
                                                               19.4831291701244,
                                                               28.8707244343160,
                                                               41.9984368640029]])[:nlev_g]
                    .astype(np.float32), {"units": "m"}),
        "levdcmp": ("levdcmp", layers.zsoi.astype(np.float32), {"units": "m"}),
        "levsoi": ("levsoi", layers.zsoi.astype(np.float32), {"units": "m"}),
    })
    ds.attrs = {"title": "CLM5 history-like monthly means (socmodels.data virtual world)",
                "source": "socmodels.data.write_clm5_history", "hist_interval": "month"}
    ds = _cf_history(ds)  # CF-1.10 metadata (issue 12)
    enc = {}
    for v in ds.data_vars:
        e: dict[str, Any] = {"_FillValue": np.float32(1e36)} if v != "time_bounds" else {}
        if compress and ds[v].ndim >= 2:
            e.update(zlib=True, complevel=1)
        enc[v] = e
    enc["time"] = {"units": enc_units, "calendar": "noleap", "dtype": "float64"}
    enc["time_bounds"] = {"units": enc_units, "calendar": "noleap", "dtype": "float64"}
    ds.to_netcdf(path, encoding=enc, engine="netcdf4")
    return path


def _cf_history(ds: xr.Dataset) -> xr.Dataset:
    """Long names, lat/lon bounds and ``Conventions`` (CF-1.10) of a written history file."""
    from socmodels import netcdf as cf

    for v, ln in (("ALTMAX", "maximum annual active layer thickness"),
                  ("ALTMAX_LASTYEAR", "maximum active layer thickness of the previous year"),
                  ("landfrac", "land fraction"), ("levgrnd", "depth of ground levels"),
                  ("levdcmp", "depth of decomposition levels"),
                  ("levsoi", "depth of soil levels"), ("time_bounds", "averaging interval")):
        ds[v].attrs.setdefault("long_name", ln)
    ds = cf.add_lat_lon(ds)
    return cf.set_conventions(ds, ds.attrs["title"], source=ds.attrs["source"],
                              hist_interval=ds.attrs["hist_interval"])

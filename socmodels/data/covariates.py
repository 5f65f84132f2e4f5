"""Covariates: the paper's named environmental predictors, tables, grids and scaling.

Tao et al. (2024) feed 60 covariates to the neural network (``docs/original_code.md`` §6.1):
coordinates, land cover, the 19 WorldClim bioclimatic variables, soil properties at 0, 30
and 100 cm from SoilGrids, depth to bedrock, elevation, Köppen class and CESM2 NPP and
vegetation carbon. :data:`COVARIATES` lists them in the paper's order, with units and kinds
in :data:`COVARIATE_INFO`.

Two shapes of data:

* **site x covariate**: a :class:`pandas.DataFrame`, one row per site (index e.g.
  ``profile_id``), one column per covariate; built from a grid by
  :func:`covariates_at_sites` (nearest land cell, like the paper's extraction from global
  maps; ``Lon``/``Lat`` are the site's own coordinates).
* **grid x covariate**: an :class:`xarray.Dataset` on ``(lat, lon)``, one variable per
  covariate, NaN over the sea (:func:`read_covariates`, :func:`write_covariates`).

:class:`MinMaxScaler` scales to [0, 1] with ranges fitted once (PRODA fits them on the global
grid) and remembered, so sites and grid cells are scaled identically. Categorical
covariates are integer codes scaled like numbers, as in PRODA (``docs/original_code.md`` Q17).
:func:`bioclim` computes BIO1-BIO19 from monthly climate with WorldClim's definitions.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from socmodels.data._report import DataError
from socmodels.data.cesm import nearest_cells

__all__ = ["COVARIATES", "COVARIATE_INFO", "BIOCLIM", "bioclim", "usda_texture_class",
           "MinMaxScaler", "covariates_at_sites", "SiteCovariates", "read_covariates",
           "write_covariates", "grid_table"]

BIOCLIM = tuple(f"BIO{i}" for i in range(1, 20))

_DEPTHS = ("0cm", "30cm", "100cm")


def _three(name: str) -> tuple[str, ...]:
    return tuple(f"{name}_{d}" for d in _DEPTHS)


COVARIATES: tuple[str, ...] = (
    "Lon", "Lat", "ESA_Land_Cover", *BIOCLIM, "Abs_Depth_to_Bedrock",
    *_three("Bulk_Density"), *_three("CEC"), *_three("Clay_Content"),
    *_three("Coarse_Fragments_v"), "Garde_Acid", "Occurrence_R_Horizon", *_three("pH_Water"),
    *_three("Sand_Content"), *_three("Silt_Content"), *_three("SWC_v_Wilting_Point"),
    *_three("Texture_USDA"), "USDA_Suborder", "WRB_Subgroup", "Elevation",
    "Koppen_Climate_2018", "cesm2_npp", "cesm2_npp_std", "cesm2_vegc", "nbedrock",
)
"""The 60 covariates of Tao et al. (2024), in the order of the authors' ``var4nn``
(names as in their table, including the original spelling ``Garde_Acid``)."""

_BIO_TEXT = {
    "BIO1": ("degC", "annual mean temperature"),
    "BIO2": ("degC", "mean diurnal range (mean of monthly tmax - tmin)"),
    "BIO3": ("%", "isothermality (BIO2 / BIO7 x 100)"),
    "BIO4": ("degC x 100", "temperature seasonality (standard deviation x 100)"),
    "BIO5": ("degC", "max temperature of warmest month"),
    "BIO6": ("degC", "min temperature of coldest month"),
    "BIO7": ("degC", "temperature annual range (BIO5 - BIO6)"),
    "BIO8": ("degC", "mean temperature of wettest quarter"),
    "BIO9": ("degC", "mean temperature of driest quarter"),
    "BIO10": ("degC", "mean temperature of warmest quarter"),
    "BIO11": ("degC", "mean temperature of coldest quarter"),
    "BIO12": ("mm yr-1", "annual precipitation"),
    "BIO13": ("mm", "precipitation of wettest month"),
    "BIO14": ("mm", "precipitation of driest month"),
    "BIO15": ("%", "precipitation seasonality (coefficient of variation)"),
    "BIO16": ("mm", "precipitation of wettest quarter"),
    "BIO17": ("mm", "precipitation of driest quarter"),
    "BIO18": ("mm", "precipitation of warmest quarter"),
    "BIO19": ("mm", "precipitation of coldest quarter"),
}

COVARIATE_INFO: dict[str, tuple[str, str, str]] = {
    "Lon": ("degrees_east", "longitude", "continuous"),
    "Lat": ("degrees_north", "latitude", "continuous"),
    "ESA_Land_Cover": ("class code", "ESA CCI land cover class", "categorical"),
    **{k: (u, d, "continuous") for k, (u, d) in _BIO_TEXT.items()},
    "Abs_Depth_to_Bedrock": ("cm", "absolute depth to bedrock", "continuous"),
    **{k: ("kg dm-3", f"fine-earth bulk density at {k.split('_')[-1]}", "continuous")
       for k in _three("Bulk_Density")},
    **{k: ("cmol(+) kg-1", f"cation exchange capacity at {k.split('_')[-1]}", "continuous")
       for k in _three("CEC")},
    **{k: ("%", f"clay content at {k.split('_')[-1]}", "continuous")
       for k in _three("Clay_Content")},
    **{k: ("volume %", f"coarse fragments at {k.split('_')[-1]}", "continuous")
       for k in _three("Coarse_Fragments_v")},
    "Garde_Acid": ("class code", "acidity grade (1 strongly acid ... 5 alkaline)",
                   "categorical"),
    "Occurrence_R_Horizon": ("%", "probability of an R horizon within 2 m", "continuous"),
    **{k: ("pH", f"pH in water at {k.split('_')[-1]}", "continuous")
       for k in _three("pH_Water")},
    **{k: ("%", f"sand content at {k.split('_')[-1]}", "continuous")
       for k in _three("Sand_Content")},
    **{k: ("%", f"silt content at {k.split('_')[-1]}", "continuous")
       for k in _three("Silt_Content")},
    **{k: ("volume %", f"water content at wilting point at {k.split('_')[-1]}",
           "continuous") for k in _three("SWC_v_Wilting_Point")},
    **{k: ("class code", f"USDA texture class (1-12) at {k.split('_')[-1]}", "categorical")
       for k in _three("Texture_USDA")},
    "USDA_Suborder": ("class code", "USDA soil taxonomy suborder", "categorical"),
    "WRB_Subgroup": ("class code", "WRB reference soil group / subgroup", "categorical"),
    "Elevation": ("m", "elevation above sea level", "continuous"),
    "Koppen_Climate_2018": ("class code", "Köppen-Geiger climate class (Beck et al. 2018)",
                            "categorical"),
    "cesm2_npp": ("gC m-2 yr-1", "CESM2 net primary production", "continuous"),
    "cesm2_npp_std": ("gC m-2 yr-1", "interannual standard deviation of CESM2 NPP",
                      "continuous"),
    "cesm2_vegc": ("gC m-2", "CESM2 vegetation carbon", "continuous"),
    "nbedrock": ("layer index", "CLM5 bedrock layer index (1-based; 20 = none)",
                 "categorical"),
}
"""Covariate -> (unit, description, kind)."""

assert len(COVARIATES) == 60 and set(COVARIATES) == set(COVARIATE_INFO)


def _quarters(x: np.ndarray) -> np.ndarray:
    """Rolling 3-month sums (wrapping), (..., 12): quarter starting at month i."""
    return sum(np.roll(x, -k, axis=-1) for k in range(3))


def bioclim(tavg: Any, tmin: Any, tmax: Any, prec: Any) -> dict[str, np.ndarray]:
    """WorldClim bioclimatic variables BIO1-BIO19 from monthly climate.

    Args:
        tavg, tmin, tmax (array_like):
            Monthly mean, minimum and maximum temperature [degC], shape (..., 12).
        prec (array_like): Monthly precipitation [mm], shape (..., 12).

    Returns:
        dict:
            ``"BIO1"`` ... ``"BIO19"`` -> arrays of the batch shape. Quarters are any 3
            consecutive months (wrapping around the year), as in WorldClim/``dismo::biovars``.
    """
    tavg, tmin, tmax, prec = (np.asarray(a, float) for a in (tavg, tmin, tmax, prec))
    for name, a in (("tavg", tavg), ("tmin", tmin), ("tmax", tmax), ("prec", prec)):
        if a.shape[-1] != 12:
            raise ValueError(f"bioclim: {name} must have 12 months on the last axis")
    out: dict[str, np.ndarray] = {}
    out["BIO1"] = tavg.mean(-1)
    out["BIO2"] = (tmax - tmin).mean(-1)
    out["BIO5"] = tmax.max(-1)
    out["BIO6"] = tmin.min(-1)
    out["BIO7"] = out["BIO5"] - out["BIO6"]
    out["BIO3"] = 100.0 * out["BIO2"] / out["BIO7"]
    out["BIO4"] = 100.0 * tavg.std(-1)
    tq = _quarters(tavg) / 3.0
    pq = _quarters(prec)

    def pick(values: np.ndarray, by: np.ndarray, fn: Any) -> np.ndarray:
        return np.take_along_axis(values, fn(by, axis=-1)[..., None], -1)[..., 0]

    out["BIO8"] = pick(tq, pq, np.argmax)
    out["BIO9"] = pick(tq, pq, np.argmin)
    out["BIO10"] = tq.max(-1)
    out["BIO11"] = tq.min(-1)
    out["BIO12"] = prec.sum(-1)
    out["BIO13"] = prec.max(-1)
    out["BIO14"] = prec.min(-1)
    mean = prec.mean(-1)
    out["BIO15"] = 100.0 * prec.std(-1, ddof=1) / (1.0 + mean)
    out["BIO16"] = pq.max(-1)
    out["BIO17"] = pq.min(-1)
    out["BIO18"] = pick(pq, tq, np.argmax)
    out["BIO19"] = pick(pq, tq, np.argmin)
    return {k: out[k] for k in BIOCLIM}


def usda_texture_class(sand: Any, clay: Any) -> np.ndarray:
    """USDA texture class code from sand and clay [%] (silt = 100 - sand - clay).

    Codes: 1 clay, 2 silty clay, 3 sandy clay, 4 clay loam, 5 silty clay loam, 6 sandy clay
    loam, 7 loam, 8 silt loam, 9 sandy loam, 10 silt, 11 loamy sand, 12 sand (the SoilGrids
    TAXOUSDA/texture ordering).
    """
    sand = np.asarray(sand, float)
    clay = np.asarray(clay, float)
    silt = 100.0 - sand - clay
    conds = [
        (clay >= 40) & (silt < 40) & (sand <= 45),
        (clay >= 40) & (silt >= 40),
        (clay >= 35) & (sand > 45),
        (clay >= 27) & (clay < 40) & (sand > 20) & (sand <= 45),
        (clay >= 27) & (clay < 40) & (sand <= 20),
        (clay >= 20) & (clay < 35) & (silt < 28) & (sand > 45),
        (clay >= 7) & (clay < 27) & (silt >= 28) & (silt < 50) & (sand <= 52),
        ((silt >= 50) & (clay >= 12) & (clay < 27)) | ((silt >= 50) & (silt < 80)
                                                         & (clay < 12)),
        ((clay >= 7) & (clay < 20) & (sand > 52) & (silt + 2 * clay >= 30))
        | ((clay < 7) & (silt < 50) & (silt + 2 * clay >= 30)),
        (silt >= 80) & (clay < 12),
        (silt + 1.5 * clay >= 15) & (silt + 2 * clay < 30),
        silt + 1.5 * clay < 15,
    ]
    return np.select(conds, np.arange(1, 13), default=7).astype(np.float64)


@dataclasses.dataclass(frozen=True)
class MinMaxScaler:
    """Min-max scaling to [0, 1] with remembered ranges (PRODA's covariate normalisation).

    Build with :meth:`fit` (PRODA fits on the global grid) and apply the *same* ranges to
    sites and grid cells with :meth:`transform`. Values outside the fitted range are clipped
    to [0, 1] when ``clip`` (as PRODA does); a constant column maps to 0; NaN stays NaN.

    Tables (:class:`pandas.DataFrame`, :class:`xarray.Dataset`, mappings) are scaled by
    column name; NumPy arrays ``(..., p)`` (the network's ``(n_sites, n_covariates)``
    matrices) by position, in the fitted column order :attr:`names`. One scaler object
    therefore serves the site table, the covariate grid and the network.

    Attributes:
        minimum: Column -> fitted minimum.
        maximum: Column -> fitted maximum.
        clip: Clip transformed values to [0, 1].

    Examples:
        >>> s = MinMaxScaler.fit(np.array([[0.0, 10.0], [2.0, 30.0]]), names=["a", "b"])
        >>> s.transform(np.array([[1.0, 40.0]]))
        array([[0.5, 1. ]])
        >>> s.names
        ('a', 'b')
    """

    minimum: dict[str, float]
    maximum: dict[str, float]
    clip: bool = True

    @classmethod
    def fit(cls, data: Any, columns: Any = None, *, clip: bool = True,
            names: Sequence[str] | None = None) -> "MinMaxScaler":
        """Fit the ranges of each column, NaN ignored.

        Args:
            data: A DataFrame or Dataset (columns by name), or an array ``(n, p)``.
            columns: Columns to fit (default: all numeric columns / data variables; for an
                array, the names of its ``p`` columns).
            clip: Clip transformed values to [0, 1].
            names: Alias of ``columns`` (for arrays; default ``x0 .. x{p-1}``).

        Returns:
            The fitted scaler.

        Raises:
            ValueError: A column has no finite value, or an array is not 2-D or has a
                different number of columns than names.
        """
        if columns is None:
            columns = names
        if not _is_table(data):
            a = np.asarray(data, dtype=np.float64)
            if a.ndim != 2:
                raise ValueError(f"MinMaxScaler.fit: x must have shape (n, p); got {a.shape}")
            labels = list(columns if columns is not None
                          else [f"x{j}" for j in range(a.shape[1])])
            if len(labels) != a.shape[1]:
                raise ValueError(f"MinMaxScaler.fit: {len(labels)} names for {a.shape[1]}"
                                 " columns")
            data, columns = pd.DataFrame(a, columns=labels), labels
        cols = _columns(data, columns)
        mn, mx = {}, {}
        for c in cols:
            a = np.asarray(data[c], float)
            if not np.isfinite(a).any():
                raise ValueError(f"MinMaxScaler.fit: column {c!r} has no finite value")
            mn[c], mx[c] = float(np.nanmin(a)), float(np.nanmax(a))
        return cls(mn, mx, clip)

    @property
    def columns(self) -> list[str]:
        """The fitted columns, in order."""
        return list(self.minimum)

    @property
    def names(self) -> tuple[str, ...]:
        """Fitted column names, in order (the column order of array inputs)."""
        return tuple(self.minimum)

    @property
    def n_features(self) -> int:
        """Number of fitted columns."""
        return len(self.minimum)

    def _check(self, data: Any) -> None:
        missing = [c for c in self.columns if c not in data]
        if missing:
            raise KeyError(f"MinMaxScaler: columns {missing} were fitted but are missing")

    def _as_table(self, x: Any) -> tuple[pd.DataFrame, tuple[int, ...]]:
        a = np.asarray(x, dtype=np.float64)
        if a.ndim == 0 or a.shape[-1] != self.n_features:
            raise ValueError(f"MinMaxScaler: x has {a.shape[-1] if a.ndim else 0} columns; the"
                             f" scaler was fitted on {self.n_features}: {self.names}")
        return pd.DataFrame(a.reshape(-1, a.shape[-1]), columns=list(self.names)), a.shape

    def _apply(self, data: Any, column_fn) -> Any:
        if not _is_table(data):
            table, shape = self._as_table(data)
            return self._apply(table, column_fn).to_numpy(np.float64).reshape(shape)
        self._check(data)
        out = data.copy()
        for c in self.columns:
            v = column_fn(c, np.asarray(data[c], float))
            out[c] = (data[c].dims, v) if isinstance(data, xr.Dataset) else v
        return out

    def transform(self, data: Any) -> Any:
        """Scale the fitted columns to [0, 1] (other columns of a table are unchanged).

        Args:
            data: A DataFrame, Dataset or mapping with the fitted columns, or an array
                ``(..., p)`` in the order :attr:`names`.

        Returns:
            The same kind of object, scaled.

        Raises:
            KeyError: A fitted column is missing from a table.
            ValueError: An array's last axis is not the number of fitted columns.
        """
        def scale(c: str, a: np.ndarray) -> np.ndarray:
            rng = self.maximum[c] - self.minimum[c]
            v = (a - self.minimum[c]) / (rng if rng > 0 else 1.0)
            if rng <= 0:
                v = np.where(np.isfinite(v), 0.0, v)
            return np.clip(v, 0.0, 1.0) if self.clip else v

        return self._apply(data, scale)

    def inverse_transform(self, data: Any) -> Any:
        """Map scaled values back to the original units (same inputs as :meth:`transform`)."""
        return self._apply(data, lambda c, a: self.minimum[c]
                           + a * (self.maximum[c] - self.minimum[c]))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {"minimum": self.minimum, "maximum": self.maximum, "clip": self.clip}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MinMaxScaler":
        """Inverse of :meth:`to_dict`."""
        return cls(dict(d["minimum"]), dict(d["maximum"]), bool(d.get("clip", True)))

    def save(self, path: str | Path) -> Path:
        """Write the ranges as JSON."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "MinMaxScaler":
        """Read ranges written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))


def _is_table(data: Any) -> bool:
    """Whether ``data`` holds columns by name (else it is an array, columns by position)."""
    return isinstance(data, (pd.DataFrame, xr.Dataset, Mapping))


def _columns(data: Any, columns: Any) -> list[str]:
    if columns is not None:
        return list(columns)
    if isinstance(data, xr.Dataset):
        return [v for v in data.data_vars if np.issubdtype(data[v].dtype, np.number)
                and data[v].dtype != bool]
    return [c for c in data.columns if pd.api.types.is_numeric_dtype(data[c])
            and not pd.api.types.is_bool_dtype(data[c])]


class SiteCovariates(NamedTuple):
    """Covariates sampled at sites.

    Attributes:
        table (pandas.DataFrame):
            site x covariate (columns in :data:`COVARIATES` order where present).
        cell_lat, cell_lon (ndarray): Centre of the grid cell used per site.
        distance_km (ndarray): Great-circle distance from site to that cell centre.
    """

    table: pd.DataFrame
    cell_lat: np.ndarray
    cell_lon: np.ndarray
    distance_km: np.ndarray


def grid_table(grid: xr.Dataset, columns: Any = None) -> pd.DataFrame:
    """The land cells of a covariate grid as a cell x covariate table (with lat, lon)."""
    cols = [c for c in (columns or COVARIATES) if c in grid]
    land = _land(grid)
    j, i = np.nonzero(land)
    df = pd.DataFrame({c: np.asarray(grid[c].values)[j, i] for c in cols})
    df.insert(0, "lon", np.asarray(grid["lon"].values)[i])
    df.insert(0, "lat", np.asarray(grid["lat"].values)[j])
    return df


def _land(grid: xr.Dataset) -> np.ndarray:
    if "land" in grid:
        return np.asarray(grid["land"].values).astype(bool)
    ref = next(c for c in COVARIATES if c in grid and c not in ("Lon", "Lat"))
    return np.isfinite(np.asarray(grid[ref].values))


def covariates_at_sites(grid: xr.Dataset, lat: Any, lon: Any, *, index: Any = None,
                        columns: Any = None, max_distance_km: float | None = None
                        ) -> SiteCovariates:
    """Sample a covariate grid at sites (nearest land cell, great-circle distance).

    ``Lon`` and ``Lat`` are set to the sites' own coordinates (as in the paper's per-profile
    table); every other covariate is the value of the nearest land cell.

    Args:
        grid (xarray.Dataset): Covariates on ``(lat, lon)`` (:func:`read_covariates`).
        lat, lon (array_like): Site coordinates [degrees].
        index (array_like, optional): Row labels (e.g. ``profiles.profile_id.values``).
        columns (sequence of str, optional):
            Covariates to take (default: all of :data:`COVARIATES` present in the grid).
        max_distance_km (float, optional):
            Raise :class:`DataError` for a site farther than this from any land cell.
    """
    lat = np.atleast_1d(np.asarray(lat, float))
    lon = np.atleast_1d(np.asarray(lon, float))
    table = grid_table(grid, columns)
    idx, dist = nearest_cells(table["lat"].to_numpy(), table["lon"].to_numpy(), lat, lon)
    if max_distance_km is not None and np.any(dist > max_distance_km):
        i = int(np.argmax(dist > max_distance_km))
        raise DataError(f"site {i} at ({lat[i]:.4g}, {lon[i]:.4g}) is {dist[i]:.1f} km from the"
                        f" nearest land cell (limit {max_distance_km} km)", column="lat/lon",
                        reason="far_from_land")
    out = table.iloc[idx].reset_index(drop=True)
    cell_lat, cell_lon = out.pop("lat").to_numpy(), out.pop("lon").to_numpy()
    if "Lon" in out:
        out["Lon"] = ((lon + 180.0) % 360.0) - 180.0
    if "Lat" in out:
        out["Lat"] = lat
    if index is not None:
        out.index = pd.Index(np.asarray(index), name="profile_id")
    return SiteCovariates(out, cell_lat, cell_lon, dist)


def write_covariates(grid: xr.Dataset, path: str | Path) -> Path:
    """Write a covariate grid to NetCDF (units and descriptions as attributes)."""
    path = Path(path)
    ds = grid.copy()
    for c in ds.data_vars:
        if c in COVARIATE_INFO:
            u, desc, kind = COVARIATE_INFO[c]
            ds[c].attrs.update(units=u, long_name=desc, kind=kind)
    enc = {v: {"zlib": True, "complevel": 1} for v in ds.data_vars if ds[v].ndim >= 2}
    ds.to_netcdf(path, encoding=enc)
    return path


def read_covariates(path: str | Path) -> xr.Dataset:
    """Read a covariate grid NetCDF and check it.

    Requires 1-D ``lat`` (in [-90, 90]) and ``lon`` coordinates; covariate names are checked
    against :data:`COVARIATES` (unknown variables are kept, the list of recognised ones is in
    ``attrs['covariates']``). Longitudes are moved to [-180, 180).

    Raises:
        DataError: Missing coordinates, out-of-range latitudes, or no recognised covariate.
    """
    path = Path(path)
    try:
        with xr.open_dataset(path) as src:
            ds = src.load()
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot open as NetCDF: {exc}", file=path, reason="unreadable") from exc
    for c in ("lat", "lon"):
        if c not in ds.coords or ds[c].ndim != 1:
            raise DataError("a 1-D coordinate is required", file=path, column=c,
                            reason="missing_coordinate")
    lat = ds["lat"].values
    if np.any(np.abs(lat) > 90):
        raise DataError(f"latitudes in [{lat.min()}, {lat.max()}] outside [-90, 90]",
                        file=path, column="lat", reason="range")
    lon = ds["lon"].values
    if np.any(lon >= 180):
        ds = ds.assign_coords(lon=((lon + 180.0) % 360.0) - 180.0).sortby("lon")
    found = [c for c in COVARIATES if c in ds]
    if not found:
        raise DataError(f"no recognised covariate; expected names like {COVARIATES[:4]}",
                        file=path, reason="no_covariates")
    ds.attrs["covariates"] = ", ".join(found)
    return ds

"""The pipeline's data stage on a user's own files (``data.source: wosis | csv``).

:func:`user_world` reads soil profiles (a WoSIS download folder, several folders, or a
one-table CSV), builds the forcing at every profile from a gridded climate table, from
CESM2/CLM5 monthly history files or from a per-profile climate table, derives the network's
covariates and, when the climate source is a regular grid, the map grid. It returns a
:class:`UserWorld` with the attributes the pipeline stages read from a
:class:`~socmodels.data.VirtualWorld`; there is no truth (``truth`` is an empty Dataset, so
every truth-recovery step finds nothing to compare). Without a map grid (``grid`` None) the
pipeline skips the maps and the map-based analyses.

Covariates (the network's inputs) must exist at the sites and, for maps, on every map cell;
they come from the climate and covariate sources, never from the profiles themselves:

* from the climate: ``Lon``, ``Lat`` (site / cell coordinates) and, for a climate table,
  ``BIO1`` (MAT), ``BIO12`` (MAP), ``BIO4`` (100 x the standard deviation of the
  sinusoidal monthly year, 100 A / sqrt 2) and ``cesm2_npp`` (the NPP given or from the
  Miami model); for CESM2 history files ``cesm2_npp`` (total litter input = NPP at steady
  state) and ``nbedrock``;
* for a per-profile climate table (``kind: sites``): ``Lon``, ``Lat``, ``BIO1`` (MAT),
  ``BIO4`` and ``cesm2_npp`` (the table's NPP); there is no map grid;
* optionally (``data.covariates``) a per-site covariate table (CSV/TSV: ``profile_id`` and
  one numeric column per covariate; no map grid), or a covariate grid NetCDF with any of the
  paper's 60 covariates (:func:`~socmodels.data.read_covariates`; e.g. SoilGrids and WorldClim
  resampled to one grid); it is sampled at the sites (nearest land cell) and its land cells
  become the map grid. Its own covariates win over the climate-derived ones of the same
  name.

The other paper covariates are simply absent: the network is built on the columns present
(the scaler and the input layer follow ``covariates.columns``). A column that is constant
over the grid scales to 0 (:class:`~socmodels.data.MinMaxScaler`) and carries no
information; ``info["covariates_constant"]`` lists those.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from socmodels import Forcing
from socmodels.data import (
    DataError,
    climate_forcing,
    climatology_forcing,
    covariates_at_sites,
    forcing_at_sites,
    read_climate_table,
    read_clm5_history,
    read_covariates,
    read_profiles_csv,
    read_wosis,
    screening_report,
)

__all__ = ["UserWorld", "user_world", "SOURCES", "CLIMATE_KINDS", "MAX_GRID_RATIO"]

SOURCES = ("wosis", "csv")
"""Profile sources :func:`user_world` reads (``data.source``)."""

CLIMATE_KINDS = ("table", "cesm", "sites")
"""Climate sources (``data.climate.kind``): a gridded climate table, CESM2/CLM5 history
files, or a per-profile table of :func:`~socmodels.data.climate_forcing` arguments."""

SITE_CLIMATE_REQUIRED = ("mat", "mat_amplitude", "moisture", "npp")
"""Columns of a ``kind: sites`` climate table (besides ``profile_id``)."""
SITE_CLIMATE_OPTIONAL = ("bedrock_depth", "active_layer_depth", "sand")
"""Optional columns of a ``kind: sites`` table (arguments of ``climate_forcing``)."""
SITE_TABLE_SUFFIXES = (".csv", ".tsv", ".txt")
"""``data.covariates`` files with these suffixes are per-site tables (else a grid NetCDF)."""

MAX_GRID_RATIO = 20.0
"""Climate cells make a map grid when (unique lat x unique lon) <= this x the cell count
(a regular grid has about 3.3 cells per land cell globally); scattered points do not."""

_READER_KEYS = {
    "wosis": {"soc_unit", "ptf_soc_unit", "bd_codes", "licences", "min_layers",
              "min_max_depth_cm", "max_node_depth_m", "negative_depths", "zero_thickness",
              "on_error", "depth_unit", "interleaved", "overlaps"},
    "csv": {"soc_unit", "depth_unit", "ptf_soc_unit", "licences", "min_layers",
            "min_max_depth_cm", "max_node_depth_m", "negative_depths", "zero_thickness",
            "on_error", "interleaved", "overlaps"},
}
_CLIMATE_KEYS = {"table": {"kind", "path", "mat_amplitude", "max_distance_km"},
                 "cesm": {"kind", "path", "years", "input_units", "max_distance_km"},
                 "sites": {"kind", "path"}}
_DATA_KEYS = {"source", "path", "reader", "climate", "covariates"}


@dataclasses.dataclass
class UserWorld:
    """A user's data in the shape of :class:`~socmodels.data.VirtualWorld`.

    Attributes:
        profiles: Screened profiles (dims ``profile``, ``layer``) from the reader.
        forcing: Batched forcing aligned with ``profiles``.
        covariates: Site x covariate table (index ``profile_id``).
        grid: Covariates on ``(lat, lon)`` (NaN off the land cells), or None when the
            climate source is not a regular grid (the map stage has nothing to map).
        grid_forcing: Batched forcing of the map cells (order of ``grid_cells``), or None.
        grid_cells: ``lat``, ``lon``, ``j``, ``i`` of the map cells, or None.
        truth: An empty Dataset (no true parameters for real data).
        files: Name -> path of every input read.
        info: Counts, distances to the climate cells, covariate notes.
    """

    profiles: xr.Dataset
    forcing: Forcing
    covariates: pd.DataFrame
    grid: xr.Dataset | None
    grid_forcing: Forcing | None
    grid_cells: pd.DataFrame | None
    truth: xr.Dataset
    files: dict[str, Path]
    info: dict[str, Any]


def _unknown(mapping: dict, allowed: set[str], where: str) -> None:
    """Reject keys not in ``allowed`` (keys set to None are ignored: a schema's defaults)."""
    bad = sorted(k for k, v in mapping.items() if k not in allowed and v is not None)
    if bad:
        raise DataError(f"unknown key(s) {bad} in {where}; allowed: {sorted(allowed)}",
                        column=where, reason="config")


def _paths(value: Any, where: str, *, folder: bool | None) -> list[Path]:
    """``value`` (a path or list of paths) -> existing paths, or a DataError naming it."""
    items = value if isinstance(value, list | tuple) else [value]
    if not items or any(v is None or str(v) == "" for v in items):
        raise DataError(f"{where} is required (a path)", column=where, reason="config")
    out = []
    for v in items:
        p = Path(v).expanduser()
        if not p.exists():
            raise DataError(f"{where}: no such file or folder", file=p, column=where,
                            reason="not_found")
        if folder is True and not p.is_dir():
            raise DataError(f"{where}: expected a folder (a WoSIS download)", file=p,
                            column=where, reason="config")
        if folder is False and not p.is_file():
            raise DataError(f"{where}: expected a file", file=p, column=where,
                            reason="config")
        out.append(p)
    return out


def _read_profiles(d: dict) -> tuple[xr.Dataset, dict[str, Path]]:
    source = d.get("source")
    if source not in SOURCES:
        raise DataError(f"data.source must be one of {SOURCES} (or virtual_world), got"
                        f" {source!r}", column="data.source", reason="config")
    reader = {k: v for k, v in (d.get("reader") or {}).items() if v is not None}
    _unknown(reader, _READER_KEYS[source], f"data.reader (source {source})")
    if source == "wosis":
        folders = _paths(d.get("path"), "data.path", folder=True)
        prof = read_wosis(folders if len(folders) > 1 else folders[0], **reader)
        files = {f"wosis_{k}": p for k, p in enumerate(folders)}
    else:
        (path,) = _paths(d.get("path"), "data.path", folder=False)
        prof = read_profiles_csv(path, **reader)
        files = {"profiles_csv": path}
    if prof.sizes.get("profile", 0) == 0:
        rep = screening_report(prof)
        raise DataError("no profile passed the screening; the screening report says:\n"
                        f"{rep}", file=", ".join(str(p) for p in files.values()),
                        reason="empty")
    return prof, files


def _table_covariates(clim: Any, lat: np.ndarray, lon: np.ndarray) -> dict[str, np.ndarray]:
    """Paper covariates derivable from a :class:`~socmodels.data.SiteClimate`."""
    return {"Lon": ((np.asarray(lon, float) + 180.0) % 360.0) - 180.0,
            "Lat": np.asarray(lat, float), "BIO1": np.atleast_1d(clim.mat),
            "BIO4": 100.0 * np.atleast_1d(clim.mat_amplitude) / np.sqrt(2.0),
            "BIO12": np.atleast_1d(clim.map), "cesm2_npp": np.atleast_1d(clim.npp)}


def _forcing_covariates(f: Forcing, lat: np.ndarray, lon: np.ndarray) -> dict[str, np.ndarray]:
    """Paper covariates derivable from a CLM5 forcing (CESM2 history files)."""
    npp = sum(np.asarray(getattr(f, k)) for k in ("input_cwd", "input_litr1", "input_litr2",
                                                   "input_litr3"))
    nb = np.asarray(f.nbedrock)
    return {"Lon": ((np.asarray(lon, float) + 180.0) % 360.0) - 180.0,
            "Lat": np.asarray(lat, float), "cesm2_npp": np.asarray(npp, float).reshape(-1),
            "nbedrock": nb.reshape(nb.shape[0], -1)[:, 0].astype(float)}


def _site_table(path: Path, ids: np.ndarray, what: str) -> pd.DataFrame:
    """A per-profile table (``profile_id`` + numeric columns) aligned with ``ids``."""
    try:
        df = pd.read_csv(path, sep=None, engine="python", dtype={"profile_id": str})
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the {what} table ({exc})", file=path,
                        reason="unreadable") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "profile_id" not in df.columns:
        raise DataError(f"the {what} table needs a 'profile_id' column (columns:"
                        f" {list(df.columns)})", file=path, column="profile_id",
                        reason="missing_column")
    df["profile_id"] = df["profile_id"].astype(str).str.strip()
    dup = df["profile_id"][df["profile_id"].duplicated()].unique().tolist()
    if dup:
        raise DataError(f"profile_id {dup[:5]} listed more than once", file=path,
                        column="profile_id", reason="duplicate")
    df = df.set_index("profile_id")
    want = [str(i) for i in ids]
    missing = [i for i in want if i not in df.index]
    if missing:
        raise DataError(f"no {what} for {len(missing)} profile(s), e.g. {missing[:5]}",
                        file=path, column="profile_id", reason="missing_rows")
    df = df.loc[want]
    for col in df.columns:
        vals = pd.to_numeric(df[col], errors="coerce")
        bad = df.index[vals.isna() & df[col].notna()].tolist()
        if bad:
            raise DataError(f"not a number for profile(s) {bad[:5]}", file=path, column=col,
                            reason="non_numeric")
        df[col] = vals.astype(float)
    return df


def _site_climate(path: Path, ids: np.ndarray, lat: np.ndarray, lon: np.ndarray
                  ) -> tuple[Forcing, dict, np.ndarray]:
    """Forcing from a per-profile climate table (``kind: sites``; ``climate_forcing``)."""
    clim = _site_table(path, ids, "climate")
    absent = [c for c in SITE_CLIMATE_REQUIRED if c not in clim.columns]
    if absent:
        raise DataError(f"the climate table (kind: sites) needs columns {absent} (has"
                        f" {list(clim.columns)})", file=path, column=absent[0],
                        reason="missing_column")
    for c in SITE_CLIMATE_REQUIRED:
        if clim[c].isna().any():
            raise DataError(f"empty for profile(s) {clim.index[clim[c].isna()].tolist()[:5]}",
                            file=path, column=c, reason="nan")
    opt = {c: clim[c].to_numpy(float) for c in SITE_CLIMATE_OPTIONAL if c in clim.columns}
    try:
        forcing = climate_forcing(*(clim[c].to_numpy(float) for c in SITE_CLIMATE_REQUIRED),
                                  **opt, latitude=lat)
    except ValueError as exc:
        raise DataError(f"the climate does not make a forcing: {exc}", file=path,
                        reason="forcing") from exc
    cov = {"Lon": ((np.asarray(lon, float) + 180.0) % 360.0) - 180.0,
           "Lat": np.asarray(lat, float), "BIO1": clim["mat"].to_numpy(float),
           "BIO4": 100.0 * clim["mat_amplitude"].to_numpy(float) / np.sqrt(2.0),
           "cesm2_npp": clim["npp"].to_numpy(float)}
    return forcing, cov, np.zeros(len(ids))


class _Climate:
    """One climate source: forcing and derived covariates at any points."""

    def __init__(self, c: Any) -> None:
        if not isinstance(c, dict):
            raise DataError("data.climate must be a mapping with 'kind' and 'path'",
                            column="data.climate", reason="config")
        self.kind = c.get("kind") or "table"
        if self.kind not in CLIMATE_KINDS:
            raise DataError(f"data.climate.kind must be one of {CLIMATE_KINDS}, got"
                            f" {self.kind!r}", column="data.climate.kind", reason="config")
        _unknown(c, _CLIMATE_KEYS[self.kind], f"data.climate (kind {self.kind})")
        self.max_km = c.get("max_distance_km")
        if self.kind == "sites":                      # one row per profile: no cells
            (self.path,) = _paths(c.get("path"), "data.climate.path", folder=False)
            self.files = {"climate_sites": self.path}
            self.cell_lat = self.cell_lon = None
        elif self.kind == "table":
            (self.path,) = _paths(c.get("path"), "data.climate.path", folder=False)
            self.amp = c.get("mat_amplitude")
            self.files = {"climate_table": self.path}
            cells = read_climate_table(self.path, None, None, mat_amplitude=self.amp)
            self.cell_lat, self.cell_lon = cells.cell_lat, cells.cell_lon
        else:
            paths = c.get("path")
            if isinstance(paths, str) and any(ch in paths for ch in "*?["):
                hist: Any = paths                      # a glob pattern
                self.files = {"cesm_history": Path(paths)}
            else:
                hist = _paths(paths, "data.climate.path", folder=None)
                self.files = {f"cesm_history_{k}": p for k, p in enumerate(hist)}
                hist = hist if len(hist) > 1 else hist[0]
            years = c.get("years")
            self.clim = read_clm5_history(hist, years=tuple(years) if years else None,
                                          input_units=c.get("input_units") or "auto")
            self.cell_lat = np.asarray(self.clim["lat"].values, float)
            self.cell_lon = np.asarray(self.clim["lon"].values, float)

    def at(self, lat: np.ndarray, lon: np.ndarray, ids: np.ndarray | None = None
           ) -> tuple[Forcing, dict, np.ndarray]:
        """``(forcing, covariates, distance_km)`` at points (nearest climate cell; for
        ``kind: sites`` the rows of the profiles ``ids``, distance 0)."""
        if self.kind == "sites":
            return _site_climate(self.path, ids, lat, lon)
        if self.kind == "table":
            at = read_climate_table(self.path, lat, lon, mat_amplitude=self.amp,
                                    max_distance_km=self.max_km)
            try:
                forcing = at.climate.forcing()
            except ValueError as exc:
                raise DataError(f"the climate does not make a forcing: {exc}", file=self.path,
                                reason="forcing") from exc
            return forcing, _table_covariates(at.climate, lat, lon), at.distance_km
        sf = forcing_at_sites(self.clim, lat, lon, max_distance_km=self.max_km)
        return sf.forcing, _forcing_covariates(sf.forcing, lat, lon), sf.distance_km

    def all_cells(self) -> tuple[Forcing, dict]:
        """Forcing and covariates of every climate cell (cell order)."""
        if self.kind == "table":
            return self.at(self.cell_lat, self.cell_lon)[:2]
        f = climatology_forcing(self.clim)
        return f, _forcing_covariates(f, self.cell_lat, self.cell_lon)


def _regular_grid(lat: np.ndarray, lon: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Cells -> ``(lat_axis, lon_axis, j, i)`` when they sit on a regular-enough grid."""
    ulat, j = np.unique(np.round(lat, 6), return_inverse=True)
    ulon, i = np.unique(np.round(((lon + 180.0) % 360.0) - 180.0, 6), return_inverse=True)
    if ulat.size * ulon.size > MAX_GRID_RATIO * max(lat.size, 1):
        return None
    if np.unique(j * ulon.size + i).size != lat.size:
        return None                                   # two cells on one grid point
    return ulat, ulon, j, i


def _grid_dataset(lat_axis: np.ndarray, lon_axis: np.ndarray, j: np.ndarray, i: np.ndarray,
                  values: dict[str, np.ndarray]) -> xr.Dataset:
    shape = (lat_axis.size, lon_axis.size)
    data = {}
    for k, v in values.items():
        a = np.full(shape, np.nan)
        a[j, i] = v
        data[k] = (("lat", "lon"), a)
    land = np.zeros(shape, bool)
    land[j, i] = True
    data["land"] = (("lat", "lon"), land)
    return xr.Dataset(data, coords={"lat": lat_axis, "lon": lon_axis})


def user_world(data_cfg: dict, out: Path | str, seed: int = 0) -> UserWorld:
    """Read a user's profiles, climate and covariates into the pipeline's world object.

    Args:
        data_cfg: The ``data`` section of the pipeline config: ``source`` (``wosis`` or
            ``csv``), ``path`` (a WoSIS folder, a list of folders, or a CSV file),
            ``reader`` (keyword arguments of :func:`~socmodels.data.read_wosis` /
            :func:`~socmodels.data.read_profiles_csv`, e.g. ``on_error``, ``licences``),
            ``climate`` (``kind: table`` with ``path`` to a CSV/NetCDF climate table and
            optional ``mat_amplitude``; or ``kind: cesm`` with ``path`` to history files, a
            folder or a glob, optional ``years`` [first, last] and ``input_units``; both
            take ``max_distance_km``; or ``kind: sites`` with ``path`` to a per-profile table:
            ``profile_id`` and the :func:`~socmodels.data.climate_forcing` arguments
            ``mat``, ``mat_amplitude``, ``moisture``, ``npp`` [, ``bedrock_depth``,
            ``active_layer_depth``, ``sand``]) and optional ``covariates`` (a covariate grid
            NetCDF, or a per-site CSV/TSV table with ``profile_id``; a table gives no map
            grid).
        out: The pipeline's output folder; the screening report is written to
            ``out/data/screening.txt`` and the site table to ``out/data/sites.csv``.
        seed: Unused (real data is read, not generated); kept for the stage signature.

    Returns:
        A :class:`UserWorld`.

    Raises:
        DataError: A missing or unreadable input, an unknown key, no profile left after
            screening, a site farther than ``max_distance_km`` from the climate grid, or a
            climate that makes no valid forcing; the message names the file or config key.
    """
    del seed
    if not isinstance(data_cfg, dict):
        raise DataError("the data section must be a mapping", column="data", reason="config")
    _unknown(data_cfg, _DATA_KEYS | {"resolution", "n_profiles", "size", "noise_sd"}, "data")
    if data_cfg.get("climate") is None:
        raise DataError("data.climate is required for your own data: a climate table"
                        " (kind: table) or CESM2/CLM5 history files (kind: cesm)",
                        column="data.climate", reason="config")
    profiles, files = _read_profiles(data_cfg)
    climate = _Climate(data_cfg["climate"])
    files.update(climate.files)
    lat = np.asarray(profiles["lat"].values, float)
    lon = np.asarray(profiles["lon"].values, float)
    ids = np.asarray(profiles["profile_id"].values)
    forcing, site_cov, dist = climate.at(lat, lon, ids)
    covariates = pd.DataFrame(site_cov, index=pd.Index(ids, name="profile_id"))

    grid = grid_forcing = grid_cells = None
    notes: list[str] = []
    cov_file = data_cfg.get("covariates")
    site_table = bool(cov_file) and Path(str(cov_file)).suffix.lower() in SITE_TABLE_SUFFIXES
    if site_table:                                     # per-site covariates: no map grid
        (cov_path,) = _paths(cov_file, "data.covariates", folder=False)
        files["covariates"] = cov_path
        table = _site_table(cov_path, ids, "covariates")
        for c in table.columns:
            covariates[c] = table[c].to_numpy()
        notes.append("no map grid: the covariates are a per-site table, so the maps and the"
                     " map-based analyses are skipped")
    elif cov_file and climate.kind == "sites":
        raise DataError("a covariate grid needs a gridded climate (kind: table or cesm) to"
                        " force its cells; with kind: sites give a per-site covariate table"
                        " (CSV)", file=cov_file, column="data.covariates", reason="config")
    elif cov_file:
        (cov_path,) = _paths(data_cfg["covariates"], "data.covariates", folder=False)
        files["covariates"] = cov_path
        cov_grid = read_covariates(cov_path)
        found = [c for c in cov_grid.attrs["covariates"].split(", ") if c]
        at_sites = covariates_at_sites(cov_grid, lat, lon, index=ids, columns=found).table
        for c in found:
            covariates[c] = at_sites[c].to_numpy()
        land = np.asarray(cov_grid["land"].values).astype(bool) if "land" in cov_grid else \
            np.isfinite(np.asarray(cov_grid[next(c for c in found if c not in ("Lon", "Lat"))
                                            ].values))
        j, i = np.nonzero(land)
        la = np.asarray(cov_grid["lat"].values)[j]
        lo = np.asarray(cov_grid["lon"].values)[i]
        grid_forcing, derived, _ = climate.at(la, lo)
        grid = cov_grid[found].copy()
        la2, lo2 = np.meshgrid(cov_grid["lat"].values, cov_grid["lon"].values, indexing="ij")
        grid["Lat"], grid["Lon"] = (("lat", "lon"), la2), (("lat", "lon"), lo2)
        for k, v in derived.items():
            if k not in grid:
                a = np.full(land.shape, np.nan)
                a[j, i] = v
                grid[k] = (("lat", "lon"), a)
        grid["land"] = (("lat", "lon"), land)
        grid_cells = pd.DataFrame({"lat": la, "lon": lo, "j": j, "i": i})
        notes.append(f"map grid: the {land.sum()} land cells of the covariate grid {cov_path}")
    elif climate.kind == "sites":
        notes.append("no map grid: the climate is a per-profile table, so the maps and the"
                     " map-based analyses are skipped")
    else:
        reg = _regular_grid(climate.cell_lat, climate.cell_lon)
        if reg is None:
            notes.append("no map grid: the climate cells are not a regular lat/lon grid, so"
                         " the maps and the map-based analyses are skipped")
        else:
            lat_axis, lon_axis, j, i = reg
            grid_forcing, cell_cov = climate.all_cells()
            grid = _grid_dataset(lat_axis, lon_axis, j, i, cell_cov)
            grid_cells = pd.DataFrame({"lat": lat_axis[j], "lon": lon_axis[i], "j": j, "i": i})
            notes.append(f"map grid: the {j.size} cells of the climate source")
    constant = [c for c in covariates.columns
                if grid is not None and np.nanmin(grid[c].values) == np.nanmax(grid[c].values)]
    if grid is not None:
        missing = [c for c in covariates.columns if c not in grid]
        if missing:                                    # cannot happen by construction
            raise RuntimeError(f"covariates {missing} are at the sites but not on the grid")
    nonfinite = [c for c in covariates.columns if not np.all(np.isfinite(covariates[c]))]
    if nonfinite:
        c = nonfinite[0]
        bad = covariates.index[~np.isfinite(covariates[c].to_numpy(float))][0]
        where = ("the covariate table has no value" if site_table else
                 "nearest land cell of the covariate grid has no value")
        raise DataError(f"covariate {c!r} is missing at profile {bad} ({where})",
                        file=files.get("covariates"), column=c, reason="nan")

    out = Path(out)
    (out / "data").mkdir(parents=True, exist_ok=True)
    (out / "data" / "screening.txt").write_text(str(screening_report(profiles)) + "\n")
    sites = covariates.copy()
    sites.insert(0, "climate_distance_km", dist)
    sites.to_csv(out / "data" / "sites.csv")
    info = {
        "source": data_cfg["source"], "climate": climate.kind,
        "n_profiles_kept": int(profiles.sizes["profile"]),
        "n_layers_kept": int(np.asarray(profiles["layer_mask"].values).sum()),
        "covariates": list(covariates.columns), "covariates_constant": constant,
        "climate_distance_km_max": float(np.max(dist)),
        "climate_distance_km_median": float(np.median(dist)),
        "n_map_cells": 0 if grid_cells is None else len(grid_cells),
        "notes": notes,
    }
    truth = xr.Dataset(attrs={"note": "no truth: the profiles are the user's own data"})
    return UserWorld(profiles=profiles, forcing=forcing, covariates=covariates, grid=grid,
                     grid_forcing=grid_forcing, grid_cells=grid_cells, truth=truth,
                     files=files, info=info)

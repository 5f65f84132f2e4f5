"""Figures of the PRODA pipeline, drawn to journal figure guidelines (Matplotlib).

Every map has a land outline (the real Earth's coastline, contoured from the GLOBE land mask
shipped by ``global-land-mask``; no download), sea drawn in a pale blue and land cells without
a value (e.g. infeasible steady states) in grey, so that sea and missing data are never
confused; axes are labelled with units and every colour bar is labelled. Comparison panels
show the 1:1 line and Pearson's r. Thresholds (R-hat, NSE) are the run's own.

Functions:
    :func:`map_panel`, :func:`land_outline`, :func:`comparison_panel`,
    :func:`soc_maps_figure`, :func:`latitudinal_figure`, :func:`components_figure`,
    :func:`recovery_figure`, :func:`parameter_maps_figure`, :func:`outline_site_maps`,
    :func:`save`.
"""

from __future__ import annotations

import functools
import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np
import xarray as xr

__all__ = ["DPI", "SEA_COLOUR", "MISSING_COLOUR", "map_panel", "land_outline",
           "comparison_panel", "soc_maps_figure", "latitudinal_figure", "components_figure",
           "recovery_figure", "parameter_maps_figure", "outline_site_maps", "save"]

DPI = 100
SEA_COLOUR = "#e4eef5"
MISSING_COLOUR = "#b8b8b8"
LON_LABEL = "longitude (degrees east)"
LAT_LABEL = "latitude (degrees north)"


def _plt():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


@functools.lru_cache(maxsize=1)
def _coastline_field() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lon, lat, land fraction) of the real Earth at 0.5 degrees, for contouring."""
    from socmodels.data.world import earth_land_fraction

    frac = earth_land_fraction()
    coarse = frac.coarsen(lat=2, lon=2).mean()
    return coarse["lon"].values, coarse["lat"].values, coarse.values


def land_outline(ax, *, color: str = "0.15", linewidth: float = 0.5) -> None:
    """Draw the real Earth's coastline (land fraction 0.5 contour) on a lon/lat axis."""
    lon, lat, frac = _coastline_field()
    ax.contour(lon, lat, frac, levels=[0.5], colors=color, linewidths=linewidth)


def _edges(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, float)
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


def map_panel(ax, lon, lat, values, *, label: str, title: str | None = None, land=None,
              cmap: str = "viridis", vmin: float | None = None, vmax: float | None = None,
              extend: str = "neither", ylim: tuple[float, float] = (-60.0, 85.0)):
    """One map: values on a lon/lat grid with outline, axis labels and a labelled colour bar.

    Args:
        ax: Matplotlib axes.
        lon, lat: 1-D grid centres [degrees].
        values: (lat, lon) array (NaN = no value).
        label: colour-bar label, with units.
        title: panel title.
        land: (lat, lon) boolean land mask of the grid: land cells without a value are drawn
            grey (sea stays pale blue).
        cmap, vmin, vmax, extend: colour scale.
        ylim: latitude range shown.

    Returns:
        The QuadMesh.
    """
    import matplotlib.colors as mcolors

    fig = ax.figure
    ax.set_facecolor(SEA_COLOUR)
    xe, ye = _edges(lon), _edges(lat)
    v = np.asarray(values, float)
    if land is not None:
        missing = np.asarray(land, bool) & ~np.isfinite(v)
        if missing.any():
            ax.pcolormesh(xe, ye, np.where(missing, 1.0, np.nan),
                          cmap=mcolors.ListedColormap([MISSING_COLOUR]), vmin=0, vmax=1)
    im = ax.pcolormesh(xe, ye, np.ma.masked_invalid(v), cmap=cmap, vmin=vmin, vmax=vmax)
    land_outline(ax)
    ax.set_xlim(-180, 180)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_xticks(np.arange(-180, 181, 60))
    ax.set_yticks(np.arange(-60, 81, 30))
    ax.set_xlabel(LON_LABEL, fontsize=8)
    ax.set_ylabel(LAT_LABEL, fontsize=8)
    ax.tick_params(labelsize=7)
    cb = fig.colorbar(im, ax=ax, shrink=0.85, pad=0.02, extend=extend)
    cb.set_label(label, fontsize=8)
    cb.ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return im


def comparison_panel(ax, x, y, *, xlabel: str, ylabel: str, title: str | None = None,
                     log: bool = False, one_to_one: bool = True, s: float = 4.0,
                     limits: tuple[float, float] | None = None) -> float:
    """Scatter of paired values with the 1:1 line and Pearson's r (of logs when ``log``).

    Args:
        ax: Matplotlib axes.
        x, y: paired values (NaN pairs are dropped; with ``log`` non-positive ones too).
        xlabel, ylabel: axis labels with units.
        title: panel title.
        log: logarithmic axes; r is computed on the logarithms.
        one_to_one: draw the 1:1 line.
        s: marker size.
        limits: common axis range (default: the data's); the 1:1 line spans it.

    Returns:
        Pearson's r (NaN with fewer than 3 pairs or no spread).
    """
    a, b = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    ok = np.isfinite(a) & np.isfinite(b)
    if log:
        ok &= (a > 0) & (b > 0)
    a, b = a[ok], b[ok]
    ta, tb = (np.log(a), np.log(b)) if log else (a, b)
    r = float(np.corrcoef(ta, tb)[0, 1]) if a.size > 2 and ta.std() > 0 and tb.std() > 0 \
        else float("nan")
    ax.scatter(a, b, s=s, alpha=0.5, color="tab:blue", edgecolors="none")
    if log:
        from matplotlib.ticker import LogLocator, NullFormatter

        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(LogLocator(base=10.0, numticks=4))
            axis.set_minor_formatter(NullFormatter())
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_minor_formatter(NullFormatter())
    if limits is not None:
        lo, hi = limits
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
    elif a.size:
        lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    if one_to_one and a.size:
        ax.plot([lo, hi], [lo, hi], color="0.2", lw=0.8, ls="--", label="1:1")
    ax.text(0.04, 0.95, f"r = {r:.2f}" + (" (log)" if log else "") + f"\nn = {a.size}",
            transform=ax.transAxes, va="top", fontsize=7,
            bbox=dict(facecolor="white", alpha=0.8, edgecolor="none", pad=1.5))
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return r


def outline_site_maps(fig) -> None:
    """Add the coastline and lon/lat units to the site-map panels of a figure.

    For figures drawn elsewhere (e.g. :func:`inference.dashboard`): every axis whose x label
    is ``longitude`` gets the land outline, the map's extent and labels with units.
    """
    for ax in fig.axes:
        if ax.get_xlabel() == "longitude":
            ax.set_facecolor(SEA_COLOUR)
            land_outline(ax)
            ax.set_xlim(-180, 180)
            ax.set_ylim(-60, 85)
            ax.set_xlabel(LON_LABEL, fontsize=8)
            ax.set_ylabel(LAT_LABEL, fontsize=8)


def save(fig, path: str | Path, *, dpi: int = DPI) -> Path:
    """Save a figure as PNG (``dpi`` ~100 keeps a panel figure under ~200 KB) and close it."""
    from socmodels.figures import save_png

    plt = _plt()
    path = save_png(fig, path, dpi=dpi)
    plt.close(fig)
    return path


def _land(maps: dict[str, xr.Dataset]) -> np.ndarray | None:
    ds = next(iter(maps.values()))
    return np.isfinite(ds["theta"].isel(parameter=0).values) if "theta" in ds else None


def soc_maps_figure(maps: dict[str, xr.Dataset], *, land=None):
    """0-1 m SOC stock maps per model, customary (left) and PRODA (right) parameters.

    Args:
        maps: model name -> ``maps/<model>.nc`` dataset.
        land: grid land mask (default: where the parameter maps are defined).
    """
    plt = _plt()
    land = _land(maps) if land is None else land
    fig, axes = plt.subplots(len(maps), 2, figsize=(10, 2.9 * len(maps)), squeeze=False,
                             layout="constrained")
    for r, ds in enumerate(maps.values()):
        for c, (var, which) in enumerate((("stock_1m_customary", "customary parameters"),
                                          ("stock_1m", "PRODA parameters"))):
            v = ds[var].values / 1e3
            map_panel(axes[r, c], ds["lon"].values, ds["lat"].values, v, land=land,
                      cmap="YlOrBr", vmin=0.0, vmax=float(np.nanpercentile(
                          [ds[x].values / 1e3 for x in ("stock_1m", "stock_1m_customary")],
                          98)) if np.isfinite(v).any() else None, extend="max",
                      label="SOC 0-1 m (kg C m$^{-2}$)",
                      title=f"{ds.attrs.get('model', '')} SOC stock, {which}")
    fig.text(0.005, 0.002, "grey: land cells without a feasible steady state", fontsize=7)
    return fig


def latitudinal_figure(maps: dict[str, xr.Dataset]):
    """Zonal median 0-1 m SOC per model, customary (dashed) and PRODA (solid)."""
    from surrogate.analysis import zonal_profile

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
    colours = ("tab:blue", "tab:orange", "tab:green", "tab:red")
    for (m, ds), col in zip(maps.items(), colours, strict=False):
        name = ds.attrs.get("model", m)
        for var, ls, which in (("stock_1m_customary", "--", "customary"),
                               ("stock_1m", "-", "PRODA")):
            z = zonal_profile(ds[var] / 1e3, stat="median")
            ax.plot(z.values, z[z.dims[0]].values, ls, color=col, label=f"{name} {which}")
    ax.set_xlabel("zonal median SOC 0-1 m (kg C m$^{-2}$)", fontsize=8)
    ax.set_ylabel(LAT_LABEL, fontsize=8)
    ax.set_ylim(-60, 85)
    ax.tick_params(labelsize=7)
    ax.grid(lw=0.3, color="0.85")
    ax.legend(fontsize=7)
    return fig


def components_figure(comp: xr.Dataset, models: Sequence[str], names: dict[str, str], *,
                      keys: Sequence[str] = ("cte", "k", "xi", "v", "b", "carbon_input")):
    """Between-model scatter of the system-level components (PRODA maps), 1:1 line and r.

    Args:
        comp: ``analyses_components.nc`` (variables ``<model>_<key>`` with units).
        models: the two model keys (x, y).
        names: model key -> display name.
        keys: components to show.
    """
    from surrogate.analysis import COMPONENT_LONG_NAMES

    plt = _plt()
    mx, my = models
    fig, axes = plt.subplots(2, 3, figsize=(10, 6.4), layout="constrained")
    for ax, k in zip(axes.ravel(), keys, strict=True):
        a, b = comp[f"{mx}_{k}"], comp[f"{my}_{k}"]
        units = a.attrs.get("units", "")
        unit = "" if units in ("", "1") else f" ({units})"
        log = k in ("k", "v", "carbon_input")
        short = COMPONENT_LONG_NAMES[k].split(" (")[0]
        comparison_panel(ax, a.values, b.values, xlabel=f"{names[mx]}{unit}",
                         ylabel=f"{names[my]}{unit}", title=short, log=log)
    return fig


def recovery_figure(true_unit: np.ndarray, pred_unit: np.ndarray, names: Sequence[str],
                    model: str, *, ncol: int = 6):
    """True (x) vs PRODA-predicted (y) parameter maps in the unit cube, one panel each."""
    plt = _plt()
    nrow = int(np.ceil(len(names) / ncol))
    # a fixed grid: constrained layout costs seconds for ~24 panels
    fig, axes = plt.subplots(nrow, ncol, figsize=(1.9 * ncol, 1.9 * nrow + 0.4), squeeze=False,
                             gridspec_kw=dict(left=0.05, right=0.99, bottom=0.06, top=0.93,
                                              wspace=0.35, hspace=0.45))
    for k, ax in enumerate(axes.ravel()):
        if k >= len(names):
            ax.axis("off")
            continue
        comparison_panel(ax, true_unit[..., k], pred_unit[..., k], xlabel="true (unit cube)",
                         ylabel="PRODA (unit cube)", title=names[k], s=2.0, limits=(0.0, 1.0))
        ax.xaxis.label.set_fontsize(6)
        ax.yaxis.label.set_fontsize(6)
        if k % ncol:
            ax.set_ylabel("")
        if k < len(names) - ncol:
            ax.set_xlabel("")
    fig.suptitle(f"{model}: true vs PRODA-predicted parameter maps (unit cube; dashed 1:1)",
                 fontsize=9)
    return fig


def parameter_maps_figure(ds: xr.Dataset, names: Sequence[str], *, land=None, ncol: int = 2):
    """PRODA parameter maps (ensemble median) of ``names``, each with its unit."""
    from socmodels.netcdf import parameter_units_of

    plt = _plt()
    units = parameter_units_of(ds, "theta")
    nrow = int(np.ceil(len(names) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.0 * ncol, 2.6 * nrow), squeeze=False,
                             layout="constrained")
    long_names = dict(zip([str(p) for p in ds["parameter"].values],
                          [str(x) for x in ds["parameter_long_name"].values], strict=True))
    for ax, name in zip(axes.ravel(), names, strict=False):
        v = ds["theta"].sel(parameter=name).values
        u = units[name]
        map_panel(ax, ds["lon"].values, ds["lat"].values, v, land=land,
                  label=f"{name} ({u})" if u != "1" else f"{name} (1)",
                  title=textwrap.fill(textwrap.shorten(
                      f"{ds.attrs.get('model', '')} {name}: {long_names[name]}", 96,
                      placeholder=" ..."), 52))
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    return fig

"""Map-level analyses of the PRODA comparison (Tao et al., GCB 2024, §2.7 and §3).

Everything here takes arrays of pools, stocks or predictions as inputs, so it is testable
without running CLM5/COMPAS:

* grid-cell areas (:func:`cell_area`), SOC stocks over a depth with the coarse-fragment
  correction (:func:`soc_stock`), global totals in Pg C (:func:`global_total`)
  -- ``docs/original_code.md`` §1;
* correlation of log SOC between two maps (:func:`log_correlation`, paper §3: r = -0.026
  customary, 0.51 after PRODA);
* pooled NSE ("explained variation", :func:`pooled_nse`) with bootstrap and ensemble
  intervals (:func:`nse_bootstrap`, :func:`ensemble_nse`) -- reference §8;
* the system-level components CTE, K, Xi, V, B/I and carbon input, paper Eq. 10-14
  (:func:`components`, computed by each model's ``site_components``) -- reference §8;
* Michaelis constants over substrate for COMPAS (:func:`michaelis_ratios`, paper Fig. 5);
* latitudinal profiles (:func:`zonal_profile`).

Array conventions
-----------------
``pools`` have shape ``(..., n_pools, 20)``, as ``SteadyState.pools`` of ``socmodels``
(pool-major): CLM5 ``(CWD, L1, L2, L3, S1, S2, S3)``, COMPAS ``(CWD, L1, L2, L3, DOC, MIC,
ENZ, SOC)``, concentrations in gC m-3. ``theta`` is the *physical* parameter vector
``(..., d)`` in parameter-table order; ``forcing`` a :class:`socmodels.Forcing` (months
first). Leading batch axes (any number, e.g. ``(lat, lon)``) are broadcast and mapped with
``jax.vmap``; the component functions are pure JAX and can be ``jit``-ed.

Model physics is not re-implemented here: each model computes its own components and
Michaelis ratios for one site (``clm5.site_components``, ``compas.site_components``,
``compas.site_michaelis_ratios``, from the models' own rates and fluxes), and
:func:`components` / :func:`michaelis_ratios` validate the inputs and map them over batch
axes, so the diagnostics describe exactly the models that produced the pools.

"reference §N" below means ``docs/original_code.md`` §N.

The GCB implementation of the components (``fun_bulk_process_converge.m``) is not public
(reference §8, Q12). Each component below states which definition it follows; the
``variant`` argument switches between ``"paper"`` (Eq. 10-14 read literally with the
models' own rates, consistent across the two models, quirks fixed) and ``"code"`` (the
closest available code, ``fun_bulk_process.m``, quirks included). ``docs/surrogate.md``
lists the differences.
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from inference.metrics import finite_pairs, nse
from socmodels import clm5, compas, get_model, has_capability, layers
from socmodels.components import MichaelisRatios, SystemComponents, check_variant, xi_bulk
from socmodels.forcing import FIELDS as FORCING_FIELDS
from socmodels.forcing import Forcing

__all__ = [
    "EARTH_RADIUS",
    "CF_DEPTHS",
    "VALID_STOCK",
    "cell_area",
    "soc_stock",
    "mask_valid",
    "global_total",
    "log_correlation",
    "pooled_nse",
    "nse_bootstrap",
    "ensemble_nse",
    "xi_bulk",
    "SystemComponents",
    "components",
    "components_clm5",
    "components_compas",
    "components_to_dataset",
    "MichaelisRatios",
    "michaelis_ratios",
    "first_order_fraction",
    "zonal_profile",
]

EARTH_RADIUS = 6371008.8
"""Mean Earth radius [m] used by the original area computation (reference §1)."""

CF_DEPTHS = (0.0, 0.3, 1.0)
"""Tops [m] of the depth intervals that use the coarse fragments at 0, 30 and 100 cm."""

VALID_STOCK = (0.0, 1.0e6)
"""Open interval of valid stocks [gC m-2]; other cells are excluded (reference §1)."""

_DZ = jnp.asarray(layers.dz)


# ======================================================================================
# Areas, stocks, totals
# ======================================================================================

def _edges(centres: np.ndarray, lo: float, hi: float) -> np.ndarray:
    c = np.asarray(centres, dtype=np.float64)
    if c.size == 1:
        raise ValueError("need at least two cell centres to infer the cell size")
    mid = 0.5 * (c[1:] + c[:-1])
    e = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    return np.clip(e, lo, hi)


def cell_area(lat, lon, *, radius: float = EARTH_RADIUS,
              method: str = "trapezoid") -> xr.DataArray:
    r"""Area [m2] of the cells of a regular or irregular lat/lon grid.

    Cell edges are the mid-points between centres (half a cell beyond the outer centres,
    latitudes clipped to +-90 deg).

    ``method="trapezoid"`` generalises the original 0.5-degree formula (reference §1) to any
    cell size :math:`\Delta\phi \times \Delta\lambda`:

    .. math::
        L_{top} = \frac{2\pi R \cos\phi_{top}}{360}\Delta\lambda,\quad
        L_{bot} = \frac{2\pi R \cos\phi_{bot}}{360}\Delta\lambda,\quad
        H = \frac{\pi R}{180}\Delta\phi,\quad A = \frac{(L_{top}+L_{bot})H}{2}

    ``method="exact"`` uses the spherical zone :math:`R^2\Delta\lambda
    |\sin\phi_{top}-\sin\phi_{bot}|` (radians); the two differ by ~(Δφ)²/12 relative.

    Args:
        lat, lon (1-D arrays or DataArrays): Cell-centre latitudes and longitudes [degrees].
        radius (float): Sphere radius [m], default :data:`EARTH_RADIUS`.

    Returns:
        xr.DataArray (lat, lon), m2
    """
    lat_c = np.asarray(lat, dtype=np.float64)
    lon_c = np.asarray(lon, dtype=np.float64)
    le = _edges(lat_c, -90.0, 90.0)
    we = _edges(lon_c, -np.inf, np.inf)
    dlon = np.abs(np.diff(we))
    top, bot = le[1:], le[:-1]
    if method == "trapezoid":
        dlat = np.abs(top - bot)
        l_top = 2 * np.pi * radius * np.cos(np.deg2rad(top)) / 360.0
        l_bot = 2 * np.pi * radius * np.cos(np.deg2rad(bot)) / 360.0
        h = np.pi * radius / 180.0 * dlat
        band = (l_top + l_bot) * h / 2.0  # per degree of longitude
        area = band[:, None] * dlon[None, :]
    elif method == "exact":
        band = radius ** 2 * np.abs(np.sin(np.deg2rad(top)) - np.sin(np.deg2rad(bot)))
        area = band[:, None] * np.deg2rad(dlon)[None, :]
    else:
        raise ValueError("method must be 'trapezoid' or 'exact'")
    return xr.DataArray(area, dims=("lat", "lon"), coords={"lat": lat_c, "lon": lon_c},
                        name="cell_area", attrs={"units": "m2", "method": method})


def _interval_weights(depth: float, tops: Sequence[float]) -> list[np.ndarray]:
    """Layer weights [m] of each interval [tops[k], tops[k+1]) clipped to [0, depth]."""
    def w(d):
        d = min(d, depth, layers.COLUMN_DEPTH)
        return np.zeros(layers.NLEV) if d <= 0 else layers.stock_weights(d)

    bounds = list(tops[1:]) + [np.inf]
    return [w(b) - w(t) for t, b in zip(tops, bounds, strict=True)]


def soc_stock(soc, *, depth: float = 1.0, coarse_fragments=None,
              cf_depths: Sequence[float] = CF_DEPTHS, layer_dim: str = "layer"):
    r"""SOC stock [gC m-2] from layer concentrations over 0-``depth`` m.

    .. math:: S = \sum_k (1 - CF_k/100) \sum_j w_{kj} s_j

    where ``w_kj`` is the thickness of layer ``j`` inside depth interval ``k`` and
    0-``depth`` (a partly covered layer counts proportionally, as the original 0-30,
    0-100, 0-200 cm stocks; :func:`socmodels.layers.stock_weights`).

    Args:
        soc (xr.DataArray with ``layer_dim``, or array (..., 20)):
            Concentrations [gC m-3] of the 20 layers (e.g. CLM5 S1+S2+S3, COMPAS
            DOC+MIC+ENZ+SOC).
        depth (float): Bottom of the integration [m] (1.0 for the paper's "first metre").
        coarse_fragments (sequence of arrays, optional):
            Coarse-fragment volume [%] for the intervals starting at ``cf_depths``, e.g.
            SoilGrids ``Coarse_Fragments_v`` at 0, 30 and 100 cm (grid columns 45-47). The
            original corrects 0-30, 30-100, 100-200 and > 200 cm with CF at 0, 30, 100 and
            100 cm, which is ``cf_depths=(0, 0.3, 1.0)`` with the last value reused below.
            Must broadcast against ``soc`` without its layer axis. ``None``: no correction.
        cf_depths (sequence of float): Tops of the correction intervals [m], increasing, first 0.

    Returns:
        Same type as ``soc`` without the layer axis [gC m-2].
    """
    tops = [float(t) for t in cf_depths]
    if tops[0] != 0.0 or np.any(np.diff(tops) <= 0):
        raise ValueError("cf_depths must start at 0 and increase")
    if coarse_fragments is None:
        weights = [layers.stock_weights(min(depth, layers.COLUMN_DEPTH))]
        factors = [1.0]
    else:
        if len(coarse_fragments) != len(tops):
            raise ValueError(f"{len(coarse_fragments)} coarse-fragment fields for"
                             f" {len(tops)} depth intervals")
        weights = _interval_weights(depth, tops)
        factors = [1.0 - cf / 100.0 for cf in coarse_fragments]
    if isinstance(soc, xr.DataArray):
        if soc.sizes.get(layer_dim) != layers.NLEV:
            raise ValueError(f"soc needs a '{layer_dim}' dimension of length {layers.NLEV}")
        out = 0.0
        for w, f in zip(weights, factors, strict=True):
            wd = xr.DataArray(w, dims=(layer_dim,))
            out = out + f * (soc * wd).sum(layer_dim, skipna=False)
        return out.assign_attrs(units="gC m-2", depth_m=depth,
                                coarse_fragment_correction=coarse_fragments is not None)
    s = np.asarray(soc, dtype=np.float64)
    if s.shape[-1] != layers.NLEV:
        raise ValueError(f"soc must have {layers.NLEV} layers on its last axis; got {s.shape}")
    return sum(np.asarray(f) * (s @ w) for w, f in zip(weights, factors, strict=True))


def mask_valid(stock, *, valid_range: tuple[float, float] = VALID_STOCK):
    """Set stocks outside the open interval ``valid_range`` (and non-finite ones) to NaN."""
    lo, hi = valid_range
    if isinstance(stock, xr.DataArray):
        return stock.where((stock > lo) & (stock < hi))
    s = np.asarray(stock, dtype=np.float64)
    return np.where((s > lo) & (s < hi), s, np.nan)


def global_total(stock, area, *, valid_range: tuple[float, float] | None = VALID_STOCK
                 ) -> xr.DataArray:
    """Global total [Pg C] = sum over valid cells of stock [gC m-2] x area [m2] / 1e15.

    Cells with NaN stock or area, and (by default) stocks outside the open interval
    ``(0, 1e6)`` gC m-2 (reference §1), are skipped. ``stock`` and ``area`` must
    broadcast; two DataArrays must have identical coordinates on shared dimensions
    (``ValueError`` otherwise, rather than silently dropping cells).
    """
    s = mask_valid(stock, valid_range=valid_range) if valid_range is not None else stock
    if isinstance(s, xr.DataArray) and isinstance(area, xr.DataArray):
        try:
            s, area = xr.align(s, area, join="exact")
        except ValueError as exc:
            raise ValueError("stock and area have different lat/lon coordinates; build the"
                             " area with cell_area(stock.lat, stock.lon)") from exc
        prod = s * area
        total = float(prod.sum(skipna=True)) / 1e15
        n = int(prod.notnull().sum())
    else:
        prod = np.asarray(s, dtype=np.float64) * np.asarray(area, dtype=np.float64)
        total = float(np.nansum(prod)) / 1e15
        n = int(np.isfinite(prod).sum())
    return xr.DataArray(total, name="global_total",
                        attrs={"units": "Pg C", "n_cells": n,
                               "valid_range_gC_m2": str(valid_range)})


# ======================================================================================
# Map comparison and skill
# ======================================================================================

def _flat_pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(a, xr.DataArray) and isinstance(b, xr.DataArray):
        a, b = xr.align(a, b, join="inner")
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"inputs have {x.size} and {y.size} values")
    return x, y


def log_correlation(a, b) -> xr.Dataset:
    """Pearson correlation of log(SOC) between two maps (paper §3).

    Cells where either map is non-finite or <= 0 are excluded. DataArrays are aligned
    on their coordinates first.

    Returns:
        xr.Dataset:
            ``r`` (Pearson r of natural logs), ``n`` (cells used), ``df`` (n - 2) and
            ``p_value`` (two-sided t test, if SciPy is available; else NaN).
    """
    x, y = _flat_pair(a, b)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    lx, ly = np.log(x[ok]), np.log(y[ok])
    n = int(ok.sum())
    if n < 3 or np.ptp(lx) == 0 or np.ptp(ly) == 0:
        r = np.nan  # undefined for fewer than 3 cells or a constant map
    else:
        r = float(np.corrcoef(lx, ly)[0, 1])
    p = np.nan
    if n >= 3 and np.isfinite(r):
        try:
            from scipy import stats
            t = r * np.sqrt((n - 2) / max(1.0 - r * r, 1e-300))
            p = float(2 * stats.t.sf(abs(t), n - 2))
        except ImportError:  # pragma: no cover
            pass
    return xr.Dataset({"r": r, "n": n, "df": n - 2, "p_value": p},
                      attrs={"description": "Pearson r of log values over valid cells"})


def _nse_pairs(predicted, observed, drop_negative: bool):
    return finite_pairs(*_flat_pair(predicted, observed), drop_negative=drop_negative)


def pooled_nse(predicted, observed, *, drop_negative: bool = True) -> xr.DataArray:
    r"""Pooled Nash-Sutcliffe efficiency ("explained variation", paper §3; reference §8).

    .. math:: \mathrm{NSE} = 1 - \frac{\sum_i (m_i - o_i)^2}{\sum_i (o_i - \bar o)^2}

    over all layers of all evaluated profiles at once (the original
    ``coeff_efficiency``). Pairs with a non-finite value are dropped, and so are negative
    model values (the original sets them to NaN; ``drop_negative``).

    Args:
        predicted, observed (arrays of the same shape):
            Modelled and observed SOC [gC m-3] at the observation depths of held-out
            profiles (any shape; flattened).
    """
    m, o, ok = _nse_pairs(predicted, observed, drop_negative)
    return xr.DataArray(float(nse(m, o, ok)), name="nse", attrs={"n": int(ok.sum())})


def nse_bootstrap(predicted, observed, *, groups=None, n_boot: int = 1000, seed: int = 0,
                  interval: tuple[float, float] = (0.1587, 0.8413),
                  drop_negative: bool = True) -> xr.Dataset:
    """Pooled NSE with a bootstrap confidence interval.

    Resamples whole profiles (``groups``: profile id of each value, so that layers of
    one profile stay together) or, without ``groups``, individual values, ``n_boot``
    times with replacement. The default interval is the central 68.3 % ("one-sigma", as
    the paper reports for its 200 NN bootstraps).

    Returns:
        xr.Dataset:
            ``nse`` (all data), ``nse_median``, ``nse_lower``, ``nse_upper`` and ``samples``
            (dim ``boot``).
    """
    m, o, ok = _nse_pairs(predicted, observed, drop_negative)
    m, o = m[ok], o[ok]
    rng = np.random.default_rng(seed)
    if groups is None:
        gid = np.arange(m.size)
    else:
        g = np.asarray(groups).ravel()
        if g.size != ok.size:
            raise ValueError("groups must have one entry per value")
        _, gid = np.unique(g[ok], return_inverse=True)
    n_groups = int(gid.max()) + 1 if gid.size else 0
    members = [np.flatnonzero(gid == k) for k in range(n_groups)] if groups is not None \
        else None
    samples = np.empty(n_boot)
    for b in range(n_boot):
        pick = rng.integers(0, n_groups, n_groups)
        idx = pick if members is None else np.concatenate(
            [members[k] for k in pick] + [np.zeros(0, int)])  # no groups: empty -> NaN
        samples[b] = nse(m[idx], o[idx])
    lo, hi = np.nanquantile(samples, interval) if n_boot else (np.nan, np.nan)
    return xr.Dataset(
        {"nse": float(nse(m, o)),
         "nse_median": float(np.nanmedian(samples)) if n_boot else np.nan,
         "nse_lower": float(lo), "nse_upper": float(hi), "samples": ("boot", samples)},
        attrs={"interval": str(interval), "n": int(m.size), "n_groups": n_groups,
               "resampled": "profiles" if groups is not None else "values"})


def ensemble_nse(predicted, observed, *, member_axis: int = 0,
                 interval: tuple[float, float] = (0.1587, 0.8413),
                 drop_negative: bool = True) -> xr.Dataset:
    """Pooled NSE of every ensemble member and its spread (paper §3: "median 56 %,
    one-sigma interval 53-57 % in 200-time bootstrapping").

    ``predicted`` has an ensemble axis ``member_axis``; ``observed`` has the shape of one
    member. Returns ``nse`` (dim ``member``), ``nse_median``, ``nse_lower``, ``nse_upper``.
    """
    p = np.moveaxis(np.asarray(predicted, dtype=np.float64), member_axis, 0)
    vals = np.array([float(pooled_nse(p[k], observed, drop_negative=drop_negative))
                     for k in range(p.shape[0])])
    lo, hi = np.nanquantile(vals, interval)
    return xr.Dataset({"nse": ("member", vals), "nse_median": float(np.nanmedian(vals)),
                       "nse_lower": float(lo), "nse_upper": float(hi)},
                      attrs={"interval": str(interval)})


# ======================================================================================
# System-level components (Eq. 10-14) and Michaelis ratios, dispatched through the model
# ======================================================================================

def _map_sites(core, theta, forcing, pools, *per_layer):
    """Apply a one-site ``core(theta, forcing, pools, *per_layer)`` over leading batch axes.

    The batch shape is ``pools.shape[:-2]``; ``theta`` (..., d), the forcing fields and the
    optional per-layer arrays (..., 20) are broadcast to it, flattened and ``vmap``-ed.
    """
    pools = jnp.asarray(pools)
    batch = pools.shape[:-2]
    if not batch:
        return core(jnp.asarray(theta), forcing, pools, *per_layer)
    n = math.prod(batch)
    theta = jnp.asarray(theta)
    th = jnp.broadcast_to(theta, batch + theta.shape[-1:]).reshape(n, -1)
    fields = {}
    for name, (shape, *_rest) in FORCING_FIELDS.items():
        a = jnp.asarray(getattr(forcing, name))
        fields[name] = jnp.broadcast_to(a, batch + shape).reshape((n,) + shape)
    extra = [None if v is None else
             jnp.broadcast_to(jnp.asarray(v), batch + (layers.NLEV,)).reshape(n, layers.NLEV)
             for v in per_layer]
    axes = (0, 0, 0) + tuple(None if v is None else 0 for v in extra)
    out = jax.vmap(core, in_axes=axes)(th, Forcing(**fields),
                                       pools.reshape((n,) + pools.shape[-2:]), *extra)
    return jax.tree.map(lambda a: a.reshape(batch + a.shape[1:]), out)


_UNITS = {"cte": "1", "k": "yr-1", "xi": "1", "v": "yr-1", "b": "1", "i": "1",
          "carbon_input": "gC m-2 yr-1", "litter_to_soil": "1", "e": "1"}
#: UDUNITS units (CF files) and long names of the system-level components
COMPONENT_UNITS = {k: u.replace("gC", "g") for k, u in _UNITS.items()}
COMPONENT_LONG_NAMES = {
    "cte": "carbon transfer efficiency CTE (Eq. 10)",
    "k": "baseline decomposition rate K (Eq. 11)",
    "xi": "environmental modifier Xi (Eq. 13)", "v": "vertical transport rate V (Eq. 12)",
    "b": "input allocation B: fraction of carbon input below 5 cm (Eq. 14)",
    "i": "input allocation index I (per cm)",
    "carbon_input": "plant carbon input (grams of carbon)",
    "litter_to_soil": "fraction of carbon input passed from litter to mineral soil",
    "e": "non-microbial carbon transfer E (COMPAS; NaN for CLM5)"}


def _model(model):
    return get_model(model) if isinstance(model, str) else model


def _check_pools(pools, mod):
    p = jnp.asarray(pools)
    n = len(mod.POOL_NAMES)
    if p.shape[-2:] != (n, layers.NLEV):
        raise ValueError(f"{mod.NAME} pools must have shape (..., {n}, {layers.NLEV})"
                         f" (pools, layers); got {p.shape}")
    return p


def _capability(mod, name: str, what: str):
    if not has_capability(mod, name):
        raise ValueError(f"model {mod.NAME} does not provide {what} ('{name}')")
    return getattr(mod, name)


def components(model, theta, forcing, pools, *, variant: str = "paper", xi_layer=None,
               v_layer=None) -> SystemComponents:
    r"""System-level components of a model (paper Eq. 10-14), mapped over batch axes.

    The model computes them for one site (its ``site_components``); this validates the
    inputs and maps it over the leading batch axes of ``pools``.

    CLM5 (``clm5.site_components``). With :math:`F_j = \sum_z x_{j,z} k_j \xi_{j,z} \Delta z`
    (donor outflow: baseline rate :math:`k_j = 1/\tau_j` times the modifier):

    * CTE (Eq. 10) :math:`= \sum_{ij} a_{ij} F_j / \sum_j F_j` over the paths L1->S1,
      L2->S1, L3->S2, S1->S2, S1->S3, S2->S1, S2->S3, S3->S1, each donor's outflow counted
      once in the denominator; the CWD split (fractions summing to 1, no respiration) is
      excluded as in ``fun_bulk_process``.
    * K (Eq. 11) :math:`= \sum_i k_i X_i / \sum_i X_i`, :math:`X_i = \sum_z x_{i,z}\Delta z`;
      ``"paper"``: all seven pools of the soil system; ``"code"``: S1-S3 only.
    * Xi (Eq. 13) :math:`= \sum_z \xi_z s_z\Delta z / \sum_z s_z\Delta z`, s = S1+S2+S3.
    * V (Eq. 12) :math:`= \sum_z v_z s_z\Delta z / \sum_z s_z\Delta z`, v = loss rate of
      layer z by vertical mixing, ``l + u`` of ``socmodels.processes.transport_coefficients``
      (``docs/differences.md`` Q8).
    * I, B (Eq. 14): :math:`I = \frac1n\sum_z (1 - Y_z)^{1/D_z}` (D in cm) over layers with
      input below them, ``B = I^5``; ``"paper"`` evaluates Y and D at the bottom interface
      (``I = beta`` for the Jackson profile); ``"code"`` uses the node depth in the exponent
      and ``1 - cumsum`` (``fun_bulk_process``; NaN when all input is in layer 1).
    * litter_to_soil: litter-to-mineral-soil transfer over the carbon input.

    Modifier :math:`\xi`: ``"paper"``: the model's own (``rates``: 12-month mean of
    :math:`\xi_T\xi_W\xi_O` times the depth scalar; litter also :math:`\xi_N`); ``"code"``:
    :func:`xi_bulk` (T and W only, as ``fun_bulk_process``) for every pool.

    COMPAS (``compas.site_components``; Q12): Michaelis-Menten fluxes enter through their
    apparent first-order rates per unit donor; CTE counts the microbial transfer paths only
    (L1/L2/L3 -> MIC with :math:`(1-p_i)\,CUE_i`, DOC -> MIC with ``mic_cue``; ``"code"``
    carries :math:`(1-p_i)` a second time as ``fun_bulk_process`` does); ``e`` is the
    non-microbial transfer (pl1s1, pl2s1, pl3s4, pdeath2soc); K weights all eight pools
    (``"code"``: the seven of ``fun_bulk_process`` with its rates as written); Xi is
    weighted by total soil C; V by the litter stock (the mineral pools are not
    transported); I, B and the carbon input as CLM5; litter_to_soil from
    ``compas.soil_fluxes``.

    Args:
        model: a registered model name or a model object with ``site_components``.
        theta: (..., d) physical parameters (``PARAMETERS`` order).
        forcing: a :class:`socmodels.Forcing` with the same leading batch axes (or none,
            to share one forcing).
        pools: (..., n_pools, 20) steady-state pools [gC m-3], e.g.
            ``model.steady_state(theta, forcing).pools``.
        variant: ``"paper"`` or ``"code"`` (see above and ``docs/surrogate.md``).
        xi_layer: optional (..., 20) modifier override (all pools) in CTE and Xi.
        v_layer: optional (..., 20) transport loss-rate override [yr-1].

    Returns:
        :class:`SystemComponents` (``e`` is NaN for models without it).

    Raises:
        ValueError: for a bad variant, pools of the wrong shape, or a model without
            ``site_components``.
    """
    mod = _model(model)
    check_variant(variant)
    core = _capability(mod, "site_components", "system-level components")
    pools = _check_pools(pools, mod)
    return _map_sites(functools.partial(core, variant=variant), theta, forcing, pools,
                      xi_layer, v_layer)


def components_clm5(theta, forcing, pools, *, variant: str = "paper", xi_layer=None,
                    v_layer=None) -> SystemComponents:
    """:func:`components` of CLM5 (``theta`` (..., 21), ``pools`` (..., 7, 20))."""
    return components(clm5, theta, forcing, pools, variant=variant, xi_layer=xi_layer,
                      v_layer=v_layer)


def components_compas(theta, forcing, pools, *, variant: str = "paper", xi_layer=None,
                      v_layer=None) -> SystemComponents:
    """:func:`components` of COMPAS (``theta`` (..., 23), ``pools`` (..., 8, 20))."""
    return components(compas, theta, forcing, pools, variant=variant, xi_layer=xi_layer,
                      v_layer=v_layer)


def components_to_dataset(components: SystemComponents, *, dims: Sequence[str] = (),
                          coords: dict | None = None) -> xr.Dataset:
    """Wrap :class:`SystemComponents` as an ``xarray.Dataset`` with units.

    ``dims`` names the batch axes (e.g. ``("site",)`` or ``("lat", "lon")``).
    """
    data = {}
    for name, value in components._asdict().items():
        a = np.asarray(value)
        if a.ndim != len(dims):
            raise ValueError(f"component '{name}' has {a.ndim} axes; dims={tuple(dims)}")
        data[name] = xr.DataArray(a, dims=tuple(dims), attrs={
            "units": COMPONENT_UNITS[name], "long_name": COMPONENT_LONG_NAMES[name]})
    return xr.Dataset(data, coords=coords)


# ======================================================================================
# Michaelis constants vs substrate (COMPAS, Fig. 5)
# ======================================================================================

def michaelis_ratios(theta, forcing, pools, *, include_xi: bool = True, xi_layer=None,
                     model=compas) -> MichaelisRatios:
    r"""Michaelis constants over their substrates (paper §3, Fig. 5), per layer.

    In COMPAS the Michaelis constants act as :math:`K\xi` (``compas.rates``: ``Ka``,
    ``Kd``); when :math:`K\xi \gg` substrate (the paper uses 100x), the Michaelis-Menten flux
    is first order in the substrate. Layers with zero substrate give ``inf``.

    Args:
        theta: (..., d) physical parameters.
        forcing: a :class:`socmodels.Forcing`.
        pools: (..., n_pools, 20) pools [gC m-3].
        include_xi: multiply the constants by the model's modifier (default), as they act
            in the model; ``False`` compares the bare constants.
        xi_layer: optional (..., 20) modifier override.
        model: a model with ``site_michaelis_ratios`` (default COMPAS, the only built-in
            Michaelis-Menten model), or its registered name.

    Raises:
        ValueError: for pools of the wrong shape or a model without Michaelis kinetics.
    """
    mod = _model(model)
    core = _capability(mod, "site_michaelis_ratios", "Michaelis-Menten ratios")
    pools = _check_pools(pools, mod)
    return _map_sites(functools.partial(core, include_xi=include_xi), theta, forcing, pools,
                      xi_layer)


def first_order_fraction(ratio, *, threshold: float = 100.0, weights=None,
                         axis=None) -> np.ndarray:
    """Fraction of entries with ``ratio > threshold`` (optionally weighted), NaN ignored.

    E.g. the share of profiles (or layers) where the Michaelis-Menten kinetics is
    effectively first order (paper: "more than 100 times ... for most of the soil
    profiles").
    """
    r = np.asarray(ratio, dtype=np.float64)
    ok = ~np.isnan(r)
    w = np.ones_like(r) if weights is None else np.broadcast_to(np.asarray(weights), r.shape)
    w = np.where(ok, w, 0.0)
    hit = np.where(ok & (r > threshold), w, 0.0)
    return np.sum(hit, axis=axis) / np.sum(w, axis=axis)


# ======================================================================================
# Latitudinal profiles
# ======================================================================================

def zonal_profile(data: xr.DataArray, *, stat: str = "median", lat_dim: str = "lat",
                  lon_dim: str = "lon", bin_width: float | None = None,
                  min_count: int = 1) -> xr.DataArray:
    """Latitudinal profile of a map (paper Figs. 2c, 3c): zonal median or mean.

    Args:
        data (xr.DataArray): Map with ``lat_dim`` and ``lon_dim`` (other dims are kept).
        stat ({"median", "mean"}):
            Zonal statistic over valid (non-NaN) cells. Cells of one latitude row have equal
            areas, so the plain zonal mean is area-weighted.
        bin_width (float, optional):
            Aggregate latitudes into bands of this width [degrees] (e.g. 1 or 5); the
            statistic is then taken over all cells in the band (median) or area-weighted
            by cos(lat) (mean). Band centres are the new ``lat`` coordinate.
        min_count (int): Latitudes (bands) with fewer valid cells give NaN.
    """
    if stat not in ("median", "mean"):
        raise ValueError("stat must be 'median' or 'mean'")
    if bin_width is None:
        red = getattr(data, stat)(lon_dim, skipna=True)
        count = data.notnull().sum(lon_dim)
        return red.where(count >= min_count).assign_attrs(data.attrs, zonal_statistic=stat)
    lat = data[lat_dim]
    edges = np.arange(-90.0, 90.0 + bin_width, bin_width)
    centres = 0.5 * (edges[1:] + edges[:-1])
    band = xr.DataArray(np.digitize(lat.values, edges[1:-1]), dims=(lat_dim,),
                        coords={lat_dim: lat})
    if stat == "median":
        cells = data.assign_coords(band=band).stack(_cell=(lat_dim, lon_dim))
        red = cells.groupby("band").median("_cell", skipna=True)
        count = cells.notnull().groupby("band").sum("_cell")
    else:
        w = np.cos(np.deg2rad(lat)).broadcast_like(data).where(data.notnull())
        num = (data * w).sum(lon_dim, skipna=True).assign_coords(band=band)
        den = w.sum(lon_dim, skipna=True).assign_coords(band=band)
        red = num.groupby("band").sum(lat_dim) / den.groupby("band").sum(lat_dim)
        count = data.notnull().sum(lon_dim).assign_coords(band=band).groupby("band").sum(
            lat_dim)
    red = red.where(count >= min_count)
    red = red.assign_coords(band=centres[red["band"].values]).rename(band=lat_dim)
    return red.assign_attrs(data.attrs, zonal_statistic=stat, bin_width=bin_width)

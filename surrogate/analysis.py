"""Map-level analyses of the PRODA comparison (Tao et al., GCB 2024, §2.7 and §3).

Everything here takes arrays of pools, stocks or predictions as inputs, so it is testable
without running CLM5/COMPAS:

* grid-cell areas (:func:`cell_area`), SOC stocks over a depth with the coarse-fragment
  correction (:func:`soc_stock`), global totals in Pg C (:func:`global_total`)
  -- ``proda_reference.md`` §1;
* correlation of log SOC between two maps (:func:`log_correlation`, paper §3: r = -0.026
  customary, 0.51 after PRODA);
* pooled NSE ("explained variation", :func:`pooled_nse`) with bootstrap and ensemble
  intervals (:func:`nse_bootstrap`, :func:`ensemble_nse`) -- reference §8;
* the system-level components CTE, K, Xi, V, B/I and carbon input, paper Eq. 10-14
  (:func:`components_clm5`, :func:`components_compas`) -- reference §8;
* Michaelis constants over substrate for COMPAS (:func:`michaelis_ratios`, paper Fig. 5);
* latitudinal profiles (:func:`zonal_profile`).

Array conventions
-----------------
``pools`` have shape ``(..., n_pools, 20)``: pool-major, i.e. the model's state vector
reshaped as ``(pools, layers)``, in the models' pool order -- CLM5 ``(CWD, L1, L2, L3, S1,
S2, S3)``, COMPAS ``(CWD, L1, L2, L3, DOC, MIC, ENZ, SOC)`` -- concentrations in gC m-3.
``theta`` is the *physical* parameter vector ``(..., d)`` in parameter-table order.
``forcing`` is a :class:`socmodels.Forcing` (months first: ``tsoi`` is ``(..., 12, 20)``).
Leading batch axes must agree between the three. Component functions are pure
``jax.numpy`` and can be ``jit``/``vmap``-ed.

The GCB implementation of the components (``fun_bulk_process_converge.m``) is not public
(reference §8, Q12). Each component below states which definition it follows; the
``variant`` argument switches between ``"paper"`` (Eq. 10-14 read literally, consistent
across the two models, quirks fixed) and ``"code"`` (the closest available code,
``fun_bulk_process.m``, quirks included). ``docs/surrogate.md`` lists the differences.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax.numpy as jnp
import numpy as np
import xarray as xr

from socmodels import layers
from socmodels._tables import CLM5_PARAMETERS, COMPAS_PARAMETERS

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
    "xi_compas",
    "input_profile",
    "transport_loss_rates",
    "SystemComponents",
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

_T_REF = 298.15  # K, reference temperature of the Q10 function (reference §2.3)
_COMPAS_EFOLDING = 0.5  # m, fixed in COMPAS (reference §3.3, Q14)


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

    Parameters
    ----------
    lat, lon : 1-D arrays or DataArrays
        Cell-centre latitudes and longitudes [degrees].
    radius : float
        Sphere radius [m], default :data:`EARTH_RADIUS`.

    Returns
    -------
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

    Parameters
    ----------
    soc : xr.DataArray with ``layer_dim``, or array (..., 20)
        Concentrations [gC m-3] of the 20 layers (e.g. CLM5 S1+S2+S3, COMPAS
        DOC+MIC+ENZ+SOC).
    depth : float
        Bottom of the integration [m] (1.0 for the paper's "first metre").
    coarse_fragments : sequence of arrays, optional
        Coarse-fragment volume [%] for the intervals starting at ``cf_depths``, e.g.
        SoilGrids ``Coarse_Fragments_v`` at 0, 30 and 100 cm (grid columns 45-47). The
        original corrects 0-30, 30-100, 100-200 and > 200 cm with CF at 0, 30, 100 and
        100 cm, which is ``cf_depths=(0, 0.3, 1.0)`` with the last value reused below.
        Must broadcast against ``soc`` without its layer axis. ``None``: no correction.
    cf_depths : sequence of float
        Tops of the correction intervals [m], increasing, first 0.

    Returns
    -------
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
    broadcast (DataArrays align by coordinates).
    """
    s = mask_valid(stock, valid_range=valid_range) if valid_range is not None else stock
    if isinstance(s, xr.DataArray) or isinstance(area, xr.DataArray):
        prod = xr.DataArray(s) * xr.DataArray(area) if not isinstance(s, xr.DataArray) \
            else s * area
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

    Returns
    -------
    xr.Dataset
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


def _nse(m: np.ndarray, o: np.ndarray) -> float:
    denom = np.sum((o - o.mean()) ** 2)
    return float(1.0 - np.sum((m - o) ** 2) / denom) if o.size > 1 and denom > 0 else np.nan


def _nse_pairs(predicted, observed, drop_negative: bool):
    m, o = _flat_pair(predicted, observed)
    ok = np.isfinite(m) & np.isfinite(o)
    if drop_negative:
        ok &= m >= 0
    return m, o, ok


def pooled_nse(predicted, observed, *, drop_negative: bool = True) -> xr.DataArray:
    r"""Pooled Nash-Sutcliffe efficiency ("explained variation", paper §3; reference §8).

    .. math:: \mathrm{NSE} = 1 - \frac{\sum_i (m_i - o_i)^2}{\sum_i (o_i - \bar o)^2}

    over all layers of all evaluated profiles at once (the original
    ``coeff_efficiency``). Pairs with a non-finite value are dropped, and so are negative
    model values (the original sets them to NaN; ``drop_negative``).

    Parameters
    ----------
    predicted, observed : arrays of the same shape
        Modelled and observed SOC [gC m-3] at the observation depths of held-out
        profiles (any shape; flattened).
    """
    m, o, ok = _nse_pairs(predicted, observed, drop_negative)
    return xr.DataArray(_nse(m[ok], o[ok]), name="nse", attrs={"n": int(ok.sum())})


def nse_bootstrap(predicted, observed, *, groups=None, n_boot: int = 1000, seed: int = 0,
                  interval: tuple[float, float] = (0.1587, 0.8413),
                  drop_negative: bool = True) -> xr.Dataset:
    """Pooled NSE with a bootstrap confidence interval.

    Resamples whole profiles (``groups``: profile id of each value, so that layers of
    one profile stay together) or, without ``groups``, individual values, ``n_boot``
    times with replacement. The default interval is the central 68.3 % ("one-sigma", as
    the paper reports for its 200 NN bootstraps).

    Returns
    -------
    xr.Dataset
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
        idx = pick if members is None else np.concatenate([members[k] for k in pick])
        samples[b] = _nse(m[idx], o[idx])
    lo, hi = np.nanquantile(samples, interval) if n_boot else (np.nan, np.nan)
    return xr.Dataset(
        {"nse": _nse(m, o),
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
# Environmental modifiers, input profile, transport (helpers for the components)
# ======================================================================================

def _p(theta, table, name):
    return jnp.asarray(theta)[..., table.index(name)]


def _lift(v, ndim: int):
    """Reshape a constant vector to rank ``ndim`` (explicit broadcasting, so the code also
    runs under ``jax_numpy_rank_promotion='raise'``)."""
    v = jnp.asarray(v)
    return v.reshape((1,) * (ndim - v.ndim) + v.shape)


def _per_layer(v, batch_shape):
    """Broadcast a user-supplied per-layer array to ``batch_shape + (20,)``."""
    return jnp.broadcast_to(jnp.asarray(v), tuple(batch_shape) + (layers.NLEV,))


def _xi_t(tsoi, q10):
    # Q10 function; identical above and below freezing because fq10 = q10 (reference §2.3).
    return jnp.power(q10[..., None, None], (tsoi - _T_REF) / 10.0)


def _xi_w(w_scalar, w_scaling):
    return jnp.minimum(1.0, w_scaling[..., None, None] * w_scalar)


def _xi_depth(efolding):
    e = jnp.asarray(efolding)[..., None]
    return jnp.exp(-_lift(layers.zsoi, e.ndim) / e)


def xi_bulk(q10, w_scaling, efolding, forcing):
    r"""Per-layer environmental modifier used by the bulk diagnostics (reference §8).

    .. math:: \xi_j = \overline{\xi_T}_j \; \overline{\xi_W}_j \; e^{-z_j/z_e}

    (12-month means of the Q10 temperature scalar and the capped, scaled water scalar;
    oxygen and nitrogen scalars excluded, as in ``fun_bulk_process``).

    Parameters
    ----------
    q10, w_scaling, efolding : arrays (...)
        Physical parameters (COMPAS: ``efolding`` = 0.5 m).
    forcing : Forcing
        Uses ``tsoi`` and ``w_scalar`` (..., 12, 20).

    Returns
    -------
    array (..., 20)
    """
    q10, w_scaling, efolding = (jnp.asarray(a) for a in (q10, w_scaling, efolding))
    xt = jnp.mean(_xi_t(jnp.asarray(forcing.tsoi), q10), axis=-2)
    xw = jnp.mean(_xi_w(jnp.asarray(forcing.w_scalar), w_scaling), axis=-2)
    return xt * xw * _xi_depth(efolding)


def xi_compas(theta, forcing):
    r"""COMPAS model modifier (reference §3.3): product of 12-month means, e-folding 0.5 m.

    .. math:: \xi_j = \overline{\xi_T}\,\overline{\xi_W}\,\overline{\xi_O}\,e^{-z_j/0.5}

    This is the modifier inside the Michaelis constants ``K xi``. Returns ``(..., 20)``.
    """
    t = COMPAS_PARAMETERS
    q10, ws = _p(theta, t, "q10"), _p(theta, t, "w_scaling")
    xt = jnp.mean(_xi_t(jnp.asarray(forcing.tsoi), q10), axis=-2)
    xw = jnp.mean(_xi_w(jnp.asarray(forcing.w_scalar), ws), axis=-2)
    xo = jnp.mean(jnp.asarray(forcing.o_scalar), axis=-2)
    return xt * xw * xo * _xi_depth(jnp.full(jnp.shape(q10), _COMPAS_EFOLDING))


def _xi_model_clm5_litter(theta, forcing):
    # CLM5 model rate modifier of L1-L3 (reference §2.3): mean over months of the product
    # xi_T xi_W xi_O xi_N, times the depth scalar.
    t = CLM5_PARAMETERS
    q10, ws, ef = (_p(theta, t, n) for n in ("q10", "w_scaling", "efolding"))
    prod = (_xi_t(jnp.asarray(forcing.tsoi), q10) * _xi_w(jnp.asarray(forcing.w_scalar), ws)
            * jnp.asarray(forcing.o_scalar) * jnp.asarray(forcing.fpi_vr))
    return jnp.mean(prod, axis=-2) * _xi_depth(ef)


def input_profile(beta, altmax_lastyear):
    r"""Vertical allocation of plant inputs (reference §2.7; Jackson et al. 1996).

    .. math:: f_j \propto \beta^{100 z^{top}_j} - \beta^{100 z^{bot}_j}

    normalised over the 20 layers (depths in cm in the exponent). As in the original
    (Q9), all input goes to layer 1 unless **all 12** ``altmax_lastyear`` values are > 0.

    Returns ``(..., 20)`` fractions summing to 1.
    """
    beta = jnp.asarray(beta)[..., None]
    top = jnp.power(beta, 100.0 * _lift(layers.ztop, beta.ndim))
    bot = jnp.power(beta, 100.0 * _lift(layers.zisoi, beta.ndim))
    f = top - bot
    f = f / jnp.sum(f, axis=-1, keepdims=True)
    surface = jnp.broadcast_to(_lift(jnp.zeros(layers.NLEV).at[0].set(1.0), f.ndim), f.shape)
    thawed = jnp.all(jnp.asarray(altmax_lastyear) > 0, axis=-1)[..., None]
    return jnp.where(jnp.broadcast_to(thawed, f.shape), f, surface)


def transport_loss_rates(bio, cryo, altmax, altmax_lastyear, nbedrock):
    r"""Diagonal of the vertical-mixing operator, per month and layer [yr-1].

    Re-implements the diagonal of the CLM5 transport matrix T (reference §2.6): the
    diffusivity at the 21 interfaces is bioturbation ``bio`` below a maximum active-layer
    depth a* > 2 m, cryoturbation ``cryo`` (tapering linearly below a*) for 0 < a* <= 2 m
    and 0 for a* <= 0, floored at 1e-30; harmonic means give the conductances ``dm``,
    ``dp``; the diagonal is ``(dm + dp) / dz`` with the zero-flux boundaries
    ``dp_1/dz_1`` and ``dm_20/dz_20`` and the bedrock branch ``dp = dm`` (Q8). The
    advective flux (1e-30 in the code, adv = 0) is neglected; it changes the rates by
    < 1e-29 yr-1. ``v_j = -V_jj`` is the rate at which layer ``j`` loses carbon to its
    neighbours, used by V_system (Eq. 12; reference §8 uses ``365 diag(T)``).

    Parameters
    ----------
    bio, cryo : arrays (...)
        Bio- and cryoturbation diffusivities [m2 yr-1].
    altmax, altmax_lastyear, nbedrock : arrays (..., 12)
        Forcing fields (m, m, 1-based bedrock layer index).

    Returns
    -------
    array (..., 12, 20) [yr-1]
    """
    a_star = jnp.maximum(jnp.asarray(altmax), jnp.asarray(altmax_lastyear))[..., None]
    nd = a_star.ndim  # rank of (..., 12, 1)
    zi_np = np.asarray(layers.zisoi21)
    zs_np = np.asarray(layers.zsoi21)
    dzn_np = np.asarray(layers.dz_node21)
    zi = _lift(zi_np, nd)
    nb = jnp.asarray(nbedrock).astype(jnp.int32)[..., None]  # (..., 12, 1)
    bio = jnp.asarray(bio)[..., None, None]
    cryo = jnp.asarray(cryo)[..., None, None]
    j0 = _lift(jnp.arange(21, dtype=jnp.int32), nd)
    above = j0 <= nb  # 1-based j <= n_b + 1
    z_nb1 = jnp.take(jnp.asarray(zi_np), jnp.clip(nb, 0, 20))  # zisoi(n_b + 1)
    depth_ref = jnp.minimum(3.0, z_nb1) - a_star
    safe = jnp.where(depth_ref == 0, 1.0, depth_ref)
    taper = jnp.maximum(cryo * (1.0 - (zi - a_star) / safe), 0.0)
    d_cryo = jnp.where(above, jnp.where(zi < a_star, cryo, taper), 0.0)
    d_bio = jnp.where(above, bio, 0.0)
    d = jnp.where((a_star > 0) & (a_star <= 2.0), d_cryo, jnp.where(a_star > 2.0, d_bio, 0.0))
    d = jnp.where(jnp.abs(d) < 1e-30, 1e-30, d)  # (..., 12, 21)

    k_np = np.arange(layers.NLEV)  # 0-based layer index
    km_np = np.maximum(k_np - 1, 0)
    k = _lift(jnp.asarray(k_np, jnp.int32), nd)
    # downward conductance dm (layers 2..20): harmonic mean of D_{j-1}, D_j
    w_m = _lift((zi_np[km_np] - zs_np[km_np]) / dzn_np[k_np], nd)
    d_minus = 1.0 / ((1.0 - w_m) / d[..., k_np] + w_m / d[..., km_np])
    dm = jnp.where(k == 0, 0.0, d_minus / _lift(dzn_np[k_np], nd))
    # upward conductance dp: harmonic mean of D_j, D_{j+1}; bedrock branch dp = dm
    w_p = _lift((zs_np[k_np + 1] - zi_np[k_np]) / dzn_np[k_np + 1], nd)
    d_plus = 1.0 / ((1.0 - w_p) / d[..., k_np] + w_p / d[..., k_np + 1])
    dp_int = d_plus / _lift(dzn_np[k_np + 1], nd)
    bedrock = (k >= nb) & (k > 0)  # 1-based j >= n_b + 1 (never the first layer)
    dp = jnp.where(bedrock, dm, dp_int)
    dz = np.asarray(layers.dz)
    diag = (dm + dp) / _lift(dz, nd)
    diag = diag.at[..., 0].set(dp[..., 0] / dz[0])
    diag = diag.at[..., -1].set(dm[..., -1] / dz[-1])
    return diag


def _allocation_index(beta, altmax_lastyear, variant: str):
    """Index I (~beta) of Eq. 14 and B = I^5 (fraction of input below 5 cm)."""
    f = input_profile(beta, altmax_lastyear)
    if variant == "code":
        # fun_bulk_process: 1 - cumulative fraction at the bottom interface, exponent with
        # the node depth; cumulative fractions >= 1 -> NaN; nan-mean over layers.
        cum = jnp.cumsum(f, axis=-1)
        tail = 1.0 - cum
        val = jnp.power(jnp.clip(tail, 0.0, None), 1.0 / (100.0 * _lift(layers.zsoi, f.ndim)))
        ok = cum < 1.0
    else:
        # Eq. 14 read literally: Y_z is the cumulative fraction at depth D_z (the bottom
        # interface), so (1 - Y_z)^(1/D_z) = beta exactly for the Jackson profile. The
        # remaining fraction is summed from below (no cancellation in 1 - cumsum).
        tail = jnp.flip(jnp.cumsum(jnp.flip(f, -1), axis=-1), -1) - f
        val = jnp.power(jnp.clip(tail, 0.0, None),
                        1.0 / (100.0 * _lift(layers.zisoi, f.ndim)))
        ok = tail > 0.0
    n = jnp.sum(ok, axis=-1).astype(val.dtype)
    index = jnp.sum(jnp.where(ok, val, 0.0), axis=-1) / jnp.maximum(n, 1.0)
    if variant == "code":
        index = jnp.where(n > 0, index, jnp.nan)
    return index, jnp.power(index, 5.0)


def _weighted(values, weights):
    """sum(values * weights) / sum(weights) over the last axis (NaN if weights sum to 0)."""
    w = jnp.asarray(weights)
    s = jnp.sum(w, axis=-1)
    return jnp.where(s > 0, jnp.sum(values * w, axis=-1) / jnp.where(s > 0, s, 1.0), jnp.nan)


# ======================================================================================
# System-level components (Eq. 10-14)
# ======================================================================================

class SystemComponents(NamedTuple):
    """System-level components of one model (paper Eq. 10-14; reference §8).

    Every field has the batch shape of the inputs.
    """

    cte: jnp.ndarray
    """Carbon transfer efficiency CTE_system, Eq. 10 [1]."""
    k: jnp.ndarray
    """Baseline decomposition K_system, Eq. 11 [yr-1]."""
    xi: jnp.ndarray
    """Environmental modifier Xi_system, Eq. 13 [1]."""
    v: jnp.ndarray
    """Vertical transport rate V_system, Eq. 12 [yr-1]."""
    b: jnp.ndarray
    """Input allocation B_system = I^5, fraction of input below 5 cm, Eq. 14 [1]."""
    i: jnp.ndarray
    """Allocation index I (~ beta of the Jackson profile) [1 per cm]."""
    carbon_input: jnp.ndarray
    """Plant carbon input, sum of the four litter/CWD streams [gC m-2 yr-1]."""
    litter_to_soil: jnp.ndarray
    """Fraction of the carbon input passed from litter to mineral-soil pools [1] (Fig. S8)."""
    e: jnp.ndarray
    """COMPAS non-microbial carbon transfer E (reference §8); NaN for CLM5 [1]."""


_UNITS = {"cte": "1", "k": "yr-1", "xi": "1", "v": "yr-1", "b": "1", "i": "1",
          "carbon_input": "gC m-2 yr-1", "litter_to_soil": "1", "e": "1"}

_CLM5_PATHS = (  # (fraction parameter, donor pool index) -- reference §2.5 / §8
    ("fl1s1", 1), ("fl2s1", 2), ("fl3s2", 3), ("fs1s2", 4), ("fs1s3", 4),
    ("fs2s1", 5), ("fs2s3", 5), ("fs3s1", 6))
_CLM5_TAU = ("taucwd", "taul1", "taul2", "taul2", "tau4s1", "tau4s2", "tau4s3")


def _check_variant(variant: str) -> None:
    if variant not in ("paper", "code"):
        raise ValueError("variant must be 'paper' or 'code'")


def _check_pools(pools, n: int, model: str):
    p = jnp.asarray(pools)
    if p.shape[-2:] != (n, layers.NLEV):
        raise ValueError(f"{model} pools must have shape (..., {n}, {layers.NLEV})"
                         f" (pools, layers); got {p.shape}")
    return p


def components_clm5(theta, forcing, pools, *, variant: str = "paper", xi_layer=None,
                    v_layer=None) -> SystemComponents:
    r"""System-level components of CLM5 (paper Eq. 10-14; reference §8).

    With :math:`F_j = \sum_z x_{j,z} k_j \xi_z \Delta z` (donor outflow at baseline
    rate :math:`k_j = 1/\tau_j` times the bulk modifier :math:`\xi_z`, :func:`xi_bulk`):

    * CTE (Eq. 10) :math:`= \sum_{ij} a_{ij} F_j / \sum_j F_j` over the paths L1->S1,
      L2->S1, L3->S2, S1->S2, S1->S3, S2->S1, S2->S3, S3->S1 (each donor's outflow counted
      once in the denominator; CWD fragmentation, a pure split with no respiration, is
      excluded as in ``fun_bulk_process``).
    * K (Eq. 11) :math:`= \sum_i k_i X_i / \sum_i X_i`, :math:`X_i = \sum_z x_{i,z}\Delta z`;
      ``"code"``: S1-S3 only (``fun_bulk_process``); ``"paper"``: all seven pools of the
      soil system (the paper's components "integrate both litter and mineral-soil
      organic carbon").
    * Xi (Eq. 13) :math:`= \sum_z \xi_z s_z\Delta z / \sum_z s_z\Delta z`, s = S1+S2+S3.
    * V (Eq. 12) :math:`= \sum_z v_z s_z\Delta z / \sum_z s_z\Delta z`, v = month-mean
      transport loss rate (:func:`transport_loss_rates`).
    * I, B (Eq. 14): :math:`I = \frac1n\sum_z (1 - Y_z)^{1/D_z}` (D in cm), ``B = I^5``;
      ``"code"`` evaluates the exponent at the node depth and 1 - Y by subtraction
      (``fun_bulk_process``), ``"paper"`` at the interface depth where Y is defined.
    * litter_to_soil: :math:`\sum_z (a_{S1,L1}k_{L1}L1 + a_{S1,L2}k_{L2}L2 +
      a_{S2,L3}k_{L3}L3)\xi^{model}_z\Delta z` / carbon input, with the model's own
      litter modifier (mean of monthly :math:`\xi_T\xi_W\xi_O\xi_N`, times depth scalar).

    Parameters
    ----------
    theta : array (..., 21)
        Physical CLM5 parameters (``CLM5_PARAMETERS`` order).
    forcing : socmodels.Forcing
        Site forcing (batch axes matching ``theta``).
    pools : array (..., 7, 20)
        Steady-state pools (CWD, L1, L2, L3, S1, S2, S3) [gC m-3].
    variant : {"paper", "code"}
        See above.
    xi_layer : array (..., 20), optional
        Overrides the bulk modifier :func:`xi_bulk`.
    v_layer : array (..., 20), optional
        Overrides the month-mean transport loss rates [yr-1].

    Returns
    -------
    SystemComponents (``e`` is NaN)
    """
    _check_variant(variant)
    t = CLM5_PARAMETERS
    theta = jnp.asarray(theta)
    x = _check_pools(pools, 7, "CLM5")
    batch = x.shape[:-2]
    dz = _lift(layers.dz, len(batch) + 1)  # against (..., 20)
    if xi_layer is None:
        xi_layer = xi_bulk(_p(theta, t, "q10"), _p(theta, t, "w_scaling"),
                           _p(theta, t, "efolding"), forcing)
    xi_layer = _per_layer(xi_layer, batch)
    k = jnp.stack([1.0 / _p(theta, t, n) for n in _CLM5_TAU], axis=-1)  # (..., 7) yr-1
    flow = jnp.sum(x * (xi_layer * dz)[..., None, :], axis=-1) * k  # (..., 7) F_j
    num = sum(_p(theta, t, f) * flow[..., d] for f, d in _CLM5_PATHS)
    donors = sorted({d for _, d in _CLM5_PATHS})
    den = sum(flow[..., d] for d in donors)
    cte = num / den

    stock = jnp.sum(x * dz[..., None, :], axis=-1)  # (..., 7) gC m-2
    sel = slice(4, 7) if variant == "code" else slice(0, 7)
    k_sys = _weighted(k[..., sel], stock[..., sel])

    soc = jnp.sum(x[..., 4:7, :], axis=-2) * dz  # (..., 20) gC m-2 per layer
    xi_sys = _weighted(xi_layer, soc)
    if v_layer is None:
        v_layer = jnp.mean(transport_loss_rates(
            _p(theta, t, "diffus"), _p(theta, t, "cryo"), forcing.altmax,
            forcing.altmax_lastyear, forcing.nbedrock), axis=-2)
    v_sys = _weighted(_per_layer(v_layer, batch), soc)
    i_idx, b = _allocation_index(_p(theta, t, "beta"), forcing.altmax_lastyear, variant)

    c_in = jnp.asarray(forcing.input_cwd + forcing.input_litr1 + forcing.input_litr2
                       + forcing.input_litr3)
    xi_lit = _xi_model_clm5_litter(theta, forcing)
    to_soil = sum(_p(theta, t, f) * k[..., d] * jnp.sum(x[..., d, :] * xi_lit * dz, axis=-1)
                  for f, d in _CLM5_PATHS[:3])
    return SystemComponents(cte=cte, k=k_sys, xi=xi_sys, v=v_sys, b=b, i=i_idx,
                            carbon_input=c_in, litter_to_soil=to_soil / c_in,
                            e=jnp.full(jnp.shape(cte), jnp.nan))


def components_compas(theta, forcing, pools, *, variant: str = "paper", xi_layer=None,
                      v_layer=None) -> SystemComponents:
    r"""System-level components of COMPAS (paper Eq. 10-14; reference §8, Q12).

    ``xi`` below is the bulk modifier (:func:`xi_bulk` with e-folding 0.5 m); apparent
    first-order rates of the Michaelis-Menten fluxes are per unit donor, without the outer
    modifier: DOC :math:`k_{up} MIC / (K_a\xi + DOC)`, mSOC
    :math:`k_{dec} ENZ / (K_d\xi + SOC)`.

    * CTE (Eq. 10), microbial transfer only (the paper separates microbial CUE from the
      non-microbial transfer, reported as ``e``): paths L1->MIC, L2->MIC, L3->MIC with
      :math:`a = (1-p_i)\,CUE_i` and DOC->MIC with ``mic_cue``.
      ``"paper"``: donor flows are the full outflows :math:`F_j = \sum_z x k_j \xi \Delta z`;
      ``"code"``: litter flows carry :math:`(1-p_i)` again (``fun_bulk_process``, Q12),
      i.e. CTE is the flow-weighted mean CUE of the microbial paths.
    * K (Eq. 11): stock-weighted baseline rates. ``"code"`` (``fun_bulk_process``): pools
      CWD, L1, L2, L3, MIC, ENZ, SOC with rates 1/tau_cwd, pl1s1/tau_l1, pl2s1/tau_l2,
      pl3s4/tau_l3, 1/tau_death + 1/tau_enz, 1/tau_s3 and
      :math:`k_{dec} ENZ\,K_d\,2\,SOC\,\xi/(K_d\xi+SOC)^3` (as written, Q12).
      ``"paper"``: all eight pools with their full baseline/apparent rates (litter
      1/tau, DOC and SOC apparent rates above, MIC death + enzyme production, ENZ 1/tau_s3).
    * Xi (Eq. 13): weighted by total soil C (DOC+MIC+ENZ+SOC).
    * V (Eq. 12): transport loss rate weighted by litter stock (L1+L2+L3); mineral-soil
      pools are not transported in COMPAS.
    * I, B (Eq. 14), carbon input: as :func:`components_clm5`.
    * e (non-microbial transfer): fractions pl1s1, pl2s1, pl3s4, pdeath2soc of the donors
      L1, L2, L3 (full outflows) and MIC (death flux).
    * litter_to_soil: :math:`(I_{DOC}+I_{MIC}+I_{SOC})` of reference §3.5 (model rates
      with :math:`\xi^{model}` of §3.3 and :math:`\overline{\xi_N}`), over carbon input.

    Parameters
    ----------
    theta : array (..., 23)
        Physical COMPAS parameters (``COMPAS_PARAMETERS`` order).
    forcing : socmodels.Forcing
    pools : array (..., 8, 20)
        Steady-state pools (CWD, L1, L2, L3, DOC, MIC, ENZ, SOC) [gC m-3].
    variant, xi_layer, v_layer
        As in :func:`components_clm5`.
    """
    _check_variant(variant)
    t = COMPAS_PARAMETERS
    theta = jnp.asarray(theta)
    x = _check_pools(pools, 8, "COMPAS")
    batch = x.shape[:-2]
    dz = _lift(layers.dz, len(batch) + 1)  # against (..., 20)
    P = {n: _p(theta, t, n) for n in t.names}
    if xi_layer is None:
        xi_layer = xi_bulk(P["q10"], P["w_scaling"],
                           jnp.full(jnp.shape(P["q10"]), _COMPAS_EFOLDING), forcing)
    xi = _per_layer(xi_layer, batch)
    cwd, l1, l2, l3, doc, mic, enz, som = (x[..., i, :] for i in range(8))
    def col(a):  # parameter (...,) -> (..., 1) against layers
        return a[..., None]

    def column(a):  # sum_z a_z dz_z
        return jnp.sum(a * dz, axis=-1)

    k_l = [1.0 / P["tau4l1"], 1.0 / P["tau4l2"], 1.0 / P["tau4l2"]]
    p_l = [P["pl1s1"], P["pl2s1"], P["pl3s4"]]
    cue_l = [P["l1_cue"], P["l2l3_cue"], P["l2l3_cue"]]
    lit = [l1, l2, l3]
    doc_rate = (1.0 / col(P["tau4s1"])) * mic / (col(P["mm_const_assim"]) * xi + doc)
    f_doc = column(doc * doc_rate * xi)
    if variant == "paper":
        f_lit = [column(L * xi) * k for L, k in zip(lit, k_l, strict=True)]
    else:
        f_lit = [column(L * xi) * k * (1.0 - p) for L, k, p in zip(lit, k_l, p_l, strict=True)]
    a_mic = [(1.0 - p) * c for p, c in zip(p_l, cue_l, strict=True)]
    num = sum(a * f for a, f in zip(a_mic, f_lit, strict=True)) + P["mic_cue"] * f_doc
    cte = num / (sum(f_lit) + f_doc)

    k_death = 1.0 / P["tau4s2_death"]
    f_e = [column(L * xi) * k for L, k in zip(lit, k_l, strict=True)] + [column(mic * xi) * k_death]
    e = sum(a * f for a, f in zip(p_l + [P["pdeath2soc"]], f_e, strict=True)) / sum(f_e)

    k_mic = 1.0 / P["tau4s2_death"] + 1.0 / P["tau4s2_enz"]
    kd_xi = col(P["mm_const_decom"]) * xi
    if variant == "code":
        rates = [col(1.0 / P["tau4cwd"]), col(p_l[0] * k_l[0]), col(p_l[1] * k_l[1]),
                 col(p_l[2] * k_l[2]), col(k_mic), col(1.0 / P["tau4s3"]),
                 (1.0 / col(P["tau4s4"])) * enz * col(P["mm_const_decom"]) * 2.0 * som * xi
                 / (kd_xi + som) ** 3]
        pools_k = [cwd, l1, l2, l3, mic, enz, som]
    else:
        rates = [col(1.0 / P["tau4cwd"]), col(k_l[0]), col(k_l[1]), col(k_l[2]), doc_rate,
                 col(k_mic), col(1.0 / P["tau4s3"]), (1.0 / col(P["tau4s4"])) * enz
                 / (kd_xi + som)]
        pools_k = [cwd, l1, l2, l3, doc, mic, enz, som]
    k_num = sum(column(jnp.broadcast_to(r, c.shape) * c)
                for r, c in zip(rates, pools_k, strict=True))
    k_den = sum(column(c) for c in pools_k)
    k_sys = jnp.where(k_den > 0, k_num / jnp.where(k_den > 0, k_den, 1.0), jnp.nan)

    soil = (doc + mic + enz + som) * dz
    xi_sys = _weighted(xi, soil)
    if v_layer is None:
        v_layer = jnp.mean(transport_loss_rates(P["bio"], P["cryo"], forcing.altmax,
                                                forcing.altmax_lastyear, forcing.nbedrock),
                           axis=-2)
    v_sys = _weighted(_per_layer(v_layer, batch), (l1 + l2 + l3) * dz)
    i_idx, b = _allocation_index(P["beta"], forcing.altmax_lastyear, variant)

    c_in = jnp.asarray(forcing.input_cwd + forcing.input_litr1 + forcing.input_litr2
                       + forcing.input_litr3)
    xi_n = jnp.mean(jnp.asarray(forcing.fpi_vr), axis=-2)
    xi_m = xi_compas(theta, forcing) * xi_n
    to_soil = sum(column(L * xi_m) * k * (p + (1.0 - p) * c)
                  for L, k, p, c in zip(lit, k_l, p_l, cue_l, strict=True))
    return SystemComponents(cte=cte, k=k_sys, xi=xi_sys, v=v_sys, b=b, i=i_idx,
                            carbon_input=c_in, litter_to_soil=to_soil / c_in, e=e)


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
        data[name] = xr.DataArray(a, dims=tuple(dims), attrs={"units": _UNITS[name]})
    return xr.Dataset(data, coords=coords)


# ======================================================================================
# Michaelis constants vs substrate (COMPAS, Fig. 5)
# ======================================================================================

class MichaelisRatios(NamedTuple):
    """Ratios of Michaelis constants to substrate concentrations per layer (Fig. 5)."""

    assim: jnp.ndarray
    """K_a xi / DOC, DOC uptake by microbes, (..., 20) [1]."""
    decom: jnp.ndarray
    """K_d xi / SOC, enzymatic decomposition of mineral SOC, (..., 20) [1]."""


def michaelis_ratios(theta, forcing, pools, *, include_xi: bool = True,
                     xi_layer=None) -> MichaelisRatios:
    r"""Michaelis constants over their substrates for COMPAS (paper §3, Fig. 5).

    In COMPAS the Michaelis constants enter as :math:`K\xi` (reference §3.3, §3.6); when
    :math:`K\xi \gg` substrate (the paper uses 100x), the Michaelis-Menten flux is
    first order in the substrate. Layers with zero substrate give ``inf``.

    Parameters
    ----------
    theta : array (..., 23)
        Physical COMPAS parameters.
    forcing : Forcing
    pools : array (..., 8, 20)
        COMPAS pools (CWD, L1, L2, L3, DOC, MIC, ENZ, SOC) [gC m-3].
    include_xi : bool
        Multiply the constants by the model modifier :func:`xi_compas` (default), as
        they act in the model; ``False`` compares the bare constants.
    xi_layer : array (..., 20), optional
        Overrides the modifier.
    """
    t = COMPAS_PARAMETERS
    x = _check_pools(pools, 8, "COMPAS")
    if include_xi:
        xi = jnp.asarray(xi_layer) if xi_layer is not None else xi_compas(theta, forcing)
    else:
        xi = 1.0
    ka = _p(theta, t, "mm_const_assim")[..., None] * xi
    kd = _p(theta, t, "mm_const_decom")[..., None] * xi
    return MichaelisRatios(assim=ka / x[..., 4, :], decom=kd / x[..., 7, :])


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

    Parameters
    ----------
    data : xr.DataArray
        Map with ``lat_dim`` and ``lon_dim`` (other dims are kept).
    stat : {"median", "mean"}
        Zonal statistic over valid (non-NaN) cells. Cells of one latitude row have equal
        areas, so the plain zonal mean is area-weighted.
    bin_width : float, optional
        Aggregate latitudes into bands of this width [degrees] (e.g. 1 or 5); the
        statistic is then taken over all cells in the band (median) or area-weighted
        by cos(lat) (mean). Band centres are the new ``lat`` coordinate.
    min_count : int
        Latitudes (bands) with fewer valid cells give NaN.
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

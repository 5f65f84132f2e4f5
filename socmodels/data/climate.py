r"""A physically plausible ``Forcing`` from a few site descriptors (no CESM2 output needed).

:func:`climate_forcing` turns mean annual air temperature and its seasonal amplitude, a
moisture index, NPP, depth to bedrock and (optionally) the active-layer depth into the full
12-month, 20-layer forcing of the CLM5/COMPAS models. It is what users without CESM2 history
files use, and what the virtual world (:func:`~socmodels.data.virtual_world`) uses per cell.

The recipe (every constant is a keyword argument):

**Soil temperature.** Annual harmonic heat conduction in a homogeneous half-space: the
seasonal wave is damped and lagged with depth,

.. math::
    T(z, m) = \bar T + A\, e^{-z/d} \cos\!\big(\omega (t_m - t_{peak}) - z/d\big),
    \qquad d = \sqrt{2\kappa/\omega} \approx 2.2\ \mathrm{m}

(κ ≈ 0.5e-6 m² s⁻¹, ω = 2π yr⁻¹), with :math:`\bar T` = MAT + ``soil_offset`` (soils are
on average ~1 K warmer than the air, mostly from snow insulation), :math:`A` the seasonal
semi-amplitude of air temperature, :math:`t_m` mid-month and :math:`t_{peak}` mid-July
(northern hemisphere) or mid-January (southern). Depths are the 20 node depths
``layers.zsoi``.

**Permafrost.** Where the maximum over the year of :math:`T(z)` stays below 0 °C from some
depth on, that depth is the active-layer thickness (ALT). If ``active_layer_depth`` is given,
:math:`\bar T` is instead set (by bisection) so that the thaw depth of the warmest month is
exactly that depth, making temperature, ALT and the transport regime consistent. Without
permafrost ALTMAX is 41.998 m, the node depth of CLM's deepest ground level (what CLM
reports when no layer stays frozen). ``ALTMAX`` per month is the running maximum of the
monthly thaw depth since January (CLM resets it each year); ``ALTMAX_LASTYEAR`` is the annual
maximum.

**Bedrock.** ``nbedrock`` is the first layer whose bottom interface reaches
``bedrock_depth`` (CTSM's rule), 20 when there is no bedrock in the 8.6 m column.

**Water scalar** (CLM5 ``W_SCALAR``, 0-1). From the moisture index :math:`M` (0 = hyper-arid,
1 = perhumid; e.g. P/(P+PET)): surface :math:`0.1 + 0.85 M`, deep :math:`0.2 + 0.75\sqrt M`,
blended with a 0.3 m e-folding; minus a warm-season drying of :math:`0.3(1-M)` at the surface
(e-folding 0.5 m); times the liquid-water fraction ``clip((T + 2 °C)/2 °C, 0.05, 1)`` so that
frozen soil barely decomposes.

**Oxygen scalar** (``O_SCALAR``). 1 in well-drained soil; with
:math:`w = \mathrm{clip}((M-0.75)/0.25, 0, 1)` it falls to :math:`1 - 0.8w` at depth
(e-folding 0.5 m), never below 0.2 (CLM5's minimum).

**Nitrogen scalar** (``FPI_vr``): the constant ``fpi`` (default 0.7).

**Plant inputs.** At steady state litter input equals NPP. A share ``0.3 x woody_fraction``
becomes coarse woody debris; the rest is split 25 % metabolic (L1), 50 % cellulose (L2),
25 % lignin (L3), CLM5's leaf/fine-root litter fractions (``lf_flab``, ``lf_fcel``,
``lf_flig``).

Arrays broadcast: pass arrays of descriptors to get a batched ``Forcing`` (leading site axis).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from socmodels import layers
from socmodels.forcing import Forcing

__all__ = ["climate_forcing", "soil_temperature", "thaw_depth", "nbedrock_from_depth",
           "NO_PERMAFROST_ALT", "DAMPING_DEPTH", "LITTER_FRACTIONS"]

NO_PERMAFROST_ALT = 41.9984368640029
"""ALTMAX without permafrost [m]: node depth of CLM's 25th ground level (``docs/original_code.md``
§1), what CLM reports when no layer stays frozen."""

DAMPING_DEPTH = float(np.sqrt(2 * 0.5e-6 / (2 * np.pi / (365.0 * 86400.0))))
"""Annual damping depth sqrt(2 kappa / omega) for kappa = 0.5e-6 m2 s-1 [m] (about 2.24 m)."""

LITTER_FRACTIONS = (0.25, 0.5, 0.25)
"""Metabolic, cellulose, lignin fractions of non-woody litter (CLM5 lf_flab/fcel/flig)."""

_T0 = 273.15
_ZFINE = np.concatenate([[0.0], np.geomspace(0.005, NO_PERMAFROST_ALT, 600)])
_MONTHS = np.arange(12) + 0.5


def soil_temperature(tbar: Any, amplitude: Any, depth: Any, *, peak_month: Any = 6.5,
                     damping_depth: float = DAMPING_DEPTH) -> np.ndarray:
    """Monthly soil temperature [degC] at ``depth`` [m]: shape ``batch + (12,) + depth.shape``.

    Parameters
    ----------
    tbar : array_like
        Annual mean soil temperature [degC] (batch shape).
    amplitude : array_like
        Seasonal semi-amplitude of surface temperature [K].
    depth : array_like
        Depths [m] (1-D).
    peak_month : array_like
        Time of the surface maximum in months since 1 January (6.5 = mid-July).
    damping_depth : float
        Damping depth [m].
    """
    tb = np.asarray(tbar, float)[..., None, None]
    a = np.asarray(amplitude, float)[..., None, None]
    pk = np.asarray(peak_month, float)[..., None, None]
    z = np.asarray(depth, float)[None, :]
    t = _MONTHS[:, None]
    phase = 2 * np.pi * (t - pk) / 12.0 - z / damping_depth
    return tb + a * np.exp(-z / damping_depth) * np.cos(phase)


def thaw_depth(tbar: Any, amplitude: Any, *, peak_month: Any = 6.5,
               damping_depth: float = DAMPING_DEPTH) -> np.ndarray:
    """Monthly thaw depth [m] (batch + (12,)): depth of the first frozen soil from the surface.

    0 when the surface is frozen; :data:`NO_PERMAFROST_ALT` when nothing is frozen down to
    that depth. Resolved on a 600-point geometric depth grid (0.5 cm - 42 m).

    ``T(z) <= 0`` is ``g(z) <= -tbar / amplitude`` with ``g = exp(-z/d) cos(phase - z/d)``;
    the first such depth is a binary search in the running minimum of ``g``.
    """
    tb = np.asarray(tbar, float)
    amp = np.asarray(amplitude, float)
    pk = np.asarray(peak_month, float)
    batch = np.broadcast_shapes(tb.shape, amp.shape, pk.shape)
    tb, amp, pk = (np.broadcast_to(x, batch) for x in (tb, amp, pk))
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(amp > 0, -tb / np.where(amp > 0, amp, 1.0),
                     np.where(tb > 0, -np.inf, np.inf))
    out = np.empty(batch + (12,))
    x = _ZFINE / damping_depth
    for p in np.unique(pk):
        sel = pk == p
        for k in range(12):
            g = np.exp(-x) * np.cos(2 * np.pi * (_MONTHS[k] - p) / 12.0 - x)
            runmin = np.minimum.accumulate(g)
            i = np.searchsorted(-runmin, -c[sel], side="left")
            out[sel, k] = np.where(i < len(x), _ZFINE[np.minimum(i, len(x) - 1)],
                                   NO_PERMAFROST_ALT)
    return out


def _permafrost_tbar(alt: np.ndarray, amplitude: np.ndarray, peak: np.ndarray,
                     damping_depth: float) -> np.ndarray:
    """Mean soil temperature whose warmest-month thaw depth equals ``alt`` (bisection)."""
    lo = -np.abs(amplitude) - 40.0
    hi = np.zeros_like(lo)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        td = thaw_depth(mid, amplitude, peak_month=peak, damping_depth=damping_depth).max(-1)
        deeper = td > alt
        hi = np.where(deeper, mid, hi)
        lo = np.where(deeper, lo, mid)
    return lo


def nbedrock_from_depth(bedrock_depth: Any) -> np.ndarray:
    """1-based index of the first layer whose bottom reaches ``bedrock_depth`` [m] (20 if none).

    NaN, None or depths below the 8.6 m column give 20 (no bedrock in the column).
    """
    bd = np.asarray(np.nan if bedrock_depth is None else bedrock_depth, float)
    idx = np.searchsorted(layers.zisoi, np.where(np.isfinite(bd), bd, np.inf), side="left") + 1
    return np.clip(idx, 1, layers.NLEV).astype(np.float64)


def climate_forcing(mat: Any, mat_amplitude: Any, moisture: Any, npp: Any,
                    bedrock_depth: Any = None, active_layer_depth: Any = None, *,
                    latitude: Any = None, sand: Any = 40.0, fpi: Any = 0.7,
                    woody_fraction: Any = 0.5, soil_offset: float = 1.0,
                    damping_depth: float = DAMPING_DEPTH,
                    litter_fractions: tuple[float, float, float] = LITTER_FRACTIONS,
                    ) -> Forcing:
    """Build a validated :class:`~socmodels.Forcing` from site climate descriptors.

    Parameters
    ----------
    mat : array_like
        Mean annual air temperature [degC].
    mat_amplitude : array_like
        Seasonal semi-amplitude of monthly air temperature [K]: half the difference between
        the warmest and the coldest month.
    moisture : array_like
        Moisture index in [0, 1] (0 hyper-arid, 1 perhumid; e.g. P / (P + PET)).
    npp : array_like
        Net primary production = total litter input at steady state [gC m-2 yr-1].
    bedrock_depth : array_like, optional
        Depth to bedrock [m]; None/NaN = no bedrock within the 8.6 m column.
    active_layer_depth : array_like, optional
        Active-layer thickness [m] of a permafrost site. None/NaN: derived from the
        temperature field (no permafrost for warm sites). When given, the mean soil
        temperature is set so that the thaw depth matches it (see module docstring).
    latitude : array_like, optional
        Latitude [degrees]; the temperature peak is mid-July north of the equator and
        mid-January south of it (default: north).
    sand : array_like
        Sand content [%], a scalar or (..., 20) per layer.
    fpi : array_like
        Fraction of potential N immobilisation (FPI_vr), 0-1.
    woody_fraction : array_like
        0 (grass) to 1 (forest); sets the coarse-woody-debris share (0.3 x woody_fraction).
    soil_offset : float
        Mean soil minus mean air temperature [K].
    damping_depth : float
        Damping depth of the annual temperature wave [m].
    litter_fractions : (float, float, float)
        Metabolic, cellulose and lignin shares of non-woody litter.

    Returns
    -------
    Forcing
        Validated; batched when any descriptor is an array with a leading axis.

    Examples
    --------
    >>> tundra = climate_forcing(-8.0, 18.0, 0.6, 150.0, active_layer_depth=0.6,
    ...                          latitude=68.0)
    >>> shallow = climate_forcing(12.0, 8.0, 0.5, 500.0, bedrock_depth=0.4)
    >>> tropics = climate_forcing(26.0, 1.5, 0.9, 1200.0, latitude=-3.0)
    """
    mat = np.asarray(mat, float)
    amp = np.abs(np.asarray(mat_amplitude, float))
    moist = np.asarray(moisture, float)
    npp_a = np.asarray(npp, float)
    if np.any(np.isnan(mat)) or np.any(np.isnan(amp)) or np.any(np.isnan(moist)):
        raise ValueError("climate_forcing: mat, mat_amplitude and moisture must not be NaN")
    if np.any((moist < 0) | (moist > 1)):
        raise ValueError("climate_forcing: moisture must be an index in [0, 1]")
    if np.any(npp_a < 0):
        raise ValueError("climate_forcing: npp must be >= 0 gC m-2 yr-1")
    lat = np.asarray(0.0 if latitude is None else latitude, float)
    bed = np.asarray(np.nan if bedrock_depth is None else bedrock_depth, float)
    alt_in = np.asarray(np.nan if active_layer_depth is None else active_layer_depth, float)
    sand_a = np.asarray(sand, float)
    sand_site = sand_a if sand_a.ndim == 0 or sand_a.shape[-1] != layers.NLEV else sand_a[..., 0]
    batch = np.broadcast_shapes(mat.shape, amp.shape, moist.shape, npp_a.shape, lat.shape,
                                bed.shape, alt_in.shape, np.shape(fpi), np.shape(woody_fraction),
                                np.shape(sand_site))
    b = lambda x: np.broadcast_to(np.asarray(x, float), batch)  # noqa: E731
    mat, amp, moist, npp_a, lat, bed, alt_in = map(b, (mat, amp, moist, npp_a, lat, bed, alt_in))
    peak = np.where(lat >= 0.0, 6.5, 0.5)

    tbar = mat + soil_offset
    given = np.isfinite(alt_in)
    if given.any():
        if np.any(alt_in[given] <= 0):
            raise ValueError("climate_forcing: active_layer_depth must be > 0 m")
        tb_pf = _permafrost_tbar(np.where(given, alt_in, 1.0), amp, peak, damping_depth)
        tbar = np.where(given, tb_pf, tbar)
    tsoi_c = soil_temperature(tbar, amp, layers.zsoi, peak_month=peak,
                              damping_depth=damping_depth)          # batch + (12, 20)
    td = thaw_depth(tbar, amp, peak_month=peak, damping_depth=damping_depth)  # batch + (12,)
    alt_year = np.where(given, alt_in, td.max(-1))
    permafrost = alt_year < NO_PERMAFROST_ALT
    altmax = np.minimum(np.maximum.accumulate(td, axis=-1), alt_year[..., None])
    altmax = np.where(permafrost[..., None], altmax, NO_PERMAFROST_ALT)
    altmax_last = np.broadcast_to(alt_year[..., None], altmax.shape)

    z = layers.zsoi
    m = moist[..., None, None]
    w_surf, w_deep = 0.1 + 0.85 * m, 0.2 + 0.75 * np.sqrt(m)
    w = w_deep - (w_deep - w_surf) * np.exp(-z / 0.3)
    warm = 0.5 * (1.0 + np.cos(2 * np.pi * (_MONTHS[:, None] - peak[..., None, None]) / 12.0))
    w = w - 0.3 * (1.0 - m) * warm * np.exp(-z / 0.5)
    liquid = np.clip((tsoi_c + 2.0) / 2.0, 0.05, 1.0)
    w_scalar = np.clip(w * liquid, 0.01, 1.0)
    wet = np.clip((m - 0.75) / 0.25, 0.0, 1.0)
    o_scalar = np.clip(1.0 - 0.8 * wet * (1.0 - np.exp(-z / 0.5)), 0.2, 1.0)
    o_scalar = np.broadcast_to(o_scalar, w_scalar.shape)
    fpi_vr = np.broadcast_to(np.asarray(fpi, float)[..., None, None], w_scalar.shape)

    cwd_frac = 0.3 * np.clip(np.broadcast_to(np.asarray(woody_fraction, float), batch), 0, 1)
    litter = (1.0 - cwd_frac) * npp_a
    f1, f2, f3 = litter_fractions
    if abs(f1 + f2 + f3 - 1.0) > 1e-9:
        raise ValueError("climate_forcing: litter_fractions must sum to 1")
    nb = np.broadcast_to(nbedrock_from_depth(bed)[..., None], batch + (12,))
    cellsand = np.broadcast_to(sand_a if sand_a.ndim and sand_a.shape[-1] == layers.NLEV
                               else sand_a[..., None], batch + (layers.NLEV,))
    return Forcing.create(
        tsoi=tsoi_c + 273.15, w_scalar=w_scalar, o_scalar=o_scalar, fpi_vr=fpi_vr,
        altmax=altmax, altmax_lastyear=altmax_last, nbedrock=nb,
        input_cwd=cwd_frac * npp_a, input_litr1=f1 * litter, input_litr2=f2 * litter,
        input_litr3=f3 * litter, cellsand=cellsand)

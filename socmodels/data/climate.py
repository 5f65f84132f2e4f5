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
the mean soil temperature stays MAT + ``soil_offset`` (so the column-mean annual soil
temperature is consistent with MAT) and the seasonal semi-amplitude *at the soil surface* is
set instead (bisection) so that the thaw depth of the warmest month is exactly that depth:
snow and vegetation damp the air temperature wave before it enters the soil (the n-factor
idea; Lunardini 1978, Smith & Riseborough 2002), so the surface amplitude may be smaller than
the air's, never larger. An active layer the climate cannot produce (mean soil temperature
>= 0 °C, or an ALT deeper than even the full air amplitude gives) raises ``ValueError``
naming the site; nothing is shifted silently. Without
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

**From a site's climate** (:func:`site_climate` for MAT/MAP, :func:`monthly_climate` for 12
monthly means; :func:`read_climate_table` samples a gridded table or NetCDF at sites, nearest
land cell, distance reported): the descriptors above are derived with

* NPP from the Miami model (Lieth 1975): the lesser of
  :math:`3000/(1+e^{1.315-0.119T})` and :math:`3000(1-e^{-0.000664P})` g dry matter m⁻² yr⁻¹
  (T = MAT in °C, P = MAP in mm), times 0.475 gC per g dry matter;
* PET, where not given, from Thornthwaite (1948) on the monthly temperatures (a sinusoid of
  MAT and the semi-amplitude for :func:`site_climate`) with day length from latitude, and
  Willmott et al. (1985) above 26.5 °C;
* the moisture index :math:`M = 1/(1 + (PET/P)^{1.5})` of the aridity index P/PET
  (UNEP 1992): 0.5 where P = PET, -> 1 when humid, -> 0 when arid;
* from monthly means: MAT the mean, semi-amplitude and time of the maximum from the first
  annual harmonic, MAP the sum.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from socmodels import layers
from socmodels.data._report import DataError
from socmodels.forcing import Forcing
from socmodels.layers import nbedrock_from_depth  # noqa: F401  (re-exported)

__all__ = ["climate_forcing", "soil_temperature", "thaw_depth", "nbedrock_from_depth",
           "damping_depth", "miami_npp", "thornthwaite_pet", "moisture_index",
           "SiteClimate", "ClimateAtSites", "site_climate", "monthly_climate",
           "read_climate_table",
           "NO_PERMAFROST_ALT", "DAMPING_DEPTH", "THERMAL_DIFFUSIVITY", "LITTER_FRACTIONS",
           "CARBON_PER_DRY_MATTER"]

NO_PERMAFROST_ALT = 41.9984368640029
"""ALTMAX without permafrost [m]: node depth of CLM's 25th ground level (``docs/original_code.md``
§1), what CLM reports when no layer stays frozen."""

THERMAL_DIFFUSIVITY = 0.5e-6
"""Soil thermal diffusivity [m2 s-1]: a moist mineral soil (0.3-0.8e-6; Hillel 1982)."""
DAMPING_DEPTH = float(np.sqrt(2 * THERMAL_DIFFUSIVITY / (2 * np.pi / (365.0 * 86400.0))))
"""Annual damping depth sqrt(2 kappa / omega) for kappa = 0.5e-6 m2 s-1 [m] (about 2.24 m)."""
CARBON_PER_DRY_MATTER = 0.475
"""gC per g plant dry matter (converts the Miami model's dry-matter NPP to carbon)."""

LITTER_FRACTIONS = (0.25, 0.5, 0.25)
"""Metabolic, cellulose, lignin fractions of non-woody litter (CLM5 lf_flab/fcel/flig)."""

_T0 = 273.15
_ZFINE = np.concatenate([[0.0], np.geomspace(0.005, NO_PERMAFROST_ALT, 600)])
_MONTHS = np.arange(12) + 0.5


def damping_depth(thermal_diffusivity: float = THERMAL_DIFFUSIVITY) -> float:
    """Damping depth of the annual temperature wave, sqrt(2 kappa / omega) [m].

    Args:
        thermal_diffusivity (float):
            Soil thermal diffusivity kappa [m2 s-1] (0.5e-6 for a moist mineral soil; peat
            ~0.1e-6, dry sand ~0.2e-6, wet sand ~1e-6).
    """
    if not thermal_diffusivity > 0:
        raise ValueError("thermal_diffusivity must be > 0 m2 s-1")
    return float(np.sqrt(2 * thermal_diffusivity / (2 * np.pi / (365.0 * 86400.0))))


_damping_depth = damping_depth   # climate_forcing's argument of the same name shadows it


def soil_temperature(tbar: Any, amplitude: Any, depth: Any, *, peak_month: Any = 6.5,
                     damping_depth: float = DAMPING_DEPTH) -> np.ndarray:
    """Monthly soil temperature [degC] at ``depth`` [m]: shape ``batch + (12,) + depth.shape``.

    Args:
        tbar (array_like): Annual mean soil temperature [degC] (batch shape).
        amplitude (array_like): Seasonal semi-amplitude of surface temperature [K].
        depth (array_like): Depths [m] (1-D).
        peak_month (array_like):
            Time of the surface maximum in months since 1 January (6.5 = mid-July).
        damping_depth (float): Damping depth [m].
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


def _permafrost_amplitude(alt: np.ndarray, tbar: np.ndarray, amplitude: np.ndarray,
                          peak: np.ndarray, damping_depth: float, given: np.ndarray
                          ) -> np.ndarray:
    """Surface semi-amplitude (<= the air's) whose warmest-month thaw depth is ``alt``.

    Where ``given``; elsewhere the air amplitude is returned. The mean soil temperature
    ``tbar`` is kept. Raises ``ValueError`` where no amplitude in (0, air amplitude] gives
    that active layer.
    """
    alt = np.where(given, alt, 1.0)
    warm = (tbar >= 0.0) & given
    reach = thaw_depth(tbar, amplitude, peak_month=peak, damping_depth=damping_depth).max(-1)
    too_deep = (reach < alt) & given & ~warm
    for bad, why in ((warm, "the mean soil temperature (MAT + soil_offset) is >= 0 degC, so"
                             " the soil cannot stay frozen at depth"),
                     (too_deep, "even the full air-temperature amplitude thaws the soil less"
                                " deep than that")):
        if bad.any():
            k = np.argwhere(bad)[0]
            at = ("" if bad.ndim == 0 else f" at site {int(k[0])}" if bad.ndim == 1
                  else f" at site {tuple(int(i) for i in k)}")
            i = tuple(k)
            raise ValueError(
                f"climate_forcing: active_layer_depth {float(alt[i]):.3g} m is not consistent"
                f" with the climate{at} (mean soil temperature {float(tbar[i]):.3g} degC,"
                f" amplitude {float(amplitude[i]):.3g} K, deepest thaw"
                f" {float(reach[i]):.3g} m): {why}; {int(bad.sum())} site(s) like this. Give"
                " the ALT only where the climate has permafrost, or omit it to derive it.")
    lo = np.zeros_like(amplitude)
    hi = np.array(amplitude, float, copy=True)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        td = thaw_depth(tbar, mid, peak_month=peak, damping_depth=damping_depth).max(-1)
        deeper = td > alt
        hi = np.where(deeper, mid, hi)
        lo = np.where(deeper, lo, mid)
    return np.where(given, lo, amplitude)


def climate_forcing(mat: Any, mat_amplitude: Any, moisture: Any, npp: Any,
                    bedrock_depth: Any = None, active_layer_depth: Any = None, *,
                    latitude: Any = None, sand: Any = 40.0, fpi: Any = 0.7,
                    woody_fraction: Any = 0.5, soil_offset: float = 1.0,
                    damping_depth: float = DAMPING_DEPTH,
                    litter_fractions: tuple[float, float, float] = LITTER_FRACTIONS,
                    peak_month: Any = None, thermal_diffusivity: float | None = None,
                    ) -> Forcing:
    """Build a validated :class:`~socmodels.Forcing` from site climate descriptors.

    Args:
        mat (array_like): Mean annual air temperature [degC].
        mat_amplitude (array_like):
            Seasonal semi-amplitude of monthly air temperature [K]: half the difference between
            the warmest and the coldest month.
        moisture (array_like):
            Moisture index in [0, 1] (0 hyper-arid, 1 perhumid; e.g. P / (P + PET)).
        npp (array_like): Net primary production = total litter input at steady state [gC m-2 yr-1].
        bedrock_depth (array_like, optional):
            Depth to bedrock [m]; None/NaN = no bedrock within the 8.6 m column.
        active_layer_depth (array_like, optional):
            Active-layer thickness [m] of a permafrost site. None/NaN: derived from the
            temperature field (no permafrost for warm sites). When given, the mean soil
            temperature stays MAT + ``soil_offset`` and the surface amplitude is damped so that
            the thaw depth matches it; an ALT the climate cannot give raises ``ValueError``
            (see module docstring).
        latitude (array_like, optional):
            Latitude [degrees]; the temperature peak is mid-July north of the equator and
            mid-January south of it (default: north).
        peak_month (array_like, optional):
            Time of the air-temperature maximum in months since 1 January (6.5 = mid-July);
            overrides the latitude rule (:func:`monthly_climate` gives it).
        thermal_diffusivity (float, optional):
            Soil thermal diffusivity [m2 s-1]; sets ``damping_depth`` (:func:`damping_depth`).
        sand (array_like): Sand content [%], a scalar or (..., 20) per layer.
        fpi (array_like): Fraction of potential N immobilisation (FPI_vr), 0-1.
        woody_fraction (array_like):
            0 (grass) to 1 (forest); sets the coarse-woody-debris share (0.3 x woody_fraction).
        soil_offset (float): Mean soil minus mean air temperature [K].
        damping_depth (float): Damping depth of the annual temperature wave [m].
        litter_fractions ((float, float, float)):
            Metabolic, cellulose and lignin shares of non-woody litter.

    Returns:
        Forcing: Validated; batched when any descriptor is an array with a leading axis.

    Example:
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
    peak = (np.where(lat >= 0.0, 6.5, 0.5) if peak_month is None
            else b(np.mod(np.asarray(peak_month, float), 12.0)))
    if thermal_diffusivity is not None:
        damping_depth = _damping_depth(thermal_diffusivity)

    tbar = mat + soil_offset
    given = np.isfinite(alt_in)
    if given.any():
        if np.any(alt_in[given] <= 0):
            raise ValueError("climate_forcing: active_layer_depth must be > 0 m")
        amp = _permafrost_amplitude(alt_in, tbar, amp, peak, damping_depth, given)
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


# ---------------------------------------------------------------------------------------
# From a site's climate: NPP, PET, moisture, and the descriptors above
# ---------------------------------------------------------------------------------------

_DAYS = np.array([31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_MID_DOY = np.cumsum(_DAYS) - _DAYS / 2


def miami_npp(mat: Any, map_mm: Any, *,
              carbon_fraction: float = CARBON_PER_DRY_MATTER) -> np.ndarray:
    """Net primary production from climate, the Miami model (Lieth 1975) [gC m-2 yr-1].

    ``NPP = carbon_fraction x min(3000 / (1 + exp(1.315 - 0.119 T)),
    3000 (1 - exp(-0.000664 P)))`` with T = MAT [degC], P = MAP [mm yr-1]; the two terms
    are g dry matter m-2 yr-1.

    Args:
        mat (array_like): Mean annual air temperature [degC].
        map_mm (array_like): Mean annual precipitation [mm yr-1].
        carbon_fraction (float): gC per g dry matter (0.475).

    References:
        Lieth, H. (1975) Modeling the primary productivity of the world. In: Primary
        Productivity of the Biosphere (Lieth & Whittaker, eds.), Springer, 237-263.
    """
    t = np.asarray(mat, float)
    p = np.asarray(map_mm, float)
    return carbon_fraction * np.minimum(3000.0 / (1.0 + np.exp(1.315 - 0.119 * t)),
                                        3000.0 * (1.0 - np.exp(-0.000664 * p)))


def moisture_index(precipitation: Any, pet: Any, *, exponent: float = 1.5) -> np.ndarray:
    """Moisture index in [0, 1] from the aridity index P/PET: ``1 / (1 + (PET/P)^b)``.

    0.5 where P = PET; tends to 1 in humid and to 0 in arid climates. ``b = 1.5`` is the
    project's choice (the virtual world uses it); ``b = 1`` gives P / (P + PET).

    References:
        UNEP (1992) World Atlas of Desertification (aridity index P/PET); Zomer et al. (2022)
        Sci. Data 9, 409.
    """
    p = np.asarray(precipitation, float)
    e = np.asarray(pet, float)
    if np.any(p < 0) or np.any(e < 0):
        raise ValueError("moisture_index: precipitation and PET must be >= 0")
    with np.errstate(divide="ignore"):
        ratio = np.where(p > 0, e / np.where(p > 0, p, 1.0), np.inf)
    return 1.0 / (1.0 + ratio ** exponent)


def _day_length(latitude: np.ndarray) -> np.ndarray:
    """Mid-month day length [h], batch + (12,) (Forsythe et al. 1995, CBM model, p = 0)."""
    lat = np.radians(np.asarray(latitude, float))[..., None]
    theta = 0.2163108 + 2 * np.arctan(0.9671396 * np.tan(0.00860 * (_MID_DOY - 186)))
    decl = np.arcsin(0.39795 * np.cos(theta))
    x = np.clip(-np.tan(lat) * np.tan(decl), -1.0, 1.0)
    return 24.0 / np.pi * np.arccos(x)


def thornthwaite_pet(monthly_temperature: Any, latitude: Any) -> np.ndarray:
    """Potential evapotranspiration of each month, Thornthwaite (1948) [mm month-1].

    ``PET_m = 16 (L_m / 12)(N_m / 30)(10 T_m / I)^a`` for 0 < T_m < 26.5 degC, with the heat
    index ``I = sum (T_m / 5)^1.514`` over months above 0 degC,
    ``a = 6.75e-7 I^3 - 7.71e-5 I^2 + 1.792e-2 I + 0.49239``, L the day length [h] and N the
    days of the month; 0 at or below 0 degC; above 26.5 degC
    ``-415.85 + 32.24 T - 0.43 T^2`` (Willmott et al. 1985), times (L/12)(N/30).
    (Written out rather than taken from a PET package: the formula is short and a new
    dependency for it is not worth its weight.)

    Args:
        monthly_temperature (array_like): Mean air temperature of each month [degC], batch + (12,).
        latitude (array_like): Latitude [degrees], batch.

    Returns:
        ndarray: batch + (12,) [mm month-1]; sum over the last axis for the annual PET.

    References:
        Thornthwaite, C. W. (1948) Geogr. Rev. 38, 55-94; Willmott, Rowe & Mintz (1985) J.
        Climatol. 5, 589-606; Forsythe et al. (1995) Ecol. Model. 80, 87-95 (day length).
    """
    t = np.asarray(monthly_temperature, float)
    if t.shape[-1:] != (12,):
        raise ValueError(f"thornthwaite_pet: the last axis must be 12 months, got {t.shape}")
    tp = np.clip(t, 0.0, None)
    heat = np.sum((tp / 5.0) ** 1.514, axis=-1, keepdims=True)
    a = 6.75e-7 * heat ** 3 - 7.71e-5 * heat ** 2 + 1.792e-2 * heat + 0.49239
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(heat > 0, 16.0 * (10.0 * tp / np.where(heat > 0, heat, 1.0)) ** a, 0.0)
    raw = np.where(t >= 26.5, -415.85 + 32.24 * t - 0.43 * t ** 2, raw)
    raw = np.where(t <= 0.0, 0.0, raw)
    return raw * _day_length(latitude) / 12.0 * _DAYS / 30.0


@dataclasses.dataclass(frozen=True)
class SiteClimate:
    """A site's climate and the forcing descriptors derived from it (arrays, one per site).

    Attributes:
        mat (ndarray): Mean annual air temperature [degC].
        mat_amplitude (ndarray): Seasonal semi-amplitude of monthly air temperature [K].
        peak_month (ndarray):
            Time of the temperature maximum, months since 1 January (6.5 = mid-July).
        map (ndarray): Mean annual precipitation [mm yr-1].
        pet (ndarray): Annual potential evapotranspiration [mm yr-1].
        moisture (ndarray): Moisture index (:func:`moisture_index`).
        npp (ndarray): NPP [gC m-2 yr-1] (:func:`miami_npp` unless given).
        latitude (ndarray): Latitude [degrees].
        sources (dict): How each quantity was obtained (``"given"`` or the recipe).
    """

    mat: np.ndarray
    mat_amplitude: np.ndarray
    peak_month: np.ndarray
    map: np.ndarray
    pet: np.ndarray
    moisture: np.ndarray
    npp: np.ndarray
    latitude: np.ndarray
    sources: dict[str, str]

    def forcing(self, *, bedrock_depth: Any = None, active_layer_depth: Any = None,
                **kwargs: Any) -> Forcing:
        """The :class:`~socmodels.Forcing` of :func:`climate_forcing` for this climate.

        Args:
            bedrock_depth, active_layer_depth:
                As in :func:`climate_forcing` (an ALT inconsistent with the climate raises).
            **kwargs:
                Other keywords of :func:`climate_forcing` (``sand``, ``fpi``,
                ``woody_fraction``, ``soil_offset``, ``thermal_diffusivity``, ...).
        """
        return climate_forcing(self.mat, self.mat_amplitude, self.moisture, self.npp,
                               bedrock_depth, active_layer_depth, latitude=self.latitude,
                               peak_month=self.peak_month, **kwargs)

    def to_frame(self) -> pd.DataFrame:
        """One row per site."""
        names = ("latitude", "mat", "mat_amplitude", "peak_month", "map", "pet", "moisture",
                 "npp")
        return pd.DataFrame({n: np.atleast_1d(getattr(self, n)) for n in names})


def _monthly_from_annual(mat: np.ndarray, amp: np.ndarray, peak: np.ndarray) -> np.ndarray:
    return mat[..., None] + amp[..., None] * np.cos(2 * np.pi * (_MONTHS - peak[..., None])
                                                    / 12.0)


def site_climate(mat: Any, map_mm: Any, mat_amplitude: Any, *, latitude: Any,
                 pet: Any = None, npp: Any = None) -> SiteClimate:
    """Forcing descriptors from mean annual temperature and precipitation (MAT/MAP).

    Args:
        mat (array_like): Mean annual air temperature [degC] (WorldClim BIO1).
        map_mm (array_like): Mean annual precipitation [mm yr-1] (BIO12).
        mat_amplitude (array_like):
            Seasonal semi-amplitude of monthly mean air temperature [K]: half of warmest minus
            coldest month; from WorldClim, about sqrt(2) x BIO4 / 100.
        latitude (array_like): Latitude [degrees] (hemisphere of the seasons, day length for PET).
        pet (array_like, optional): Annual PET [mm yr-1]; default Thornthwaite on a sinusoidal year.
        npp (array_like, optional): NPP [gC m-2 yr-1]; default the Miami model.

    Returns:
        SiteClimate:
            Call ``.forcing(bedrock_depth=..., active_layer_depth=..., sand=...)`` for a Forcing.

    Example:
        >>> clim = site_climate(8.5, 780.0, 9.0, latitude=52.0)
        >>> forcing = clim.forcing(bedrock_depth=1.2)
    """
    mat_a = np.asarray(mat, float)
    p = np.asarray(map_mm, float)
    amp = np.abs(np.asarray(mat_amplitude, float))
    lat = np.asarray(latitude, float)
    batch = np.broadcast_shapes(mat_a.shape, p.shape, amp.shape, lat.shape, np.shape(pet),
                                np.shape(npp))
    mat_a, p, amp, lat = (np.broadcast_to(x, batch) for x in (mat_a, p, amp, lat))
    _check_finite(mat=mat_a, map=p, mat_amplitude=amp, latitude=lat)
    if np.any(p < 0):
        raise ValueError("site_climate: map must be >= 0 mm")
    peak = np.where(lat >= 0.0, 6.5, 0.5)
    sources = {"mat": "given", "map": "given", "mat_amplitude": "given",
               "peak_month": "mid-July north, mid-January south"}
    if pet is None:
        pet_a = thornthwaite_pet(_monthly_from_annual(mat_a, amp, peak), lat).sum(-1)
        sources["pet"] = "Thornthwaite (1948) on a sinusoidal year"
    else:
        pet_a = np.broadcast_to(np.asarray(pet, float), batch)
        sources["pet"] = "given"
    return _climate(mat_a, amp, peak, p, pet_a, npp, lat, sources, batch)


def monthly_climate(temperature: Any, precipitation: Any, *, latitude: Any,
                    pet: Any = None, npp: Any = None) -> SiteClimate:
    """Forcing descriptors from 12 monthly means of temperature and precipitation.

    MAT is the mean, the semi-amplitude and the time of the maximum are those of the first
    annual harmonic of the monthly temperatures, MAP is the sum of the months.

    Args:
        temperature (array_like): Monthly mean air temperature [degC], batch + (12,), January first.
        precipitation (array_like): Monthly precipitation [mm month-1], batch + (12,).
        latitude (array_like): Latitude [degrees], batch.
        pet (array_like, optional):
            Monthly PET [mm month-1], batch + (12,), or annual [mm yr-1], batch; default
            Thornthwaite (1948).
        npp (array_like, optional): NPP [gC m-2 yr-1]; default the Miami model on MAT and MAP.
    """
    t = np.asarray(temperature, float)
    pr = np.asarray(precipitation, float)
    if t.shape[-1:] != (12,) or pr.shape[-1:] != (12,):
        raise ValueError("monthly_climate: temperature and precipitation need 12 months on"
                         f" the last axis, got {t.shape} and {pr.shape}")
    _check_finite(temperature=t, precipitation=pr)
    if np.any(pr < 0):
        raise ValueError("monthly_climate: precipitation must be >= 0 mm")
    lat = np.asarray(latitude, float)
    batch = np.broadcast_shapes(t.shape[:-1], pr.shape[:-1], lat.shape)
    t = np.broadcast_to(t, batch + (12,))
    pr = np.broadcast_to(pr, batch + (12,))
    lat = np.broadcast_to(lat, batch)
    harmonic = np.sum(t * np.exp(-2j * np.pi * _MONTHS / 12.0), axis=-1) / 12.0
    amp = 2.0 * np.abs(harmonic)
    peak = np.mod(-np.angle(harmonic) / (2 * np.pi) * 12.0, 12.0)   # T = A cos(w(t - peak))
    sources = {"mat": "mean of the months", "map": "sum of the months",
               "mat_amplitude": "first annual harmonic", "peak_month": "first annual harmonic"}
    if pet is None:
        pet_a = thornthwaite_pet(t, lat).sum(-1)
        sources["pet"] = "Thornthwaite (1948)"
    else:
        pe = np.asarray(pet, float)
        pet_a = pe.sum(-1) if pe.shape[-1:] == (12,) and pe.ndim > len(batch) else pe
        pet_a = np.broadcast_to(pet_a, batch)
        sources["pet"] = "given"
    return _climate(t.mean(-1), amp, peak, pr.sum(-1), pet_a, npp, lat, sources, batch)


def _check_finite(**arrays: np.ndarray) -> None:
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            k = np.argwhere(~np.isfinite(np.atleast_1d(a)))[0]
            raise ValueError(f"{name} is missing or not finite (first at index"
                             f" {tuple(int(i) for i in k)})")


def _climate(mat: np.ndarray, amp: np.ndarray, peak: np.ndarray, p: np.ndarray,
             pet: np.ndarray, npp: Any, lat: np.ndarray, sources: dict[str, str],
             batch: tuple[int, ...]) -> SiteClimate:
    if np.any(pet < 0):
        raise ValueError("PET must be >= 0 mm")
    moist = moisture_index(p, pet)
    sources["moisture"] = "1 / (1 + (PET/P)^1.5)"
    if npp is None:
        npp_a = miami_npp(mat, p)
        sources["npp"] = "Miami model (Lieth 1975) x 0.475 gC per g dry matter"
    else:
        npp_a = np.broadcast_to(np.asarray(npp, float), batch)
        sources["npp"] = "given"
    return SiteClimate(np.asarray(mat), np.asarray(amp), np.asarray(peak), np.asarray(p),
                       np.asarray(pet), np.asarray(moist), np.asarray(npp_a), np.asarray(lat),
                       sources)


# ---------------------------------------------------------------------------------------
# Gridded climate tables
# ---------------------------------------------------------------------------------------

_TABLE_ALIASES = {
    "lat": ("lat", "latitude", "y"),
    "lon": ("lon", "longitude", "long", "x"),
    "mat": ("mat", "bio1", "tas", "temperature"),
    "map": ("map", "bio12", "pr", "precipitation"),
    "pet": ("pet",),
    "mat_amplitude": ("mat_amplitude", "amplitude", "t_amplitude"),
    "bio4": ("bio4",),
}


@dataclasses.dataclass(frozen=True)
class ClimateAtSites:
    """A gridded climate sampled at sites (nearest land cell).

    Attributes:
        climate (SiteClimate): The descriptors at the sites.
        cell_index (ndarray): Row (table) or flat land-cell index (NetCDF) used for each site.
        distance_km (ndarray): Great-circle distance from each site to its cell [km].
        cell_lat, cell_lon (ndarray): Coordinates of the cell used.
    """

    climate: SiteClimate
    cell_index: np.ndarray
    distance_km: np.ndarray
    cell_lat: np.ndarray
    cell_lon: np.ndarray


def _pick(names: Any, key: str) -> str | None:
    low = {str(n).strip().lower(): n for n in names}
    return next((low[a] for a in _TABLE_ALIASES[key] if a in low), None)


def read_climate_table(path: str | Path, lat: Any, lon: Any, *, mat_amplitude: Any = None,
                       max_distance_km: float | None = None) -> ClimateAtSites:
    """Sample a gridded site-climate table at sites: nearest land cell, distance reported.

    Args:
        path (str or Path):
            A CSV/TSV with one row per land cell and columns ``lat``, ``lon``, ``mat`` [degC],
            ``map`` [mm yr-1] and optionally ``pet`` [mm yr-1] and ``mat_amplitude`` [K] (or
            ``bio4``, WorldClim's temperature seasonality, converted as sqrt(2) x BIO4 / 100);
            or a NetCDF file with variables of those names on ``lat``/``lon`` (land = cells
            where ``mat`` and ``map`` are finite).
        lat, lon (array_like or None):
            Site coordinates [degrees]; both None: every land cell of the table, in table order
            (for maps).
        mat_amplitude (array_like, optional): Semi-amplitude [K] per site, for tables without one.
        max_distance_km (float, optional):
            Raise :class:`~socmodels.data.DataError` for a site farther than this from any land
            cell.

    Returns:
        ClimateAtSites: ``.climate.forcing(...)`` gives the forcing at the sites.

    Raises:
        DataError:
            Missing columns/variables (naming the file and the column), text in a number, or
            a site too far from land.
    """
    from socmodels.data._text import line_numbers, read_columns, sniff, to_numeric
    from socmodels.data.cesm import nearest_cells

    path = Path(path)
    if not path.is_file():
        raise DataError("no such file", file=path, reason="not_found")
    cols: dict[str, np.ndarray] = {}
    if path.suffix.lower() in (".nc", ".nc4", ".netcdf"):
        import xarray as xr

        with xr.open_dataset(path) as ds:
            names = {k: _pick(list(ds.variables), k) for k in _TABLE_ALIASES}
            for k in ("lat", "lon", "mat", "map"):
                if names[k] is None:
                    raise DataError(f"no {k!r} variable (aliases {_TABLE_ALIASES[k]}); the"
                                    f" file has {sorted(ds.variables)}", file=path, column=k,
                                    reason="missing_column")
            la, lo = ds[names["lat"]].values, ds[names["lon"]].values
            fields = {k: ds[v].values.astype(float) for k, v in names.items()
                      if v is not None and k not in ("lat", "lon")}
        if la.ndim == 1 and lo.ndim == 1:
            la, lo = np.meshgrid(la, lo, indexing="ij")
        bad = [k for k, v in fields.items() if v.shape != la.shape]
        if bad:
            raise DataError(f"variable(s) {bad} are not fields on (lat, lon) of shape"
                            f" {la.shape} (got {[fields[k].shape for k in bad]}); give annual"
                            " values, one per cell (average a monthly climatology first)",
                            file=path, column=names[bad[0]], reason="shape")
        land = np.isfinite(fields["mat"]) & np.isfinite(fields["map"])
        cols = {"lat": la[land], "lon": lo[land]}
        cols.update({k: v[land] for k, v in fields.items()})
        index = np.flatnonzero(land.ravel())
    else:
        fmt = sniff(path)
        names = {k: _pick(fmt.header, k) for k in _TABLE_ALIASES}
        for k in ("lat", "lon", "mat", "map"):
            if names[k] is None:
                raise DataError(f"required column {k!r} not found (aliases"
                                f" {_TABLE_ALIASES[k]}); the header has {list(fmt.header)}",
                                file=path, line=1, column=k, reason="missing_column")
        use = {k: v for k, v in names.items() if v is not None}
        df = read_columns(fmt, use.values(), numeric=use.values())
        for k, c in use.items():
            vals, bad = to_numeric(df, c)
            if bad.any():
                rec = int(df.index.to_numpy()[bad][0])
                raise DataError(f"text that is not a number ({df[c].to_numpy()[bad][0]!r})",
                                file=path, line=line_numbers(fmt, [rec]).get(rec), column=c,
                                reason="non_numeric")
            cols[k] = vals
        land = np.isfinite(cols["mat"]) & np.isfinite(cols["map"])
        cols = {k: v[land] for k, v in cols.items()}
        index = df.index.to_numpy()[land]
    if cols["lat"].size == 0:
        raise DataError("no land cell (finite mat and map) in the table", file=path,
                        column="mat", reason="empty")
    if lat is None and lon is None:   # every land cell of the table (the map grid)
        lat, lon = cols["lat"], cols["lon"]
    slat = np.atleast_1d(np.asarray(lat, float))
    slon = np.atleast_1d(np.asarray(lon, float))
    idx, dist = nearest_cells(cols["lat"], cols["lon"], slat, slon)
    if max_distance_km is not None and np.any(dist > max_distance_km):
        i = int(np.argmax(dist > max_distance_km))
        raise DataError(f"site {i} at ({slat[i]:.4g}, {slon[i]:.4g}) is {dist[i]:.1f} km from"
                        f" the nearest land cell (limit {max_distance_km} km); check its"
                        " coordinates", file=path, column="lat/lon", reason="far_from_land")
    if "mat_amplitude" in cols:
        amp = cols["mat_amplitude"][idx]
    elif "bio4" in cols:
        amp = np.sqrt(2.0) * cols["bio4"][idx] / 100.0
    elif mat_amplitude is not None:
        amp = np.broadcast_to(np.asarray(mat_amplitude, float), slat.shape)
    else:
        raise DataError("no temperature amplitude: add a column 'mat_amplitude' [K] or"
                        " 'bio4' to the table, or pass mat_amplitude=", file=path,
                        column="mat_amplitude", reason="missing_column")
    pet = cols["pet"][idx] if "pet" in cols else None
    clim = site_climate(cols["mat"][idx], cols["map"][idx], amp, latitude=slat, pet=pet)
    return ClimateAtSites(clim, np.asarray(index)[idx], dist, cols["lat"][idx],
                          cols["lon"][idx])

"""COMPAS: CarbOn cycle and Microbial PArtitioning Soil model (8 pools x 20 layers).

The authors' ``cesm2_clm5_mic_vr_v22`` as used by Tao et al. (2024). Litter pools CWD, L1,
L2, L3 follow first-order kinetics with vertical mixing (as in CLM5); the soil pools DOC,
MIC (microbial biomass), ENZ (enzymes) and SOC (mineral SOC) are not transported and follow
Michaelis-Menten kinetics per layer:

    F_up  = k_up  xi MIC DOC / (K_a xi + DOC)        (DOC uptake; CUE to MIC)
    F_dec = k_dec xi ENZ SOC / (K_d xi + SOC)        (SOC -> DOC)
    dDOC/dt = I_DOC + (1-p) k_dth xi MIC + k_e xi ENZ + F_dec - F_up
    dMIC/dt = I_MIC + CUE F_up - (k_dth + k_enz) xi MIC
    dENZ/dt = k_enz xi MIC - k_e xi ENZ
    dSOC/dt = I_SOC + p k_dth xi MIC - F_dec

whose steady state has the closed form of the authors' "Equation 9". See ``docs/models.md``.
Deliberate fix (``docs/differences.md``, Q1): the enzyme turnover time is the model's own
parameter ``tau4s3`` (the original derived it from ``mm_const_assim``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from socmodels import layers
from socmodels._tables import COMPAS_PARAMETERS
from socmodels.components import (
    MichaelisRatios,
    SystemComponents,
    allocation_index,
    carbon_input,
    column,
    weighted,
    xi_bulk,
)
from socmodels.forcing import Forcing
from socmodels.processes import (
    STOCK_1M_WEIGHTS,
    SitePrep,
    SteadyState,
    feasibility_status,
    input_profile,
    litter_steady_state,
    mean_modifier,
    prepare_site,
    transport_coefficients,
)
from socmodels.status import status_bits
from socmodels.truth import bump, smoothstep

__all__ = ["NAME", "PARAMETERS", "POOL_NAMES", "EFOLDING", "MAX_MIC_FRACTION", "Rates",
           "SoilFluxes", "prepare", "steady_state", "customary_theta", "rates", "soil_fluxes",
           "site_components", "site_michaelis_ratios", "virtual_truth"]

PARAMETERS = COMPAS_PARAMETERS
POOL_NAMES = ("CWD", "L1", "L2", "L3", "DOC", "MIC", "ENZ", "SOC")
NAME = "COMPAS"
CUSTOMARY_FROM_POSTERIOR = True
"""The paper's customary COMPAS run is the mean of the site posterior means (the pipeline
computes it); :func:`customary_theta` gives the code-comment values."""
EFOLDING = 0.5
"""Fixed e-folding depth (m) of the decomposition depth scalar in COMPAS."""
MAX_MIC_FRACTION = 0.1
"""Feasibility: column microbial biomass at most this fraction of column soil C (the code's
``soc_stock(total)/soc_stock(MIC) >= 10`` rule)."""

_DZ = jnp.asarray(layers.dz)
_DEPTH = jnp.exp(-jnp.asarray(layers.zsoi) / EFOLDING)

_Layer = Float[Array, "*batch 20"]


class Rates(NamedTuple):
    """Per-layer COMPAS rates for one parameter vector (see :func:`rates`)."""

    cwd: _Layer
    l1: _Layer
    l23: _Layer
    k_up: _Layer
    k_dth: _Layer
    k_enz: _Layer
    k_e: _Layer
    k_dec: _Layer
    Ka: _Layer
    Kd: _Layer
    l: _Layer  # noqa: E741
    u: _Layer
    xi: _Layer
    xi_n: _Layer
    fin: _Layer


class SoilFluxes(NamedTuple):
    """Litter-derived inputs to the soil pools and litter respiration (gC m-3 yr-1)."""

    i_doc: _Layer
    i_mic: _Layer
    i_soc: _Layer
    resp_litter: _Layer


def prepare(forcing: Forcing) -> SitePrep:
    """Site-only precomputation (transport operators, modifier inputs). Pure and vmappable."""
    return prepare_site(forcing)


def rates(theta, prep: SitePrep) -> Rates:
    """Per-layer rates (yr-1) with modifiers for parameters ``theta``.

    Returns a :class:`Rates` of (20,) arrays: litter ``cwd, l1, l23``; soil ``k_up, k_dth,
    k_enz, k_e, k_dec`` (already multiplied by ``xi``); Michaelis constants ``Ka, Kd``
    (times ``xi``, gC m-3); transport ``l, u``; ``xi``, ``xi_n`` and the input profile
    ``fin``.
    """
    p = PARAMETERS.unpack(theta)
    xi, xi_n = mean_modifier(prep, p.q10, p.w_scaling)
    xi = xi * _DEPTH
    xi_n = xi_n * _DEPTH
    l, u = transport_coefficients(p.bio * prep.g_bio + p.cryo * prep.g_cryo)
    return Rates(
        cwd=xi / p.tau4cwd, l1=xi_n / p.tau4l1, l23=xi_n / p.tau4l2,
        k_up=xi / p.tau4s1, k_dth=xi / p.tau4s2_death, k_enz=xi / p.tau4s2_enz,
        k_e=xi / p.tau4s3, k_dec=xi / p.tau4s4, Ka=p.mm_const_assim * xi,
        Kd=p.mm_const_decom * xi, l=l, u=u, xi=xi, xi_n=xi_n,
        fin=input_profile(p.beta, prep.profile_on))


def _safe_ratio(num, den):
    """num/den with 0/0 -> 0 (layers without any input), gradient-safe."""
    zero = (num == 0) & (den == 0)
    return jnp.where(zero, 0.0, num / jnp.where(zero, 1.0, den))


def soil_fluxes(theta, r: Rates, lit) -> SoilFluxes:
    """Litter-derived inputs to the soil pools (gC m-3 yr-1) and litter respiration.

    Returns a :class:`SoilFluxes` ``(i_doc, i_mic, i_soc, resp_litter)``, each (20,).
    """
    p = PARAMETERS.unpack(theta)
    f1 = r.l1 * lit[1]
    f2 = r.l23 * lit[2]
    f3 = r.l23 * lit[3]
    i_doc = p.pl1s1 * f1 + p.pl2s1 * f2
    i_mic = ((1 - p.pl1s1) * p.l1_cue * f1 + (1 - p.pl2s1) * p.l2l3_cue * f2
             + (1 - p.pl3s4) * p.l2l3_cue * f3)
    i_soc = p.pl3s4 * f3
    resp = ((1 - p.pl1s1) * (1 - p.l1_cue) * f1 + (1 - p.pl2s1) * (1 - p.l2l3_cue) * f2
            + (1 - p.pl3s4) * (1 - p.l2l3_cue) * f3)
    return SoilFluxes(i_doc, i_mic, i_soc, resp)


def _solve(theta, prep: SitePrep, max_mic_fraction: float) -> SteadyState:
    p = PARAMETERS.unpack(theta)
    r = rates(theta, prep)
    lit, _ = litter_steady_state(prep, r.cwd, r.l1, r.l23, p.fcwdl2, r.l, r.u, r.fin)
    i_doc, i_mic, i_soc, resp_lit = soil_fluxes(theta, r, lit)
    cue, pdeath = p.mic_cue, p.pdeath2soc
    k_loss = r.k_dth + r.k_enz
    mic = (i_mic + cue * (i_soc + i_doc)) / ((1 - cue) * k_loss)
    enz = r.k_enz / r.k_e * mic
    soc_num = (i_soc + pdeath * r.k_dth * mic)
    soc_den = r.k_dec * enz - pdeath * r.k_dth * mic - i_soc
    som = _safe_ratio(soc_num * r.Kd, soc_den)
    doc_num = k_loss * mic - i_mic
    doc_den = (cue * r.k_up - k_loss) * mic + i_mic
    doc = _safe_ratio(doc_num * r.Ka, doc_den)
    soil = jnp.stack([doc, mic, enz, som])
    pools = jnp.concatenate([lit, soil], axis=0)
    soc = soil.sum(axis=0)
    f_up = r.k_up * mic * _safe_ratio(doc, r.Ka + doc)
    resp = resp_lit + (1 - cue) * f_up
    stock = jnp.sum(soc * _DZ)
    has_input = (soc_num > 0) | (doc_num > 0)
    dens_ok = jnp.all(jnp.where(has_input, (soc_den > 0) & (doc_den > 0), True))
    mic_ok = jnp.sum(mic * _DZ) <= max_mic_fraction * stock
    status = feasibility_status(pools) | status_bits(NO_POSITIVE_ROOT=~dens_ok,
                                                     MIC_FRACTION=~mic_ok)
    return SteadyState(
        pools=pools, soc=soc, stock=stock, stock_1m=jnp.sum(soc * STOCK_1M_WEIGHTS),
        respiration=jnp.sum(resp * _DZ), total_input=jnp.sum(prep.inputs),
        status=status, pool_names=POOL_NAMES)


def steady_state(theta, forcing: Forcing | SitePrep, *, check_bounds: bool = True,
                 max_mic_fraction: float = MAX_MIC_FRACTION) -> SteadyState:
    """COMPAS steady state for physical parameters ``theta`` (23,) at one site.

    Args:
        theta: physical parameter values in :data:`PARAMETERS` order.
        forcing: a :class:`~socmodels.Forcing` or the result of :func:`prepare`.
        check_bounds: validate a concrete ``theta`` against the prior box (see CLM5).
        max_mic_fraction: feasibility bound on column MIC / column soil C (the code's 10 %).

    Returns:
        :class:`~socmodels.processes.SteadyState` with ``pools`` (8, 20). ``status`` (and
        ``feasible``) flags a pool that is negative or non-finite, a layer where the closed
        form has no positive solution (``NO_POSITIVE_ROOT``: enzyme-driven SOC
        decomposition cannot keep up with SOC inputs, or DOC uptake cannot balance
        microbial losses) and MIC above ``max_mic_fraction`` of soil C (``MIC_FRACTION``).
        Such states are reported, never sign-flipped (Q13).
    """
    if check_bounds and not isinstance(theta, jax.core.Tracer):
        PARAMETERS.validate(theta)
    prep = forcing if isinstance(forcing, SitePrep) else prepare(forcing)
    return _solve(theta, prep, max_mic_fraction)


def customary_theta(forcing: Forcing | None = None):
    """The customary COMPAS parameters of :data:`PARAMETERS` (code comments / prior midpoints).

    The paper's "customary" COMPAS run instead uses the mean of site posterior means,
    computed by the PRODA pipeline (:data:`CUSTOMARY_FROM_POSTERIOR`).
    """
    th = jnp.asarray(PARAMETERS.defaults)
    if forcing is not None:
        shape = jnp.shape(forcing.cellsand)[:-1]
        th = jnp.broadcast_to(th, shape + th.shape)
    return th


# ---------------------------------------------------------------------------------------
# System-level components (paper Eq. 10-14) and Michaelis ratios (Fig. 5), one site
# ---------------------------------------------------------------------------------------

def site_components(theta, forcing: Forcing, x, xi_layer=None, v_layer=None, *,
                    variant: str = "paper") -> SystemComponents:
    r"""System-level components of COMPAS at one site (paper Eq. 10-14, Q12).

    The definitions are documented at ``surrogate.analysis.components`` and in
    ``docs/surrogate.md``; arguments as :func:`socmodels.clm5.site_components` with
    ``x`` (8, 20).
    """
    P = PARAMETERS.unpack(theta)
    r = rates(theta, prepare_site(forcing))
    if xi_layer is not None:
        xi_soil = xi_lit = xi_layer
    elif variant == "code":
        xi_soil = xi_lit = xi_bulk(P.q10, P.w_scaling, EFOLDING, forcing)
    else:
        xi_soil, xi_lit = r.xi, r.xi_n
    cwd, l1, l2, l3, doc, mic, enz, som = x
    lit = (l1, l2, l3)
    k_l = (1.0 / P.tau4l1, 1.0 / P.tau4l2, 1.0 / P.tau4l2)
    p_l = (P.pl1s1, P.pl2s1, P.pl3s4)
    cue_l = (P.l1_cue, P.l2l3_cue, P.l2l3_cue)
    ka_xi = P.mm_const_assim * xi_soil
    kd_xi = P.mm_const_decom * xi_soil

    # CTE: microbial transfer paths litter -> MIC and DOC -> MIC
    f_lit = [k * column(L * xi_lit) for L, k in zip(lit, k_l, strict=True)]
    if variant == "code":  # fun_bulk_process: (1 - p) again in the flow (Q12)
        f_lit = [f * (1.0 - p) for f, p in zip(f_lit, p_l, strict=True)]
    f_doc = column(xi_soil / P.tau4s1 * mic * doc / (ka_xi + doc))
    a_mic = [(1.0 - p) * c for p, c in zip(p_l, cue_l, strict=True)]
    cte = (sum(a * f for a, f in zip(a_mic, f_lit, strict=True)) + P.mic_cue * f_doc) \
        / (sum(f_lit) + f_doc)

    # E: non-microbial transfer (litter -> DOC/SOC directly, dead microbes -> SOC)
    f_e = [k * column(L * xi_lit) for L, k in zip(lit, k_l, strict=True)]
    f_e.append(column(mic * xi_soil) / P.tau4s2_death)
    e = sum(a * f for a, f in zip((*p_l, P.pdeath2soc), f_e, strict=True)) / sum(f_e)

    # K: stock-weighted baseline (apparent first-order) rates
    k_mic = 1.0 / P.tau4s2_death + 1.0 / P.tau4s2_enz
    ones = jnp.ones(layers.NLEV)
    if variant == "code":
        rates_k = [ones / P.tau4cwd, ones * p_l[0] * k_l[0], ones * p_l[1] * k_l[1],
                   ones * p_l[2] * k_l[2], ones * k_mic, ones / P.tau4s3,
                   enz * P.mm_const_decom * 2.0 * som * xi_soil
                   / (P.tau4s4 * (kd_xi + som) ** 3)]
        pools_k = [cwd, l1, l2, l3, mic, enz, som]
    else:
        rates_k = [ones / P.tau4cwd, ones * k_l[0], ones * k_l[1], ones * k_l[2],
                   mic / (P.tau4s1 * (ka_xi + doc)), ones * k_mic, ones / P.tau4s3,
                   enz / (P.tau4s4 * (kd_xi + som))]
        pools_k = [cwd, l1, l2, l3, doc, mic, enz, som]
    k_num = sum(column(rt * c) for rt, c in zip(rates_k, pools_k, strict=True))
    k_den = sum(column(c) for c in pools_k)

    v = r.l + r.u if v_layer is None else v_layer
    i_idx, b = allocation_index(r.fin, variant)
    c_in = carbon_input(forcing)
    i_doc, i_mic, i_soc, _ = soil_fluxes(theta, r, x[:4])
    return SystemComponents(
        cte=cte, k=jnp.where(k_den > 0, k_num / jnp.where(k_den > 0, k_den, 1.0), jnp.nan),
        xi=weighted(xi_soil, (doc + mic + enz + som) * _DZ),
        v=weighted(v, (l1 + l2 + l3) * _DZ), b=b, i=i_idx,
        carbon_input=jnp.asarray(c_in, cte.dtype),
        litter_to_soil=column(i_doc + i_mic + i_soc) / c_in, e=e)


def site_michaelis_ratios(theta, forcing: Forcing, x, xi_layer=None, *,
                          include_xi: bool = True) -> MichaelisRatios:
    """Michaelis constants over their substrates (DOC, SOC) per layer at one site (Fig. 5).

    Args:
        theta: (23,) physical parameters.
        forcing: one site's forcing.
        x: (8, 20) pools.
        xi_layer: optional (20,) modifier override.
        include_xi: multiply the constants by the modifier, as they act in the model.
    """
    p = PARAMETERS.unpack(theta)
    ka, kd = p.mm_const_assim, p.mm_const_decom
    if include_xi:
        xi = rates(theta, prepare_site(forcing)).xi if xi_layer is None else xi_layer
        ka, kd = ka * xi, kd * xi
    return MichaelisRatios(assim=ka / x[4], decom=kd / x[7])


# ---------------------------------------------------------------------------------------
# Virtual-world truth
# ---------------------------------------------------------------------------------------

def virtual_truth(z: dict[str, np.ndarray], *, anchor: bool = False) -> dict[str, np.ndarray]:
    """COMPAS truth in the unit cube: temperature anchor + (unless ``anchor``) covariates.

    The anchor (all covariate terms off, the other parameters at 0.5) was found by a
    search of the prior box per temperature band (-18 ... 32 degC) over the land cells of
    three worlds, maximising the feasible fraction (1.0 in every band) and keeping the
    0-1 m stock near 15 kgC m-2; the piecewise results are smoothed here. Arguments as
    :func:`socmodels.clm5.virtual_truth`.
    """
    th = np.tanh
    T = z["t"]
    ss = smoothstep
    k = 0.0 if anchor else 1.0
    n = z["noise"] * k
    return {
        "bio": 0.5 + k * 0.2 * th(0.8 * z["npp"]),
        "cryo": 0.5 + 0.02 * n,
        "q10": 0.05 + 0.06 * bump((T - 6.0) / 8.0) + k * 0.03 * th(z["P"]),
        "w_scaling": 0.77 + 0.2 * ss((T + 3.0) / 12.0) - k * 0.05 * th(z["P"]),
        "tau4cwd": 0.5 + 0.02 * n,
        "tau4l1": 0.5 + 0.02 * n,
        "tau4l2": 0.5 + k * 0.05 * th(z["T"]),
        "tau4s1": 0.5 + k * 0.1 * th(z["clay"]),
        "tau4s2_death": 0.5 + 0.15 * ss((T + 12.0) / 18.0) - 0.05 * ss((T - 10.0) / 20.0),
        "tau4s2_enz": 0.5 + 0.14 * ss((T + 6.0) / 10.0) + k * 0.08 * th(z["ph"]),
        "tau4s3": 0.47 + k * 0.05 * th(z["clay"]),
        "tau4s4": 0.53 - 0.14 * ss(T / 12.0) + k * 0.06 * th(z["ph"]),
        "mm_const_assim": 0.5 + k * 0.15 * th(z["sand"]),
        "mm_const_decom": 0.5 - 0.22 * ss((T - 9.0) / 14.0) + k * 0.06 * th(z["clay"]),
        "fcwdl2": 0.5 + 0.02 * n,
        "pl1s1": 0.5 + k * 0.1 * th(z["P"]),
        "pl2s1": 0.5 + 0.02 * n,
        "pl3s4": 0.5 + k * 0.1 * th(z["clay"]),
        "l1_cue": 0.5 + k * 0.15 * th(z["T"]),
        "l2l3_cue": 0.5 + k * 0.1 * th(z["npp"]),
        "mic_cue": 0.45 + 0.1 * ss((T - 10.0) / 20.0) + k * 0.06 * th(z["clay"]),
        "pdeath2soc": 0.71 - 0.11 * ss((T - 15.0) / 15.0)
        + k * 0.08 * th(z["clay"] - 0.5 * z["sand"]),
        "beta": 0.5 + k * 0.08 * th(z["T"]),
    }

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

Optional capability ``feasible_parameters`` (:func:`feasible_parameters`): the feasible set
of ``tau4s2_death`` and ``tau4s4`` given the other parameters mapped onto the prior box
(the ``"feasible"`` sampler space of ``inference``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
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
from socmodels.contract import FeasibleMap
from socmodels.forcing import Forcing
from socmodels.processes import (
    MAX_CARBON_DENSITY,
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
           "site_components", "site_michaelis_ratios", "virtual_truth", "feasible_parameters",
           "feasible_ranges", "input_composition", "IDX_DEATH", "IDX_S4"]

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
_Litter = Float[Array, "*batch 4 20"]


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


class _Inputs(NamedTuple):
    """What the soil closed form needs and ``tau4s2_death``/``tau4s4`` do not change: the
    rates, the litter steady state and the litter-derived soil inputs."""

    r: Rates
    lit: _Litter
    fluxes: SoilFluxes


def _inputs(theta, prep: SitePrep) -> _Inputs:
    p = PARAMETERS.unpack(theta)
    r = rates(theta, prep)
    lit, _ = litter_steady_state(prep, r.cwd, r.l1, r.l23, p.fcwdl2, r.l, r.u, r.fin)
    return _Inputs(r, lit, soil_fluxes(theta, r, lit))


def _with_soil_times(r: Rates, theta) -> Rates:
    """``r`` with ``k_dth``, ``k_dec`` of theta's own ``tau4s2_death`` and ``tau4s4`` (the
    only rates that depend on them; the same operations as :func:`rates`)."""
    return r._replace(k_dth=r.xi / theta[IDX_DEATH], k_dec=r.xi / theta[IDX_S4])


def _solve(theta, prep: SitePrep, max_mic_fraction: float) -> SteadyState:
    return _closed_form(theta, prep, _inputs(theta, prep), max_mic_fraction)


def _microbial_pools(cue, r: Rates, i_doc, i_mic, i_soc):
    """MIC, ENZ and DOC of the closed form (none depends on ``tau4s4``), with DOC's numerator
    and denominator: ``(mic, enz, doc_num, doc_den, doc)``, each (20,)."""
    k_loss = r.k_dth + r.k_enz
    mic = (i_mic + cue * (i_soc + i_doc)) / ((1 - cue) * k_loss)
    enz = r.k_enz / r.k_e * mic
    doc_num = k_loss * mic - i_mic
    doc_den = (cue * r.k_up - k_loss) * mic + i_mic
    return mic, enz, doc_num, doc_den, _safe_ratio(doc_num * r.Ka, doc_den)


def _closed_form(theta, prep: SitePrep, inputs: _Inputs,
                 max_mic_fraction: float) -> SteadyState:
    """The soil pools' closed form (the authors' "Equation 9") on given ``inputs``."""
    p = PARAMETERS.unpack(theta)
    r, lit = _with_soil_times(inputs.r, theta), inputs.lit
    i_doc, i_mic, i_soc, resp_lit = inputs.fluxes
    cue, pdeath = p.mic_cue, p.pdeath2soc
    mic, enz, doc_num, doc_den, doc = _microbial_pools(cue, r, i_doc, i_mic, i_soc)
    soc_num = (i_soc + pdeath * r.k_dth * mic)
    soc_den = r.k_dec * enz - pdeath * r.k_dth * mic - i_soc
    som = _safe_ratio(soc_num * r.Kd, soc_den)
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


# ---------------------------------------------------------------------------------------
# The feasible set as a box (optional capability ``feasible_parameters``).
#
# In every layer the closed form of _solve (the authors' "Equation 9") reads, with the soil
# rates k = xi / tau sharing the layer's modifier xi, litter-derived inputs I_MIC, I_DOC,
# I_SOC and J = I_DOC + I_SOC:  xi MIC = (I_MIC + c J) / ((1 - c) b),
# b = 1/tau_death + 1/tau_enz,  ENZ = tau_s3 / tau_enz MIC  (c = mic_cue). Its two
# denominators give
#   DOC: (c k_up - k_dth - k_enz) MIC + I_MIC > 0  <=>  tau_death > 1/(c_eff/tau_s1 - 1/tau_enz),
#        c_eff = (I_MIC + c J) / (I_MIC + J): xi cancels, a condition on the parameters and
#        on the composition of the litter inputs only;
#   SOC: k_dec ENZ - p k_dth MIC - I_SOC > 0  <=>  tau_s4 < xi ENZ / (p k_dth MIC + I_SOC).
# The density cap on each layer's carbon is an upper bound on tau4s4 too (SOC grows
# monotonically with it) and the MIC <= 10 % rule a lower bound (column soil C grows with
# tau4s4; MIC, ENZ, DOC and the litter do not depend on it). The litter and the inputs do
# not depend on tau4s2_death or tau4s4 at all. So given the other parameters tau4s2_death
# has a feasible interval (tau_death_min, 2), and given those and tau4s2_death tau4s4 has
# one (tau4s4_min, tau4s4_max): feasible_parameters fills both from v in (0, 1)^23.
# ---------------------------------------------------------------------------------------

_NAMES = PARAMETERS.names
IDX_DEATH = _NAMES.index("tau4s2_death")
IDX_S4 = _NAMES.index("tau4s4")
_IDX = {n: i for i, n in enumerate(_NAMES)}
_NEWTON_MAX_STEPS = 40  # 2-13 steps reach the root (3-5 typically; tests/test_compas_feasible.py)


def input_composition(theta, prep: SitePrep):
    """Rates, litter pools and soil inputs (none depends on ``tau4s2_death``/``tau4s4``).

    Returns:
        ``(r, lit, i_doc, i_mic, i_soc)`` as in :func:`_solve`.
    """
    r, lit, (i_doc, i_mic, i_soc, _) = _inputs(theta, prep)
    return r, lit, i_doc, i_mic, i_soc


def _death_lower_bound(theta, i_doc, i_mic, i_soc, has_input):
    """Smallest ``tau4s2_death`` with a positive DOC root in every layer with input."""
    cue = theta[_IDX["mic_cue"]]
    j = i_doc + i_soc
    tot = jnp.where(has_input, i_mic + j, 1.0)
    c_eff = (i_mic + cue * j) / tot
    g = c_eff / theta[_IDX["tau4s1"]] - 1.0 / theta[_IDX["tau4s2_enz"]]  # must exceed 1/tau_d
    g_min = jnp.min(jnp.where(has_input, g, jnp.inf))
    return jnp.where(g_min > 0, 1.0 / g_min, jnp.inf)


def _s4_terms(theta, r, lit, i_doc, i_mic, i_soc, max_mic_fraction):
    """Per-layer pieces of SOC(tau4s4) = d Kd t / (a - d t) and the bounds they imply."""
    p = theta[_IDX["pdeath2soc"]]
    mic, enz, doc_num, doc_den, doc = _microbial_pools(theta[_IDX["mic_cue"]], r, i_doc,
                                                       i_mic, i_soc)
    a = r.xi * enz                     # k_dec * ENZ = a / tau4s4
    d = i_soc + p * r.k_dth * mic      # = soc_num (SOC inputs incl. microbial necromass)
    room = MAX_CARBON_DENSITY - (jnp.sum(lit, axis=0) + doc + mic + enz)
    has_input = (d > 0) | (doc_num > 0)
    # SOC <= room  <=>  t <= a / (d (1 + Kd / room)); covers the positive-root bound too.
    t_cap = jnp.where(d > 0, a / (d * (1.0 + r.Kd / jnp.where(room > 0, room, 1.0))), jnp.inf)
    t_cap = jnp.where(room > 0, t_cap, -jnp.inf)
    t_hi = jnp.min(jnp.where(has_input, t_cap, jnp.inf))
    # MIC rule: sum SOC dz >= sum MIC dz / f - sum (DOC + MIC + ENZ) dz  (= need).
    need = jnp.sum(mic * _DZ) / max_mic_fraction - jnp.sum((doc + mic + enz) * _DZ)
    doc_ok = jnp.all(jnp.where(has_input, doc_den > 0, True))
    return a, d, r.Kd, t_hi, need, doc_ok


def _column_soc(t, a, d, kd):
    den = a - d * t
    return jnp.sum(jnp.where(d > 0, d * kd * t / jnp.where(den > 0, den, 1.0), 0.0) * _DZ)


def _mic_rule_root(a, d, kd, need, hi0):
    """Smallest tau4s4 in (0, hi0] with column SOC >= need > 0 (``hi0`` if none), and the
    number of Newton steps taken. ``hi0`` > 0 is below every layer's pole (``a/d``; else
    there is no valid bracket and ``hi0`` is returned). No gradients (see
    :func:`_mic_rule_lower_bound`).

    In the decomposition rate ``k = 1/tau4s4`` the column SOC is a sum of hyperbolas,
    ``S(k) = sum_l w_l / (a_l k - d_l)`` (``w_l = d_l Kd_l dz_l``), so ``H = 1/S`` is the
    harmonic sum of positive linear functions of ``k``: increasing and concave (linear for
    one layer). Newton's method on ``H(k) = 1/need`` from ``k0 = 1/hi0`` (where
    ``H <= 1/need``) therefore climbs monotonically to the root from below, and fast: the
    tangent of a nearly linear function. It replaces a 60-step bisection in ``tau4s4``
    (``tests/test_compas_feasible.py`` compares it with a bracketing solver and counts the
    steps).
    """
    w = jnp.where(d > 0, d * kd * _DZ, 0.0)
    target = 1.0 / jnp.where(need > 0, need, 1.0)

    def h_and_slope(k):  # H(k) - 1/need and H'(k)
        den = a * k - d
        den = jnp.where(den > 0, den, 1.0)
        soc = w / den  # per layer; a/den, not a w/den**2: den can be ~1e-170 in cold layers
        col = jnp.sum(soc)
        col = jnp.where(col > 0, col, jnp.inf)
        return 1.0 / col - target, jnp.sum(soc * (a / den)) / col**2

    def step(state):
        k, h, slope, _, n = state
        k_new = k - h / jnp.where(slope > 0, slope, jnp.inf)
        h_new, slope_new = h_and_slope(k_new)
        return k_new, h_new, slope_new, k_new - k, n + 1

    def going(state):
        k, h, _, dk, n = state
        return (h < 0) & (dk > 1e-15 * k) & (n < _NEWTON_MAX_STEPS)

    k0 = 1.0 / hi0
    h0, slope0 = h_and_slope(k0)
    # h0 >= 0: column SOC <= need already at hi0, no smaller root: keep hi0
    solve = (h0 < 0) & jnp.all(jnp.where(d > 0, a * k0 - d > 0, True))
    k_star, _, _, _, n = lax.while_loop(
        going, step, (k0, h0, slope0, jnp.where(solve, k0, 0.0), 0))
    return jnp.where(solve, 1.0 / k_star, hi0), n


def _mic_rule_lower_bound(a, d, kd, need, t_hi):
    """Smallest tau4s4 in (0, t_hi] with column SOC >= need (``t_hi`` if there is none).

    The root (:func:`_mic_rule_root`) is found without gradients; one implicit-function
    step restores the derivative with respect to the other parameters
    (d t / d x = -F_x / F_t).
    """
    sa, sd, skd, sneed, shi = (lax.stop_gradient(v) for v in (a, d, kd, need, t_hi))
    hi0 = jnp.where(jnp.isfinite(shi) & (shi > 0), shi, 1.0)
    t_star = lax.stop_gradient(_mic_rule_root(sa, sd, skd, sneed, hi0)[0])
    f = _column_soc(t_star, a, d, kd) - need
    f_t = jax.grad(_column_soc)(t_star, sa, sd, skd)
    f_t = jnp.where(f_t > 0, f_t, 1.0)
    t = t_star - (f - lax.stop_gradient(f)) / lax.stop_gradient(f_t)
    return jnp.where(need > 0, t, 0.0)


def _ranges(theta, u_death, prep: SitePrep, max_mic_fraction: float):
    """theta with tau4s2_death placed by ``u_death`` (None: keep theta's), both ranges, and
    the :class:`_Inputs` (they do not depend on tau4s2_death or tau4s4)."""
    params = PARAMETERS
    lo, hi = jnp.asarray(params.lower), jnp.asarray(params.upper)
    inputs = _inputs(theta, prep)
    lit, (i_doc, i_mic, i_soc, _) = inputs.lit, inputs.fluxes
    has_input = (i_doc + i_mic + i_soc) > 0
    d_lo = jnp.maximum(_death_lower_bound(theta, i_doc, i_mic, i_soc, has_input),
                       lo[IDX_DEATH])
    d_hi = hi[IDX_DEATH]
    d_ok = d_lo < d_hi
    if u_death is not None:
        d_lo_s = jnp.where(d_ok, d_lo, lo[IDX_DEATH])
        theta = theta.at[IDX_DEATH].set(d_lo_s + u_death * (d_hi - d_lo_s))
    r = _with_soil_times(inputs.r, theta)  # tau4s2_death enters k_dth only
    a, d, kd, t_hi, need, doc_ok = _s4_terms(theta, r, lit, i_doc, i_mic, i_soc,
                                             max_mic_fraction)
    s_hi = jnp.minimum(t_hi, hi[IDX_S4])
    s_lo = jnp.maximum(_mic_rule_lower_bound(a, d, kd, need, s_hi), lo[IDX_S4])
    s_ok = (s_lo < s_hi) & doc_ok
    return theta, jnp.stack([d_lo, d_hi]), jnp.stack([s_lo, s_hi]), d_ok, s_ok, inputs


def feasible_ranges(theta, prep: SitePrep, *,
                    max_mic_fraction: float = MAX_MIC_FRACTION):
    """Feasible intervals of ``tau4s2_death`` (given the others) and of ``tau4s4`` (given
    the others including theta's own ``tau4s2_death``), each (2,) ``(lower, upper)``.

    ``theta`` is feasible for the four mapped conditions iff it lies inside both.
    """
    _, death, s4, _, _, _ = _ranges(jnp.asarray(theta), None, prep, max_mic_fraction)
    return death, s4


def feasible_parameters(v, prepared: SitePrep, *,
                        max_mic_fraction: float = MAX_MIC_FRACTION) -> FeasibleMap:
    """Physical COMPAS parameters from ``v`` with the two walls mapped onto the box.

    Every parameter is ``PARAMETERS.to_physical(v)`` except ``tau4s2_death``, which fills its
    feasible interval given the others (the DOC root), and ``tau4s4``, which fills its
    feasible interval given the others and ``tau4s2_death`` (SOC root, density cap, MIC
    rule). ``log_volume = log(w_death / 2) + log(w_s4 / 3e-4)`` (widths relative to the
    prior box) is the log-Jacobian of the map: adding it makes the implied prior exactly the
    uniform prior restricted to the feasible set (``tests/test_compas_feasible.py`` checks
    this by Monte Carlo). What remains infeasible (an empty interval; litter or DOC over the
    density cap) is reported by ``nonempty`` = False or by the model's ``feasible`` flag.

    Args:
        v: (23,) values in (0, 1); ``v[IDX_DEATH]`` and ``v[IDX_S4]`` are positions inside
            the feasible intervals of ``tau4s2_death`` and ``tau4s4``.
        prepared: :func:`prepare` of the forcing of the site.
        max_mic_fraction: the MIC rule's bound (as :func:`steady_state`).

    Returns:
        :class:`~socmodels.contract.FeasibleMap`: ``theta`` (23,) physical, ``log_volume``
        () (<= 0; ``-inf`` if an interval is empty), ``nonempty`` ().
    """
    params = PARAMETERS
    lo, hi = jnp.asarray(params.lower), jnp.asarray(params.upper)
    v = jnp.asarray(v)
    theta, death, s4, d_ok, s_ok, inputs = _ranges(params.to_physical(v), v[IDX_DEATH],
                                                   prepared, max_mic_fraction)
    s_lo_s = jnp.where(s_ok, s4[0], lo[IDX_S4])
    s_hi_s = jnp.where(s_ok, s4[1], hi[IDX_S4])
    theta = theta.at[IDX_S4].set(s_lo_s + v[IDX_S4] * (s_hi_s - s_lo_s))
    nonempty = d_ok & s_ok
    d_lo_s = jnp.where(d_ok, death[0], lo[IDX_DEATH])
    width = lambda a_, b_, i: jnp.log((b_ - a_) / (hi[i] - lo[i]))  # noqa: E731
    log_volume = jnp.where(nonempty, width(d_lo_s, death[1], IDX_DEATH)
                           + width(s_lo_s, s_hi_s, IDX_S4), -jnp.inf)
    # the steady state at theta from the same inputs (they do not depend on the two mapped
    # parameters): the sampler needs it next, and recomputing them would double the cost
    state = _closed_form(theta, prepared, inputs, max_mic_fraction)
    return FeasibleMap(theta, log_volume, nonempty, state)

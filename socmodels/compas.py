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

import jax
import jax.numpy as jnp

from socmodels import layers
from socmodels._tables import COMPAS_PARAMETERS
from socmodels.forcing import Forcing
from socmodels.processes import (
    STOCK_1M_WEIGHTS,
    SitePrep,
    SteadyState,
    input_profile,
    is_feasible,
    litter_steady_state,
    mean_modifier,
    prepare_site,
    transport_coefficients,
)

__all__ = ["PARAMETERS", "POOL_NAMES", "EFOLDING", "MAX_MIC_FRACTION", "prepare",
           "steady_state", "customary_theta", "rates", "soil_fluxes"]

PARAMETERS = COMPAS_PARAMETERS
POOL_NAMES = ("CWD", "L1", "L2", "L3", "DOC", "MIC", "ENZ", "SOC")
NAME = "COMPAS"
EFOLDING = 0.5
"""Fixed e-folding depth (m) of the decomposition depth scalar in COMPAS."""
MAX_MIC_FRACTION = 0.1
"""Feasibility: column microbial biomass at most this fraction of column soil C (the code's
``soc_stock(total)/soc_stock(MIC) >= 10`` rule)."""

_DZ = jnp.asarray(layers.dz)
_DEPTH = jnp.exp(-jnp.asarray(layers.zsoi) / EFOLDING)


def prepare(forcing: Forcing) -> SitePrep:
    """Site-only precomputation (transport operators, modifier inputs). Pure and vmappable."""
    return prepare_site(forcing)


def rates(theta, prep: SitePrep):
    """Per-layer rates (yr-1) with modifiers for parameters ``theta``.

    Returns a dict of (20,) arrays: litter ``cwd, l1, l23``; soil ``k_up, k_dth, k_enz,
    k_e, k_dec`` (already multiplied by ``xi``); Michaelis constants ``Ka, Kd`` (times
    ``xi``, gC m-3); transport ``l, u``; ``xi``, ``xi_n`` and the input profile ``fin``.
    """
    th = jnp.asarray(theta)
    xi, xi_n = mean_modifier(prep, th[2], th[3])
    xi = xi * _DEPTH
    xi_n = xi_n * _DEPTH
    l, u = transport_coefficients(th[0] * prep.g_bio + th[1] * prep.g_cryo)
    return {
        "cwd": xi / th[4], "l1": xi_n / th[5], "l23": xi_n / th[6],
        "k_up": xi / th[7], "k_dth": xi / th[8], "k_enz": xi / th[9], "k_e": xi / th[10],
        "k_dec": xi / th[11], "Ka": th[12] * xi, "Kd": th[13] * xi,
        "l": l, "u": u, "xi": xi, "xi_n": xi_n, "fin": input_profile(th[22], prep.profile_on),
    }


def _safe_ratio(num, den):
    """num/den with 0/0 -> 0 (layers without any input), gradient-safe."""
    zero = (num == 0) & (den == 0)
    return jnp.where(zero, 0.0, num / jnp.where(zero, 1.0, den))


def soil_fluxes(theta, r, lit):
    """Litter-derived inputs to the soil pools (gC m-3 yr-1) and litter respiration.

    Returns ``(i_doc, i_mic, i_soc, resp_litter)``, each (20,).
    """
    th = jnp.asarray(theta)
    fcwd, pl1s1, pl2s1, pl3s4, l1_cue, l23_cue = (th[i] for i in (14, 15, 16, 17, 18, 19))
    f1 = r["l1"] * lit[1]
    f2 = r["l23"] * lit[2]
    f3 = r["l23"] * lit[3]
    i_doc = pl1s1 * f1 + pl2s1 * f2
    i_mic = (1 - pl1s1) * l1_cue * f1 + (1 - pl2s1) * l23_cue * f2 + (1 - pl3s4) * l23_cue * f3
    i_soc = pl3s4 * f3
    resp = ((1 - pl1s1) * (1 - l1_cue) * f1 + (1 - pl2s1) * (1 - l23_cue) * f2
            + (1 - pl3s4) * (1 - l23_cue) * f3)
    del fcwd
    return i_doc, i_mic, i_soc, resp


def _solve(theta, prep: SitePrep, max_mic_fraction: float) -> SteadyState:
    th = jnp.asarray(theta)
    r = rates(th, prep)
    lit, _ = litter_steady_state(prep, r["cwd"], r["l1"], r["l23"], th[14], r["l"], r["u"],
                                 r["fin"])
    i_doc, i_mic, i_soc, resp_lit = soil_fluxes(th, r, lit)
    cue, p = th[20], th[21]
    k_loss = r["k_dth"] + r["k_enz"]
    mic = (i_mic + cue * (i_soc + i_doc)) / ((1 - cue) * k_loss)
    enz = r["k_enz"] / r["k_e"] * mic
    soc_num = (i_soc + p * r["k_dth"] * mic)
    soc_den = r["k_dec"] * enz - p * r["k_dth"] * mic - i_soc
    som = _safe_ratio(soc_num * r["Kd"], soc_den)
    doc_num = k_loss * mic - i_mic
    doc_den = (cue * r["k_up"] - k_loss) * mic + i_mic
    doc = _safe_ratio(doc_num * r["Ka"], doc_den)
    soil = jnp.stack([doc, mic, enz, som])
    pools = jnp.concatenate([lit, soil], axis=0)
    soc = soil.sum(axis=0)
    f_up = r["k_up"] * mic * _safe_ratio(doc, r["Ka"] + doc)
    resp = resp_lit + (1 - cue) * f_up
    stock = jnp.sum(soc * _DZ)
    has_input = (soc_num > 0) | (doc_num > 0)
    dens_ok = jnp.all(jnp.where(has_input, (soc_den > 0) & (doc_den > 0), True))
    mic_ok = jnp.sum(mic * _DZ) <= max_mic_fraction * stock
    return SteadyState(
        pools=pools, soc=soc, stock=stock, stock_1m=jnp.sum(soc * STOCK_1M_WEIGHTS),
        respiration=jnp.sum(resp * _DZ), total_input=jnp.sum(prep.inputs),
        feasible=is_feasible(pools) & dens_ok & mic_ok, pool_names=POOL_NAMES)


def steady_state(theta, forcing: Forcing | SitePrep, *, check_bounds: bool = True,
                 max_mic_fraction: float = MAX_MIC_FRACTION) -> SteadyState:
    """COMPAS steady state for physical parameters ``theta`` (23,) at one site.

    Args:
        theta: physical parameter values in :data:`PARAMETERS` order.
        forcing: a :class:`~socmodels.Forcing` or the result of :func:`prepare`.
        check_bounds: validate a concrete ``theta`` against the prior box (see CLM5).
        max_mic_fraction: feasibility bound on column MIC / column soil C (the code's 10 %).

    Returns:
        :class:`~socmodels.processes.SteadyState` with ``pools`` (8, 20). ``feasible`` is
        False when a pool is negative or non-finite (the closed form has no positive
        solution: enzyme-driven SOC decomposition cannot keep up with SOC inputs, or DOC
        uptake cannot balance microbial losses) or MIC exceeds ``max_mic_fraction`` of
        soil C. Such states are reported, never sign-flipped (Q13).
    """
    if check_bounds and not isinstance(theta, jax.core.Tracer):
        PARAMETERS.validate(theta)
    prep = forcing if isinstance(forcing, SitePrep) else prepare(forcing)
    return _solve(theta, prep, max_mic_fraction)


def customary_theta(forcing: Forcing | None = None):
    """The customary COMPAS parameters of :data:`PARAMETERS` (code comments / prior midpoints).

    The paper's "customary" COMPAS run instead uses the mean of site posterior means,
    computed by the PRODA pipeline.
    """
    th = jnp.asarray(PARAMETERS.defaults)
    if forcing is not None:
        shape = jnp.shape(forcing.cellsand)[:-1]
        th = jnp.broadcast_to(th, shape + th.shape)
    return th

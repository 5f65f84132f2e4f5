"""Shared pieces of the system-level diagnostics (paper Eq. 10-14) that each model provides.

Each model module computes its own components for ONE site
(``clm5.site_components``, ``compas.site_components``; COMPAS also
``compas.site_michaelis_ratios``) and returns the containers defined here;
``surrogate.analysis.components`` validates the inputs and maps them over batch axes.
The definitions and the ``"paper"``/``"code"`` variants are described in
``docs/surrogate.md`` and ``docs/original_code.md`` (§ system-level components, Q12).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from socmodels import layers

__all__ = ["SystemComponents", "MichaelisRatios", "VARIANTS", "check_variant", "xi_bulk",
           "allocation_index", "weighted", "column", "carbon_input"]

VARIANTS = ("paper", "code")
_T_REF = 298.15  # K, reference temperature of the Q10 function
_DZ = jnp.asarray(layers.dz)


class SystemComponents(NamedTuple):
    """System-level components of one model (paper Eq. 10-14).

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
    """Non-microbial carbon transfer E (COMPAS); NaN for models without it [1]."""


class MichaelisRatios(NamedTuple):
    """Ratios of Michaelis constants to substrate concentrations per layer (Fig. 5)."""

    assim: jnp.ndarray
    """K_a xi / DOC, DOC uptake by microbes, (..., 20) [1]."""
    decom: jnp.ndarray
    """K_d xi / SOC, enzymatic decomposition of mineral SOC, (..., 20) [1]."""


def check_variant(variant: str) -> None:
    """Raise ``ValueError`` unless ``variant`` is ``"paper"`` or ``"code"``."""
    if variant not in VARIANTS:
        raise ValueError("variant must be 'paper' or 'code'")


def _xi_t(tsoi, q10):
    # Q10 function; identical above and below freezing because fq10 = q10.
    return jnp.power(q10, (tsoi - _T_REF) / 10.0)


def xi_bulk(q10, w_scaling, efolding, forcing):
    r"""Per-layer modifier of the authors' ``fun_bulk_process``, used by ``variant="code"``.

    .. math:: \xi_j = \overline{\xi_T}_j \; \overline{\xi_W}_j \; e^{-z_j/z_e}

    (product of the 12-month means of the Q10 temperature scalar and the capped, scaled
    water scalar; oxygen and nitrogen scalars excluded). The models themselves use the mean
    of the monthly products including O (and N for litter), Q14; that modifier is what
    ``variant="paper"`` uses.

    Args:
        q10, w_scaling, efolding: physical parameters (COMPAS: ``efolding`` = 0.5 m).
        forcing: one site (``tsoi`` and ``w_scalar`` of shape (12, 20)).

    Returns:
        (20,) array.
    """
    xt = jnp.mean(_xi_t(jnp.asarray(forcing.tsoi), q10), axis=0)
    xw = jnp.mean(jnp.minimum(1.0, w_scaling * jnp.asarray(forcing.w_scalar)), axis=0)
    return xt * xw * jnp.exp(-jnp.asarray(layers.zsoi) / efolding)


def allocation_index(f, variant: str):
    """Index I (~beta) of Eq. 14 and B = I^5 (fraction of input below 5 cm), one site."""
    if variant == "code":
        # fun_bulk_process: 1 - cumulative fraction at the bottom interface, exponent with
        # the node depth; cumulative fractions >= 1 -> NaN; nan-mean over layers.
        cum = jnp.cumsum(f)
        tail = 1.0 - cum
        depth = jnp.asarray(layers.zsoi)
        ok = cum < 1.0
    else:
        # Eq. 14 read literally: Y_z is the cumulative fraction at depth D_z (the bottom
        # interface), so (1 - Y_z)^(1/D_z) = beta exactly for the Jackson profile. The
        # remaining fraction is summed from below (no cancellation in 1 - cumsum).
        tail = jnp.flip(jnp.cumsum(jnp.flip(f))) - f
        depth = jnp.asarray(layers.zisoi)
        ok = tail > 0.0
    val = jnp.power(jnp.clip(tail, 0.0, None), 1.0 / (100.0 * depth))
    n = jnp.sum(ok).astype(val.dtype)
    index = jnp.sum(jnp.where(ok, val, 0.0)) / jnp.maximum(n, 1.0)
    if variant == "code":
        index = jnp.where(n > 0, index, jnp.nan)
    return index, jnp.power(index, 5.0)


def weighted(values, weights):
    """sum(values * weights) / sum(weights) (NaN if the weights sum to 0)."""
    s = jnp.sum(weights)
    return jnp.where(s > 0, jnp.sum(values * weights) / jnp.where(s > 0, s, 1.0), jnp.nan)


def column(a):
    """Column integral sum_z a_z dz_z of per-layer values (20,)."""
    return jnp.sum(a * _DZ)


def carbon_input(forcing):
    """Plant carbon input of one site, the sum of the four litter/CWD streams [gC m-2 yr-1]."""
    return forcing.input_cwd + forcing.input_litr1 + forcing.input_litr2 + forcing.input_litr3

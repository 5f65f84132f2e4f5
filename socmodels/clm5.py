"""CLM5 vertically resolved soil carbon (7 pools x 20 layers, first-order kinetics).

The model of Tao et al. (2024) "CLM5" (the authors' ``cesm2_clm5_cen_vr_v2``)::

    dX/dt = I + A K X + V X          X: (7 pools x 20 layers), gC m-3

with pools CWD, L1 (metabolic), L2 (cellulose), L3 (lignin) litter and S1 (fast), S2 (slow),
S3 (passive) SOC; K the modifier-scaled decomposition rates, A the transfer fractions, V the
vertical mixing (bio-/cryoturbation; not on CWD), I the plant input distributed with a
Jackson beta profile. See ``docs/models.md`` for the equations and
``docs/differences.md`` for the deliberate differences from the authors' code.

The steady state ``X* = -(A K + V)^-1 I`` is computed on the system's structure: CWD is
diagonal, L1 and L2/L3 are tridiagonal systems (vertical mixing), and S1-S3 form a
block-tridiagonal system with 3x3 blocks per layer. Gradients use an adjoint (custom VJP).

Example::

    from socmodels import clm5
    prep = clm5.prepare(forcing)                   # once per site
    ss = clm5.steady_state(theta, prep)            # many times; jit/vmap/grad friendly
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from socmodels import layers
from socmodels._linalg import block3_tridiag_solve
from socmodels._tables import CLM5_PARAMETERS
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

__all__ = ["PARAMETERS", "POOL_NAMES", "prepare", "steady_state", "customary_theta", "rates"]

PARAMETERS = CLM5_PARAMETERS
POOL_NAMES = ("CWD", "L1", "L2", "L3", "S1", "S2", "S3")
NAME = "CLM5"

_DZ = jnp.asarray(layers.dz)
_ZSOI = jnp.asarray(layers.zsoi)


def prepare(forcing: Forcing) -> SitePrep:
    """Site-only precomputation (transport operators, modifier inputs). Pure and vmappable."""
    return prepare_site(forcing)


def rates(theta, prep: SitePrep):
    """Decomposition rates with modifiers and transport couplings for parameters ``theta``.

    Returns a dict of (20,) arrays in yr-1: ``cwd, l1, l23, s1, s2, s3`` (decomposition),
    ``l, u`` (transport couplings), ``xi`` and ``xi_n`` (mean modifiers including the depth
    scalar; ``xi_n`` with the nitrogen scalar) and ``fin`` the input profile.
    """
    th = jnp.asarray(theta)
    xi, xi_n = mean_modifier(prep, th[2], th[19])
    depth = jnp.exp(-_ZSOI / th[3])
    xi = xi * depth
    xi_n = xi_n * depth
    g = th[0] * prep.g_bio + th[1] * prep.g_cryo
    l, u = transport_coefficients(g)
    return {
        "cwd": xi / th[4], "l1": xi_n / th[5], "l23": xi_n / th[6],
        "s1": xi / th[7], "s2": xi / th[8], "s3": xi / th[9],
        "l": l, "u": u, "xi": xi, "xi_n": xi_n, "fin": input_profile(th[20], prep.profile_on),
    }


def _solve(theta, prep: SitePrep) -> SteadyState:
    th = jnp.asarray(theta)
    r = rates(th, prep)
    lit, inp = litter_steady_state(prep, r["cwd"], r["l1"], r["l23"], th[18], r["l"], r["u"],
                                   r["fin"])
    fl1s1, fl2s1, fl3s2, fs1s2, fs1s3, fs2s1, fs2s3, fs3s1 = (th[i] for i in range(10, 18))
    k1, k2, k3, l, u = r["s1"], r["s2"], r["s3"], r["l"], r["u"]
    d = l + u
    zero = jnp.zeros_like(k1)
    D = ((k1 + d, -fs2s1 * k2, -fs3s1 * k3),
         (-fs1s2 * k1, k2 + d, zero),
         (-fs1s3 * k1, -fs2s3 * k2, k3 + d))
    f1 = r["l1"] * lit[1]
    f2 = r["l23"] * lit[2]
    f3 = r["l23"] * lit[3]
    b = (fl1s1 * f1 + fl2s1 * f2, fl3s2 * f3, zero)
    soil = jnp.stack(block3_tridiag_solve(D, -l, -u, b))
    pools = jnp.concatenate([lit, soil], axis=0)
    soc = soil.sum(axis=0)
    # Respiration from the fluxes (respired fraction x decomposition flux), per layer.
    resp = ((1 - fl1s1) * f1 + (1 - fl2s1) * f2 + (1 - fl3s2) * f3
            + (1 - fs1s2 - fs1s3) * k1 * soil[0] + (1 - fs2s1 - fs2s3) * k2 * soil[1]
            + (1 - fs3s1) * k3 * soil[2])
    return SteadyState(
        pools=pools, soc=soc, stock=jnp.sum(soc * _DZ), stock_1m=jnp.sum(soc * STOCK_1M_WEIGHTS),
        respiration=jnp.sum(resp * _DZ), total_input=jnp.sum(prep.inputs),
        feasible=is_feasible(pools), pool_names=POOL_NAMES)


def steady_state(theta, forcing: Forcing | SitePrep, *, check_bounds: bool = True) -> SteadyState:
    """CLM5 steady state for physical parameters ``theta`` (21,) at one site.

    Args:
        theta: physical parameter values in :data:`PARAMETERS` order.
        forcing: a :class:`~socmodels.Forcing` or the result of :func:`prepare` (faster when
            the same site is evaluated many times).
        check_bounds: when ``theta`` is a concrete array (not traced under ``jit``), raise
            :class:`~socmodels.ParameterError` if it lies outside the prior box. Set False
            to run customary values outside the box (e.g. ``efolding`` = 10 m).

    Returns:
        :class:`~socmodels.processes.SteadyState` with ``pools`` (7, 20).

    Pure: works under ``jit``, ``vmap`` (sites and/or parameter sets) and ``grad``.
    """
    if check_bounds and not isinstance(theta, jax.core.Tracer):
        PARAMETERS.validate(theta)
    prep = forcing if isinstance(forcing, SitePrep) else prepare(forcing)
    return _solve(theta, prep)


def customary_theta(forcing: Forcing | None = None):
    """CLM5 customary (default) parameters; S1 transfer fractions from the site's sand.

    CLM5 sets ``t = 0.85 - 0.0068 (100 - sand%)``, ``fs1s2 = 1 - t - 0.004``,
    ``fs1s3 = 0.004``. With ``forcing`` the column-mean sand is used, else 50 % sand.
    Several values lie outside the prior box; use ``steady_state(..., check_bounds=False)``.
    """
    th = jnp.asarray(PARAMETERS.defaults)
    if forcing is not None:
        sand = jnp.clip(jnp.mean(jnp.asarray(forcing.cellsand), axis=-1), 0.0, 100.0)
        t = 0.85 - 0.0068 * (100.0 - sand)
        th = jnp.broadcast_to(th, sand.shape + th.shape)
        th = th.at[..., 13].set(1.0 - t - 0.004).at[..., 14].set(0.004)
    return th

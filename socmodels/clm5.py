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

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from socmodels import layers
from socmodels._linalg import block3_tridiag_solve
from socmodels._tables import CLM5_PARAMETERS
from socmodels.components import (
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
from socmodels.truth import smoothstep

__all__ = ["NAME", "PARAMETERS", "POOL_NAMES", "Rates", "prepare", "steady_state",
           "customary_theta", "rates", "site_components", "virtual_truth"]

PARAMETERS = CLM5_PARAMETERS
POOL_NAMES = ("CWD", "L1", "L2", "L3", "S1", "S2", "S3")
NAME = "CLM5"
CUSTOMARY_FROM_POSTERIOR = False
"""The paper's customary CLM5 run uses the CLM5 defaults (:func:`customary_theta`)."""

_DZ = jnp.asarray(layers.dz)
_ZSOI = jnp.asarray(layers.zsoi)

_Layer = Float[Array, "*batch 20"]


class Rates(NamedTuple):
    """Per-layer CLM5 rates (yr-1) for one parameter vector (see :func:`rates`)."""

    cwd: _Layer
    l1: _Layer
    l23: _Layer
    s1: _Layer
    s2: _Layer
    s3: _Layer
    l: _Layer  # noqa: E741
    u: _Layer
    xi: _Layer
    xi_n: _Layer
    fin: _Layer


def prepare(forcing: Forcing) -> SitePrep:
    """Site-only precomputation (transport operators, modifier inputs). Pure and vmappable."""
    return prepare_site(forcing)


def rates(theta, prep: SitePrep) -> Rates:
    """Decomposition rates with modifiers and transport couplings for parameters ``theta``.

    Returns a :class:`Rates` of (20,) arrays in yr-1: ``cwd, l1, l23, s1, s2, s3``
    (decomposition), ``l, u`` (transport couplings), ``xi`` and ``xi_n`` (mean modifiers
    including the depth scalar; ``xi_n`` with the nitrogen scalar) and ``fin`` the input
    profile.
    """
    p = PARAMETERS.unpack(theta)
    xi, xi_n = mean_modifier(prep, p.q10, p.w_scaling)
    depth = jnp.exp(-_ZSOI / p.efolding)
    xi = xi * depth
    xi_n = xi_n * depth
    l, u = transport_coefficients(p.diffus * prep.g_bio + p.cryo * prep.g_cryo)
    return Rates(cwd=xi / p.taucwd, l1=xi_n / p.taul1, l23=xi_n / p.taul2,
                 s1=xi / p.tau4s1, s2=xi / p.tau4s2, s3=xi / p.tau4s3,
                 l=l, u=u, xi=xi, xi_n=xi_n, fin=input_profile(p.beta, prep.profile_on))


def _solve(theta, prep: SitePrep) -> SteadyState:
    p = PARAMETERS.unpack(theta)
    r = rates(theta, prep)
    lit, inp = litter_steady_state(prep, r.cwd, r.l1, r.l23, p.fcwdl2, r.l, r.u, r.fin)
    k1, k2, k3, l, u = r.s1, r.s2, r.s3, r.l, r.u
    d = l + u
    zero = jnp.zeros_like(k1)
    D = ((k1 + d, -p.fs2s1 * k2, -p.fs3s1 * k3),
         (-p.fs1s2 * k1, k2 + d, zero),
         (-p.fs1s3 * k1, -p.fs2s3 * k2, k3 + d))
    f1 = r.l1 * lit[1]
    f2 = r.l23 * lit[2]
    f3 = r.l23 * lit[3]
    b = (p.fl1s1 * f1 + p.fl2s1 * f2, p.fl3s2 * f3, zero)
    soil = jnp.stack(block3_tridiag_solve(D, -l, -u, b))
    pools = jnp.concatenate([lit, soil], axis=0)
    soc = soil.sum(axis=0)
    # Respiration from the fluxes (respired fraction x decomposition flux), per layer.
    resp = ((1 - p.fl1s1) * f1 + (1 - p.fl2s1) * f2 + (1 - p.fl3s2) * f3
            + (1 - p.fs1s2 - p.fs1s3) * k1 * soil[0] + (1 - p.fs2s1 - p.fs2s3) * k2 * soil[1]
            + (1 - p.fs3s1) * k3 * soil[2])
    return SteadyState(
        pools=pools, soc=soc, stock=jnp.sum(soc * _DZ), stock_1m=jnp.sum(soc * STOCK_1M_WEIGHTS),
        respiration=jnp.sum(resp * _DZ), total_input=jnp.sum(prep.inputs),
        status=feasibility_status(pools), pool_names=POOL_NAMES)


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
        :class:`~socmodels.processes.SteadyState` with ``pools`` (7, 20); ``status`` has
        the ``NONFINITE``, ``NEGATIVE`` and ``DENSITY_CAP`` bits of
        :class:`~socmodels.Failure`.

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
        th = (th.at[..., PARAMETERS.index("fs1s2")].set(1.0 - t - 0.004)
              .at[..., PARAMETERS.index("fs1s3")].set(0.004))
    return th


# ---------------------------------------------------------------------------------------
# System-level components (paper Eq. 10-14), one site
# ---------------------------------------------------------------------------------------

_PATHS = (  # (fraction parameter, donor pool index): the transfer paths of A
    ("fl1s1", 1), ("fl2s1", 2), ("fl3s2", 3), ("fs1s2", 4), ("fs1s3", 4),
    ("fs2s1", 5), ("fs2s3", 5), ("fs3s1", 6))
_TAU = ("taucwd", "taul1", "taul2", "taul2", "tau4s1", "tau4s2", "tau4s3")


def site_components(theta, forcing: Forcing, x, xi_layer=None, v_layer=None, *,
                    variant: str = "paper") -> SystemComponents:
    r"""System-level components of CLM5 at one site (paper Eq. 10-14).

    The definitions are documented at ``surrogate.analysis.components`` (which validates
    the inputs and maps this function over batch axes) and in ``docs/surrogate.md``.

    Args:
        theta: (21,) physical parameters.
        forcing: one site's forcing.
        x: (7, 20) steady-state pools [gC m-3].
        xi_layer: optional (20,) modifier override (all pools) in CTE and Xi.
        v_layer: optional (20,) transport loss-rate override [yr-1].
        variant: ``"paper"`` or ``"code"``.

    Returns:
        :class:`~socmodels.components.SystemComponents` (``e`` is NaN).
    """
    p = PARAMETERS.unpack(theta)
    r = rates(theta, prepare_site(forcing))
    if xi_layer is not None:
        xi_soil = xi_lit = xi_layer
    elif variant == "code":
        xi_soil = xi_lit = xi_bulk(p.q10, p.w_scaling, p.efolding, forcing)
    else:
        xi_soil, xi_lit = r.xi, r.xi_n
    k = jnp.stack([1.0 / getattr(p, n) for n in _TAU])  # baseline rates (7,) yr-1
    mod = jnp.stack([xi_soil, xi_lit, xi_lit, xi_lit, xi_soil, xi_soil, xi_soil])
    flow = k * jnp.sum(x * mod * _DZ, axis=-1)  # F_j, (7,)
    num = sum(getattr(p, f) * flow[d] for f, d in _PATHS)
    den = sum(flow[d] for d in sorted({d for _, d in _PATHS}))
    stock = jnp.sum(x * _DZ, axis=-1)
    sel = slice(4, 7) if variant == "code" else slice(0, 7)
    soc = jnp.sum(x[4:7], axis=0) * _DZ  # gC m-2 per layer
    v = r.l + r.u if v_layer is None else v_layer
    i_idx, b = allocation_index(r.fin, variant)
    c_in = carbon_input(forcing)
    to_soil = column(p.fl1s1 * r.l1 * x[1] + p.fl2s1 * r.l23 * x[2] + p.fl3s2 * r.l23 * x[3])
    return SystemComponents(
        cte=num / den, k=weighted(k[sel], stock[sel]), xi=weighted(xi_soil, soc),
        v=weighted(v, soc), b=b, i=i_idx, carbon_input=jnp.asarray(c_in, k.dtype),
        litter_to_soil=to_soil / c_in, e=jnp.asarray(jnp.nan, k.dtype))


# ---------------------------------------------------------------------------------------
# Virtual-world truth
# ---------------------------------------------------------------------------------------

def virtual_truth(z: dict[str, np.ndarray], *, anchor: bool = False) -> dict[str, np.ndarray]:
    """CLM5 truth in the unit cube: temperature anchor + (unless ``anchor``) covariates.

    Args:
        z: standardised covariate drivers of ``socmodels.data.world`` (``T``, ``P``,
            ``clay``, ``sand``, ``ph``, ``npp``, ``bed``, ``noise``, ``t`` in degC, ``warm``).
        anchor: only the temperature path (covariate terms off), the point infeasible
            truths are pulled toward.

    Returns:
        ``{parameter name: unit-cube values}`` (broadcastable to the drivers' shape).
    """
    th = np.tanh
    T = z["t"]
    k = 0.0 if anchor else 1.0
    n = z["noise"] * k
    hot = smoothstep((T - 15.0) / 12.0)
    return {
        "diffus": 0.5 + k * 0.25 * th(0.8 * z["npp"] + 0.3 * z["T"]),
        "cryo": 0.5 + 0.02 * n,
        "q10": 0.12 + 0.1 * (1.0 - z["warm"]) + k * 0.05 * th(z["P"]),
        "efolding": 0.57 + k * (0.2 * th(z["bed"]) + 0.06 * th(z["P"])),
        "taucwd": 0.5 + 0.02 * n,
        "taul1": 0.45 + 0.02 * n,
        "taul2": 0.5 + k * 0.03 * th(z["T"]),
        "tau4s1": 0.5 + k * 0.15 * th(z["clay"]),
        "tau4s2": 0.47 + k * 0.15 * th(0.9 * z["clay"] - 0.4 * z["T"]),
        "tau4s3": 0.38 - 0.28 * hot + k * 0.15 * th(z["clay"] + 0.5 * z["ph"] ** 2 - 0.5),
        "fl1s1": 0.5 + 0.02 * n,
        "fl2s1": 0.5 + 0.02 * n,
        "fl3s2": 0.5 + k * 0.1 * th(z["sand"]),
        "fs1s2": 0.5 - k * 0.3 * th(1.2 * z["sand"]),
        "fs1s3": 0.3 + 0.02 * n,
        "fs2s1": 0.5 + 0.02 * n,
        "fs2s3": 0.42 + k * 0.15 * th(z["clay"]),
        "fs3s1": 0.5 + 0.02 * n,
        "fcwdl2": 0.5 + 0.02 * n,
        "w_scaling": 0.52 - 0.15 * hot - k * 0.12 * th(z["P"]),
        "beta": 0.5 + k * 0.25 * th(0.8 * z["T"] - 0.6 * z["P"]),
    }

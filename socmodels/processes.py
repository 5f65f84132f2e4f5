"""Processes shared by CLM5 and COMPAS: vertical transport, environmental modifiers, plant
input profile and the litter (CWD, L1, L2, L3) block.

Time unit: years. Rates are yr^-1, inputs gC m-3 yr-1, diffusivities m2 yr-1. (The original
code works in days; the steady state does not depend on the time unit.)

Site-only work is done once in :func:`prepare_site` (the forcing is fixed while a sampler
changes the parameters); the per-parameter work in the models is then cheap.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from socmodels import layers
from socmodels._linalg import tridiag_solve
from socmodels.forcing import Forcing
from socmodels.status import status_bits

__all__ = [
    "SitePrep",
    "prepare_site",
    "transport_shapes",
    "transport_coefficients",
    "mean_modifier",
    "input_profile",
    "litter_steady_state",
    "SteadyState",
    "MAX_ALTDEPTH_CRYOTURBATION",
    "MAX_DEPTH_CRYOTURB",
    "MAX_CARBON_DENSITY",
    "is_feasible",
    "feasibility_status",
]

MAX_ALTDEPTH_CRYOTURBATION = 2.0
"""Active-layer depth (m) up to which mixing is cryoturbation (CTSM)."""
MAX_DEPTH_CRYOTURB = 3.0
"""Depth (m) by which cryoturbation has decayed to zero (CTSM)."""

_ZIS21 = jnp.asarray(layers.zisoi21)
_W_P = jnp.asarray((layers.zsoi21[1:layers.NLEV] - layers.zisoi21[:layers.NLEV - 1])
                   / layers.dz_node21[1:layers.NLEV])  # weight of the lower node, interfaces 1..19
_DZN = jnp.asarray(layers.dz_node21[1:layers.NLEV])  # node distance across interfaces 1..19
_DZ = jnp.asarray(layers.dz)

# Shapes for the annotations of the public containers (jaxtyping; no runtime checking).
# ``*batch`` stands for any leading batch axes added by ``vmap``.
MonthlyLayers = Float[Array, "*batch 12 20"]
Interfaces = Float[Array, "*batch 19"]
Layers = Float[Array, "*batch 20"]
PoolsLayers = Float[Array, "*batch pools 20"]
Scalar = Float[Array, "*batch"]
StatusCode = Int[Array, "*batch"]


def _month_shapes(altmax, altmax_lastyear, nbedrock):
    """Per-month diffusivity shapes at the 21 nodes for one month (unit diffusivity).

    Returns ``(bio_shape, cryo_shape)`` each (21,); at most one is non-zero.
    """
    a = jnp.maximum(altmax, altmax_lastyear)
    nb = nbedrock.astype(jnp.int32)  # 1-based bedrock layer index
    j = jnp.arange(1, 22)
    in_col = j <= nb + 1
    z_nb1 = _ZIS21[jnp.clip(nb, 0, 20)]  # zisoi(nb+1), 1-based -> index nb
    denom = jnp.minimum(MAX_DEPTH_CRYOTURB, z_nb1) - a
    safe = jnp.where(denom > 0, denom, 1.0)
    taper = jnp.where(denom > 0, jnp.maximum(1.0 - (_ZIS21 - a) / safe, 0.0), 0.0)
    cryo = jnp.where(_ZIS21 < a, 1.0, taper) * in_col
    is_cryo = (a > 0) & (a <= MAX_ALTDEPTH_CRYOTURBATION)
    is_bio = a > MAX_ALTDEPTH_CRYOTURBATION
    return jnp.where(is_bio, in_col * 1.0, 0.0), jnp.where(is_cryo, cryo, 0.0)


def _interface_conductance(shape):
    """Harmonic-mean conductance (m-1 per unit diffusivity) across interfaces 1..19."""
    s0, s1 = shape[: layers.NLEV - 1], shape[1: layers.NLEV]
    den = (1.0 - _W_P) * s1 + _W_P * s0
    harm = jnp.where(den > 0, s0 * s1 / jnp.where(den > 0, den, 1.0), 0.0)
    return harm / _DZN


def transport_shapes(forcing: Forcing):
    """12-month mean interface conductances per unit diffusivity, by mixing regime.

    Returns ``(g_bio, g_cryo)``, each (19,) in m-1: the conductance across the interface
    between layers j and j+1 is ``diffus * g_bio[j] + cryo * g_cryo[j]`` (m yr-1) when the
    diffusivities are in m2 yr-1. Exact for the code's operator (the 12 monthly operators
    are linear in the regime's diffusivity and are averaged), up to the code's 1e-30
    diffusivity floor, and conservative also with bedrock above layer 20 (fix of Q8).
    """
    bio, cryo = jax.vmap(_month_shapes)(forcing.altmax, forcing.altmax_lastyear,
                                        forcing.nbedrock)
    g_bio = jax.vmap(_interface_conductance)(bio).mean(axis=0)
    g_cryo = jax.vmap(_interface_conductance)(cryo).mean(axis=0)
    return g_bio, g_cryo


def transport_coefficients(g):
    """Tridiagonal transport couplings (yr-1) from interface conductances ``g`` (19,) m yr-1.

    Returns ``(l, u)`` (20,): layer j exchanges with j-1 at rate ``l[j]`` and with j+1 at
    rate ``u[j]``; ``dX_j/dt = l_j (X_{j-1} - X_j) + u_j (X_{j+1} - X_j)``. Zero flux at the
    surface and the bottom of the column.
    """
    zero = jnp.zeros_like(g[..., :1])
    l = jnp.concatenate([zero, g], axis=-1) / _DZ
    u = jnp.concatenate([g, zero], axis=-1) / _DZ
    return l, u


@dataclasses.dataclass(frozen=True)
class SitePrep:
    """Site-only quantities derived once from a :class:`Forcing` (a JAX pytree).

    Attributes:
        t10: (12, 20) (TSOI - 298.15 K) / 10, the Q10 exponent.
        w: (12, 20) W_SCALAR.
        o: (12, 20) O_SCALAR.
        on: (12, 20) O_SCALAR * FPI_vr (litter pools).
        g_bio, g_cryo: (19,) mean interface conductances per unit diffusivity (m-1).
        inputs: (4,) annual inputs CWD, L1, L2, L3 (gC m-2 yr-1).
        profile_on: () 1.0 if every month's ALTMAX_LASTYEAR > 0 (beta profile), else 0.0
            (everything to layer 1; the code's rule, Q9).
        sand: (20,) sand (%).
    """

    t10: MonthlyLayers
    w: MonthlyLayers
    o: MonthlyLayers
    on: MonthlyLayers
    g_bio: Interfaces
    g_cryo: Interfaces
    inputs: Float[Array, "*batch 4"]  # noqa: F722
    profile_on: Scalar
    sand: Layers


jax.tree_util.register_dataclass(
    SitePrep, data_fields=[f.name for f in dataclasses.fields(SitePrep)], meta_fields=[])


def prepare_site(forcing: Forcing) -> SitePrep:
    """Everything that depends on the site alone. Pure; ``jax.vmap`` it over sites."""
    f = jax.tree_util.tree_map(jnp.asarray, forcing)
    g_bio, g_cryo = transport_shapes(f)
    return SitePrep(
        t10=(f.tsoi - 298.15) / 10.0,
        w=f.w_scalar,
        o=f.o_scalar,
        on=f.o_scalar * f.fpi_vr,
        g_bio=g_bio,
        g_cryo=g_cryo,
        inputs=jnp.stack([f.input_cwd, f.input_litr1, f.input_litr2, f.input_litr3]),
        profile_on=jnp.all(f.altmax_lastyear > 0).astype(f.tsoi.dtype),
        sand=f.cellsand,
    )


def mean_modifier(prep: SitePrep, q10, w_scaling):
    """12-month means of the environmental modifier products, per layer.

    Returns ``(xi, xi_n)`` (20,): ``mean_m(xi_T xi_W xi_O)`` and
    ``mean_m(xi_T xi_W xi_O xi_N)``, with ``xi_T = q10^((T - 298.15)/10)`` (frozen Q10 = Q10)
    and ``xi_W = min(1, w_scaling * W_SCALAR)``. The depth scalar is applied by the model.
    Both models use the mean of monthly products (Q14, ``docs/differences.md``).
    """
    return _modifier_means(q10, w_scaling, prep.t10, prep.w, prep.o, prep.on)


def _modifier_terms(q10, w_scaling, t10, w):
    """``xi_T`` and ``xi_W`` per month and layer (the hot loop of the models)."""
    # q10^t via exp2 (about 20 % cheaper than exp on CPU)
    return jnp.exp2(jnp.log2(q10) * t10), jnp.minimum(1.0, w_scaling * w)


@jax.custom_jvp
def _modifier_means(q10, w_scaling, t10, w, o, on):
    """``(mean_m(xi_T xi_W o), mean_m(xi_T xi_W on))`` per layer; see :func:`mean_modifier`.

    The values are computed exactly as without the custom rule. Its JVP forms the partial
    derivatives with respect to ``q10`` and ``w_scaling`` as (20,) monthly means next to the
    values, so reverse mode keeps four (20,) residuals instead of the (12, 20) intermediates
    (``xi_T``, ``xi_W``, the ``minimum`` mask, broadcast cotangents) that are the main
    memory traffic of the gradient at large batch.
    """
    xt, xw = _modifier_terms(q10, w_scaling, t10, w)
    tw = xt * xw
    return jnp.mean(tw * o, axis=0), jnp.mean(tw * on, axis=0)


def _modifier_means_jvp(primals, tangents):
    q10, w_scaling, t10, w, o, on = primals
    dq10, dws, *dsite = tangents
    zero = jax.custom_derivatives.SymbolicZero
    xt, xw = _modifier_terms(q10, w_scaling, t10, w)
    tw = xt * xw
    xi, xi_n = jnp.mean(tw * o, axis=0), jnp.mean(tw * on, axis=0)
    t_xi, t_xi_n = jnp.zeros_like(xi), jnp.zeros_like(xi_n)
    if not isinstance(dq10, zero):  # d xi_T / d q10 = xi_T t10 / q10
        g = tw * t10
        t_xi = t_xi + jnp.mean(g * o, axis=0) * (dq10 / q10)
        t_xi_n = t_xi_n + jnp.mean(g * on, axis=0) * (dq10 / q10)
    if not isinstance(dws, zero):
        # d min(1, s w) / d s = w below the cap, w / 2 on it (jnp.minimum's tie rule);
        # xi_T w = tw / s below the cap and xi_T = tw on it, so only ``tw`` is stored
        sw = w_scaling * w
        g = jnp.where(sw < 1.0, tw / w_scaling, jnp.where(sw == 1.0, 0.5 * w * tw, 0.0))
        t_xi = t_xi + jnp.mean(g * o, axis=0) * dws
        t_xi_n = t_xi_n + jnp.mean(g * on, axis=0) * dws
    if not all(isinstance(t, zero) for t in dsite):  # site inputs: the plain rule
        site = [jnp.zeros_like(p) if isinstance(t, zero) else t
                for p, t in zip(primals[2:], dsite, strict=True)]
        _, (a, b) = jax.jvp(lambda *s: _modifier_means.fun(q10, w_scaling, *s),
                            primals[2:], tuple(site))
        t_xi, t_xi_n = t_xi + a, t_xi_n + b
    return (xi, xi_n), (t_xi, t_xi_n)


_modifier_means.defjvp(_modifier_means_jvp, symbolic_zeros=True)


def input_profile(beta, profile_on):
    """Fraction of plant input per layer (20,): Jackson profile ``beta^(100 z)`` (z in m).

    ``f_j = beta^(100 ztop_j) - beta^(100 zbot_j)``, normalized to sum 1 over the 20 layers;
    all input to layer 1 when ``profile_on`` is 0 (the code's permafrost switch, Q9).
    """
    lb = jnp.log(beta) * 100.0
    f = jnp.exp(lb * jnp.asarray(layers.ztop)) - jnp.exp(lb * jnp.asarray(layers.zisoi))
    f = f / jnp.sum(f)
    top = jnp.zeros(layers.NLEV).at[0].set(1.0)
    return profile_on * f + (1.0 - profile_on) * top


def litter_steady_state(prep: SitePrep, k_cwd, k_l1, k_l23, fcwdl2, l, u, fin):
    """Steady state of the litter chain CWD -> (L2, L3), with L1 beside it.

    Args:
        k_cwd: (20,) CWD decomposition rate (yr-1) including modifiers.
        k_l1, k_l23: (20,) L1 and L2 (= L3) rates (yr-1) including modifiers.
        fcwdl2: CWD -> L2 fraction (the rest goes to L3).
        l, u: (20,) transport couplings (yr-1) for L1-L3 (CWD is not transported).
        fin: (20,) input profile.

    Returns:
        (4, 20) pools CWD, L1, L2, L3 (gC m-3) and (4, 20) inputs (gC m-3 yr-1).
    """
    inp = prep.inputs[:, None] * fin[None, :] / _DZ  # (4, 20) gC m-3 yr-1
    cwd = inp[0] / k_cwd
    # At steady state CWD decomposition equals CWD input in every layer (no transport).
    rhs23 = jnp.stack([inp[2] + fcwdl2 * inp[0], inp[3] + (1.0 - fcwdl2) * inp[0]])
    x1 = tridiag_solve(-l, k_l1 + l + u, -u, inp[1])
    x23 = tridiag_solve(-l, k_l23 + l + u, -u, rhs23)
    return jnp.stack([cwd, x1, x23[0], x23[1]]), inp


@dataclasses.dataclass(frozen=True)
class SteadyState:
    """A steady state of a soil model (one site; batched under ``vmap``).

    Attributes (per-site shapes; ``vmap`` adds leading axes):
        pools: (n_pools, 20) carbon per pool and layer, gC m-3 (order ``pool_names``).
        soc: (20,) the quantity compared with soil profiles, gC m-3
            (CLM5: S1+S2+S3; COMPAS: DOC+MIC+ENZ+SOC).
        stock: column stock of ``soc`` over 0-8.6 m, gC m-2.
        stock_1m: stock of ``soc`` over 0-1 m, gC m-2.
        respiration: column heterotrophic respiration from the fluxes, gC m-2 yr-1.
        total_input: column plant input, gC m-2 yr-1 (equals ``respiration`` at steady state).
        status: () int32 bit mask of :class:`~socmodels.Failure` flags, 0 when feasible:
            every pool finite and non-negative, no layer above :data:`MAX_CARBON_DENSITY`
            and (COMPAS) the model's own constraints hold (see ``compas.steady_state``).
            Infeasible states are never clipped or sign-flipped.
        pool_names: names of the pools (static).
    """

    pools: PoolsLayers
    soc: Layers
    stock: Scalar
    stock_1m: Scalar
    respiration: Scalar
    total_input: Scalar
    status: StatusCode
    pool_names: tuple[str, ...] = ()

    @property
    def feasible(self):
        """True where ``status == 0`` (no :class:`~socmodels.Failure` bit set)."""
        return jnp.asarray(self.status) == 0


jax.tree_util.register_dataclass(
    SteadyState,
    data_fields=["pools", "soc", "stock", "stock_1m", "respiration", "total_input", "status"],
    meta_fields=["pool_names"])

STOCK_1M_WEIGHTS = jnp.asarray(layers.stock_weights(1.0))

MAX_CARBON_DENSITY = 1.0e6
"""Feasibility bound (gC m-3) on the total carbon of any layer: ten times the carbon density
of pure peat. Steady states above it arise only where decomposition vanishes (e.g. an
e-folding depth near 0 m or deep frozen layers) and are numerically meaningless."""


def feasibility_status(pools):
    """Status bits (int32) of the checks every model shares.

    ``NONFINITE`` (a NaN/inf pool), ``NEGATIVE`` (below ``-1e-10`` times the largest pool,
    i.e. beyond round-off) and ``DENSITY_CAP`` (a layer's total above
    :data:`MAX_CARBON_DENSITY`). The last two are judged on finite states only: a state with
    a non-finite pool reports ``NONFINITE`` alone.
    """
    # Plain reductions over the pools instead of masking the non-finite ones first: the
    # mask (a ``where`` over every pool) cost 0.4 us of CLM5's 1.9 us log density under
    # vmap (docs/inference.md section 6); the feasible/infeasible decision is the same.
    # ``finite`` needs its own reduction: XLA's CPU min/max reductions can skip NaN.
    finite = jnp.all(jnp.isfinite(pools))
    lo, hi = jnp.min(pools), jnp.max(pools)
    nonneg = lo >= -1e-10 * jnp.maximum(jnp.abs(lo), jnp.abs(hi))
    bounded = jnp.max(jnp.sum(pools, axis=0)) <= MAX_CARBON_DENSITY
    return status_bits(NONFINITE=~finite, NEGATIVE=finite & ~nonneg,
                       DENSITY_CAP=finite & ~bounded)


def is_feasible(pools):
    """Finite, non-negative (to round-off) and below :data:`MAX_CARBON_DENSITY` per layer."""
    return feasibility_status(pools) == 0

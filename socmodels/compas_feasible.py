"""COMPAS's feasible set, and a parameterization in which most of it is a box.

Why draws are infeasible
------------------------
In every layer the closed form of ``compas._solve`` (the authors' "Equation 9") reads, with
the soil rates ``k = xi / tau`` sharing the layer's modifier ``xi``, litter-derived inputs
``I_MIC, I_DOC, I_SOC`` and ``J = I_DOC + I_SOC``:

.. math::

    \\xi\\,\\mathrm{MIC} = M = \\frac{I_{MIC} + c J}{(1-c)\\,b},\\qquad
    b = \\frac{1}{\\tau_{death}} + \\frac{1}{\\tau_{enz}},\\qquad
    \\mathrm{ENZ} = \\frac{\\tau_{s3}}{\\tau_{enz}}\\,\\mathrm{MIC}

(``c`` = ``mic_cue``). The two denominators of the closed form are then

* DOC: ``(c k_up - k_dth - k_enz) MIC + I_MIC > 0``  <=>
  :math:`\\tau_{death} > 1 / (c_{eff}/\\tau_{s1} - 1/\\tau_{enz})` with
  :math:`c_{eff} = (I_{MIC} + cJ)/(I_{MIC} + J)` (between ``c`` and 1): uptake times the
  effective CUE of the inputs must outrun microbial death and enzyme production. ``xi``
  cancels, so this is a condition on the parameters and on the *composition* of the litter
  inputs only (hence the same ~23 % rejection at every climate);
* SOC: ``k_dec ENZ - p k_dth MIC - I_SOC > 0``  <=>
  :math:`\\tau_{s4} < \\xi\\,\\mathrm{ENZ} / (p\\,k_{dth}\\mathrm{MIC} + I_{SOC})`:
  enzymatic decomposition must keep up with SOC inputs (again ``xi``-free).

The density cap (every layer's total carbon <= ``MAX_CARBON_DENSITY``) on the SOC pool is an
upper bound on ``tau4s4`` too, since SOC grows monotonically with it; the
"MIC <= 10 % of soil C" rule is a *lower* bound on ``tau4s4`` (column soil C grows with
``tau4s4``; MIC, ENZ, DOC and the litter do not depend on it). No other parameter moves
these four quantities so simply: the litter and the inputs do not depend on
``tau4s2_death`` or ``tau4s4`` at all.

The parameterization
--------------------
:func:`feasible_theta` maps ``u in (0, 1)^23`` to physical parameters: every parameter as
usual, except that ``tau4s2_death`` fills the interval ``(tau_death_min, 2)`` left by the
DOC condition and ``tau4s4`` fills the interval ``(tau4s4_min, tau4s4_max)`` left by the
SOC, density-cap and MIC conditions (given the others). The log-density correction
``log_volume = log(w_death / 2) + log(w_s4 / 3e-4)`` (widths relative to the prior box)
is the log Jacobian of this map: adding it makes the sampler's prior *exactly* the uniform
prior restricted to the feasible set (``tests/test_compas_feasible.py`` checks this by Monte
Carlo). What remains infeasible (an empty interval; litter or DOC over the density cap)
still returns ``feasible = False`` from the model and ``-inf`` from the log density.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from socmodels import compas, layers
from socmodels.processes import MAX_CARBON_DENSITY, SitePrep, litter_steady_state

__all__ = ["FeasibleMap", "feasible_theta", "feasible_ranges", "input_composition", "IDX_DEATH",
           "IDX_S4"]

_NAMES = compas.PARAMETERS.names
IDX_DEATH = _NAMES.index("tau4s2_death")
IDX_S4 = _NAMES.index("tau4s4")
_IDX = {n: i for i, n in enumerate(_NAMES)}
_DZ = jnp.asarray(layers.dz)
_BISECTIONS = 60


class FeasibleMap(NamedTuple):
    """Result of :func:`feasible_theta` (one site; batched under ``vmap``).

    Attributes:
        theta: (23,) physical parameters (``tau4s2_death`` and ``tau4s4`` inside their
            feasible intervals).
        log_volume: log of the product of the two intervals' widths relative to their prior
            widths (<= 0); ``-inf`` if an interval is empty.
        death_range: (2,) feasible ``(lower, upper)`` of ``tau4s2_death`` (yr).
        s4_range: (2,) feasible ``(lower, upper)`` of ``tau4s4`` (yr) given ``tau4s2_death``.
        nonempty: True if both intervals are non-empty.
    """

    theta: jnp.ndarray
    log_volume: jnp.ndarray
    death_range: jnp.ndarray
    s4_range: jnp.ndarray
    nonempty: jnp.ndarray


def input_composition(theta, prep: SitePrep):
    """Rates, litter pools and soil inputs (none depends on ``tau4s2_death``/``tau4s4``).

    Returns:
        ``(r, lit, i_doc, i_mic, i_soc)`` as in ``compas._solve``.
    """
    r = compas.rates(theta, prep)
    lit, _ = litter_steady_state(prep, r.cwd, r.l1, r.l23, theta[_IDX["fcwdl2"]],
                                 r.l, r.u, r.fin)
    i_doc, i_mic, i_soc, _ = compas.soil_fluxes(theta, r, lit)
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
    cue, p = theta[_IDX["mic_cue"]], theta[_IDX["pdeath2soc"]]
    k_loss = r.k_dth + r.k_enz
    mic = (i_mic + cue * (i_soc + i_doc)) / ((1 - cue) * k_loss)
    enz = r.k_enz / r.k_e * mic
    doc_num = k_loss * mic - i_mic
    doc_den = (cue * r.k_up - k_loss) * mic + i_mic
    doc = compas._safe_ratio(doc_num * r.Ka, doc_den)
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


def _mic_rule_lower_bound(a, d, kd, need, t_hi):
    """Smallest tau4s4 in (0, t_hi) with column SOC >= need (monotone: bisection).

    The bisection runs without gradients; one implicit-function step restores the
    derivative with respect to the other parameters (d t / d x = -F_x / F_t).
    """
    sa, sd, skd, sneed, shi = (lax.stop_gradient(v) for v in (a, d, kd, need, t_hi))
    hi0 = jnp.where(jnp.isfinite(shi) & (shi > 0), shi, 1.0)

    def body(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        above = _column_soc(mid, sa, sd, skd) >= sneed
        return jnp.where(above, lo, mid), jnp.where(above, mid, hi)

    _, t_star = lax.fori_loop(0, _BISECTIONS, body, (jnp.zeros_like(hi0), hi0))
    t_star = lax.stop_gradient(t_star)
    f = _column_soc(t_star, a, d, kd) - need
    f_t = jax.grad(_column_soc)(t_star, sa, sd, skd)
    f_t = jnp.where(f_t > 0, f_t, 1.0)
    t = t_star - (f - lax.stop_gradient(f)) / lax.stop_gradient(f_t)
    return jnp.where(need > 0, t, 0.0)


def _ranges(theta, u_death, prep: SitePrep, max_mic_fraction: float):
    """theta with tau4s2_death placed by ``u_death`` (None: keep theta's), both ranges."""
    params = compas.PARAMETERS
    lo, hi = jnp.asarray(params.lower), jnp.asarray(params.upper)
    r, lit, i_doc, i_mic, i_soc = input_composition(theta, prep)
    has_input = (i_doc + i_mic + i_soc) > 0
    d_lo = jnp.maximum(_death_lower_bound(theta, i_doc, i_mic, i_soc, has_input),
                       lo[IDX_DEATH])
    d_hi = hi[IDX_DEATH]
    d_ok = d_lo < d_hi
    if u_death is not None:
        d_lo_s = jnp.where(d_ok, d_lo, lo[IDX_DEATH])
        theta = theta.at[IDX_DEATH].set(d_lo_s + u_death * (d_hi - d_lo_s))
    r = compas.rates(theta, prep)  # tau4s2_death enters k_dth only; litter is unchanged
    a, d, kd, t_hi, need, doc_ok = _s4_terms(theta, r, lit, i_doc, i_mic, i_soc,
                                             max_mic_fraction)
    s_hi = jnp.minimum(t_hi, hi[IDX_S4])
    s_lo = jnp.maximum(_mic_rule_lower_bound(a, d, kd, need, s_hi), lo[IDX_S4])
    s_ok = (s_lo < s_hi) & doc_ok
    return theta, jnp.stack([d_lo, d_hi]), jnp.stack([s_lo, s_hi]), d_ok, s_ok


def feasible_ranges(theta, prep: SitePrep, *,
                    max_mic_fraction: float = compas.MAX_MIC_FRACTION):
    """Feasible intervals of ``tau4s2_death`` (given the others) and of ``tau4s4`` (given
    the others including theta's own ``tau4s2_death``), each (2,) ``(lower, upper)``.

    ``theta`` is feasible for the four mapped conditions iff it lies inside both.
    """
    _, death, s4, _, _ = _ranges(jnp.asarray(theta), None, prep, max_mic_fraction)
    return death, s4


def feasible_theta(u, prep: SitePrep, *,
                   max_mic_fraction: float = compas.MAX_MIC_FRACTION) -> FeasibleMap:
    """Physical COMPAS parameters from ``u`` with the two walls mapped onto the box.

    Args:
        u: (23,) values in (0, 1); ``u[IDX_DEATH]`` and ``u[IDX_S4]`` are positions inside
            the feasible intervals of ``tau4s2_death`` and ``tau4s4`` (see module docstring).
        prep: ``compas.prepare(forcing)`` of the site.
        max_mic_fraction: the MIC rule's bound (as ``compas.steady_state``).

    Returns:
        :class:`FeasibleMap`. Add ``log_volume`` to the log density (it makes the prior the
        uniform prior restricted to the feasible set); evaluate the model at ``theta``.
    """
    params = compas.PARAMETERS
    lo, hi = jnp.asarray(params.lower), jnp.asarray(params.upper)
    u = jnp.asarray(u)
    theta, death, s4, d_ok, s_ok = _ranges(params.to_physical(u), u[IDX_DEATH], prep,
                                           max_mic_fraction)
    s_lo_s = jnp.where(s_ok, s4[0], lo[IDX_S4])
    s_hi_s = jnp.where(s_ok, s4[1], hi[IDX_S4])
    theta = theta.at[IDX_S4].set(s_lo_s + u[IDX_S4] * (s_hi_s - s_lo_s))
    nonempty = d_ok & s_ok
    d_lo_s = jnp.where(d_ok, death[0], lo[IDX_DEATH])
    width = lambda a_, b_, i: jnp.log((b_ - a_) / (hi[i] - lo[i]))  # noqa: E731
    log_volume = jnp.where(nonempty, width(d_lo_s, death[1], IDX_DEATH)
                           + width(s_lo_s, s_hi_s, IDX_S4), -jnp.inf)
    return FeasibleMap(theta, log_volume, death, s4, nonempty)

"""The COMPAS site log density in the feasible-box parameterization.

The position ``x`` (d,) is the logit of ``v in (0, 1)^d``; ``v`` maps to physical parameters
by :func:`socmodels.compas_feasible.feasible_theta` (``tau4s2_death`` and ``tau4s4`` fill
their feasible intervals given the other parameters). With the log-Jacobian of the logit
and the map's ``log_volume``, the prior this density implies on ``theta`` is the uniform
prior restricted to the feasible set, so the posterior is the same as that of
:func:`inference.models.log_density` (whose prior is the uniform box, with ``-inf`` on the
infeasible part): only the sampler's geometry changes. Report results through
:func:`physical` (never read ``sigmoid(x)`` as the unit-cube ``u``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from inference.likelihoods import Likelihood, lognormal
from inference.models import SitePrediction, predict
from inference.sites import SiteData
from socmodels import compas
from socmodels.compas_feasible import feasible_theta

__all__ = ["MODEL", "log_density_feasible", "physical", "unit"]

MODEL = compas
"""The soil model this parameterization is for."""


def _log_jacobian_logit(x):
    return -jnp.sum(jax.nn.softplus(x) + jax.nn.softplus(-x))


def physical(position, site: SiteData):
    """Physical COMPAS parameters (23,) of a position of the feasible-box space."""
    return feasible_theta(jax.nn.sigmoid(jnp.asarray(position)), site.prepared).theta


def unit(position, site: SiteData):
    """The usual unit-cube values ``u`` (the prior box) of a feasible-box position."""
    return compas.PARAMETERS.to_unit(physical(position, site))


def log_density_feasible(position, site: SiteData, *, likelihood: Likelihood | None = None):
    """Log posterior density (up to a constant) of one COMPAS site in the feasible-box space.

    Args:
        position: (23,) logit of the feasible-box coordinates.
        site: the site's :class:`~inference.sites.SiteData` (``prepared`` from
            ``compas.prepare``).
        likelihood: default ``lognormal()``.

    Returns:
        ``(logdensity, SitePrediction)``; ``-inf`` where an interval is empty or the state is
        still infeasible (density cap on litter/DOC, non-finite).
    """
    likelihood = lognormal() if likelihood is None else likelihood
    x = jnp.asarray(position)
    fm = feasible_theta(jax.nn.sigmoid(x), site.prepared)
    pred, ok = predict(fm.theta, site, compas, likelihood)
    ok = ok & fm.nonempty
    mask = jnp.asarray(site.mask, bool)
    safe_pred = jnp.where(ok & mask, pred, site.obs)  # as inference.models.log_density
    ll = likelihood.pointwise(safe_pred, site.obs, mask, site.weight)
    safe_volume = jnp.where(ok, fm.log_volume, 0.0)
    total = jnp.where(ok, jnp.sum(ll) + _log_jacobian_logit(x) + safe_volume, -jnp.inf)
    return total, SitePrediction(pred, ll)

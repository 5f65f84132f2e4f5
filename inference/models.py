"""The statistical model of one soil profile, as a pure log density and as a NumPyro model.

For parameters :math:`u \\in (0, 1)^d` (the unit cube of the model's ``PARAMETERS``; the
prior is uniform on it, i.e. uniform on the physical bounds):

.. math::

    \\theta = \\theta_{lo} + u\\,(\\theta_{hi} - \\theta_{lo}),\\qquad
    X^*(\\theta) = \\text{steady state},\\qquad
    m_i = \\operatorname{pchip}(X^*_{soc})(z_i),\\qquad
    \\log p(u \\mid o) = \\sum_i \\log p(o_i \\mid m_i) + \\text{const}.

Three sampler spaces are offered: ``"unit"`` (the position is ``u``; the log prior is 0
inside the cube and ``-inf`` outside, so a random walk simply rejects proposals that leave
it), ``"logit"`` (the position is ``logit(u)``; the log prior is the log-Jacobian
:math:`\\sum_k \\log\\sigma(x_k) + \\log\\sigma(-x_k)`; this is NumPyro's unconstrained space,
used by NUTS) and ``"feasible"`` (models with the ``feasible_parameters`` capability: the
position is ``logit(v)``, ``theta`` the model's map of ``v`` into its feasible set, and the
log prior the logit log-Jacobian plus the map's ``log_volume``, so the implied prior on
``theta`` is the uniform prior restricted to the feasible set and the posterior is the same
as in the other spaces; only the sampler's geometry changes). Results are always reported
in physical units; :func:`position_to_unit` gives the unit cube ``u`` of a position.

Infeasible steady states (the model's ``feasible`` flag), non-finite predictions at an
observed depth, and (for ``lognormal``) non-positive predictions give a log density of
``-inf``: such a point is never accepted. Unlike PRODA (Q2, Q13) there is no soft penalty.
"""

from __future__ import annotations

import functools
import inspect
from types import ModuleType
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from jax import random

from inference.likelihoods import Likelihood, lognormal
from inference.sites import SiteData
from socmodels.contract import has_capability, resolve_model
from socmodels.observation import observe

__all__ = ["SPACES", "SITE_FREE_SPACES", "REJECTION_BITS", "SitePrediction", "resolve_model",
           "log_density", "predict", "to_unit", "from_unit", "position_to_unit", "check_space",
           "site_model", "ProfileObservation"]

SPACES = ("unit", "logit", "feasible")
"""Sampler spaces (see the module docstring)."""
SITE_FREE_SPACES = ("unit", "logit")
"""The spaces whose positions map to the unit cube without the site (:func:`to_unit`)."""
FEASIBLE_CAPABILITY = "feasible_parameters"
"""The optional model member the ``"feasible"`` space needs (``socmodels.contract``)."""


class SitePrediction(NamedTuple):
    """Auxiliary output of :func:`log_density`.

    Attributes:
        soc: (L,) predicted SOC density at the observation depths [gC m-3].
        log_likelihood: (L,) pointwise log-likelihood (0 on padding layers).
    """

    soc: Any
    log_likelihood: Any
    status: Any = 0
    """() int32 bit mask: why the point is rejected (0: usable; see :data:`REJECTION_BITS`)."""


REJECTION_BITS = {"nonfinite": 1, "negative": 2, "density_cap": 4, "no_positive_root": 8,
                  "mic_fraction": 16, "infeasible_other": 128, "prediction": 256,
                  "outside_prior": 512, "empty_interval": 1024}
"""Rejection reasons: the model's ``socmodels.Failure`` bits (1-16), an infeasible state
whose model gives no reason (128), a prediction the likelihood cannot use at an observed
depth (256: non-finite, or <= 0 for ``lognormal``), a point outside the prior box (512) and,
in the ``"feasible"`` space, a point whose feasible interval is empty (1024)."""


def _model_status(ss) -> jnp.ndarray:
    """The steady state's failure bits (``SteadyState.status``, :class:`socmodels.Failure`);
    an infeasible state that names no reason gets ``infeasible_other``."""
    status = jnp.asarray(ss.status, jnp.int32)
    unnamed = jnp.logical_and(status == 0, ~jnp.all(jnp.asarray(ss.feasible)))
    return jnp.where(unnamed, REJECTION_BITS["infeasible_other"], status).astype(jnp.int32)


@functools.lru_cache(maxsize=None)
def _steady_state_fn(module: ModuleType):
    fn = module.steady_state
    try:
        if "check_bounds" in inspect.signature(fn).parameters:
            # The sampler keeps u inside the cube itself; eager bound checks would only fail
            # on the boundary values that numerical clipping can produce.
            return functools.partial(fn, check_bounds=False)
    except (TypeError, ValueError):
        pass
    return fn


def check_space(space: str, model: Any = None) -> None:
    """Raise a ValueError for an unknown space, or for ``"feasible"`` with a model (name or
    object; None: not checked) that lacks the ``feasible_parameters`` capability."""
    if space not in SPACES:
        raise ValueError(f"unknown space {space!r}; choose one of {SPACES}")
    if space == "feasible" and model is not None:
        module = resolve_model(model)
        if not has_capability(module, FEASIBLE_CAPABILITY):
            name = getattr(module, "NAME", repr(module))
            raise ValueError(f"model {name} has no '{FEASIBLE_CAPABILITY}' capability, so it"
                             f" cannot be sampled in space 'feasible'; choose one of"
                             f" {SITE_FREE_SPACES}")


def _check_site_free(space: str, what: str) -> None:
    check_space(space)
    if space not in SITE_FREE_SPACES:
        raise ValueError(f"{what}: space {space!r} maps to the unit cube through the site;"
                         " use position_to_unit(position, site, model, space)")


def to_unit(position, space: str):
    """Sampler-space position -> unit-cube ``u`` (site-free spaces ``"unit"``, ``"logit"``)."""
    _check_site_free(space, "to_unit")
    return position if space == "unit" else jax.nn.sigmoid(position)


def from_unit(u, space: str):
    """Unit-cube ``u`` -> sampler-space position (site-free spaces ``"unit"``, ``"logit"``)."""
    _check_site_free(space, "from_unit")
    return u if space == "unit" else jnp.log(u) - jnp.log1p(-u)


def _feasible_map(x, site: SiteData, module):
    """The model's feasible map at ``v = sigmoid(x)`` (space ``"feasible"``)."""
    return getattr(module, FEASIBLE_CAPABILITY)(jax.nn.sigmoid(x), site.prepared)


def position_to_unit(position, site: SiteData, model: str | ModuleType, space: str):
    """Sampler-space position (d,) of one site -> the unit cube ``u`` (d,) of the prior box.

    For ``"unit"`` and ``"logit"`` this is :func:`to_unit`; for ``"feasible"`` it is
    ``PARAMETERS.to_unit(theta)`` of the model's feasible map (never ``sigmoid(x)``).

    Raises:
        ValueError: unknown space, or ``"feasible"`` for a model without the capability.
    """
    check_space(space, model)
    if space in SITE_FREE_SPACES:
        return to_unit(position, space)
    module = resolve_model(model)
    return module.PARAMETERS.to_unit(_feasible_map(jnp.asarray(position), site, module).theta)


def _log_prior(position, space: str):
    """Log prior of the site-free coordinates (``"feasible"``: its logit part)."""
    if space == "unit":
        inside = jnp.all((position > 0.0) & (position < 1.0))
        return jnp.where(inside, 0.0, -jnp.inf)
    return -jnp.sum(jax.nn.softplus(position) + jax.nn.softplus(-position))


def predict(theta, site: SiteData, model: ModuleType, likelihood: Likelihood):
    """Predictions at the observed depths and whether they are usable.

    Returns:
        (pred (L,), ok ()):
            ``ok`` is False for an infeasible steady state, a non-finite prediction at a valid
            layer, or (``lognormal``) a prediction <= 0 at a valid layer.
    """
    pred, ok, _ = _predict_with_status(theta, site, model, likelihood)
    return pred, ok


def _predict_with_status(theta, site: SiteData, model: ModuleType, likelihood: Likelihood,
                         steady_state=None):
    """:func:`predict` and the rejection bits of the point (``steady_state``: the model's
    state at ``theta`` if already known, e.g. from its feasible map)."""
    ss = _steady_state_fn(model)(theta, site.prepared) if steady_state is None else steady_state
    pred = observe(ss.soc, site.depth)
    mask = jnp.asarray(site.mask, bool)
    good = jnp.isfinite(pred)
    if likelihood.positive_predictions:
        good = good & (pred > 0)
    usable = jnp.all(good | ~mask)
    ok = jnp.all(jnp.asarray(ss.feasible)) & usable
    status = _model_status(ss) | jnp.where(
        usable, 0, REJECTION_BITS["prediction"]).astype(jnp.int32)
    return pred, ok, status


def log_density(position, site: SiteData, *, model: str | ModuleType,
                likelihood: Likelihood | None = None, space: str = "unit"):
    """Log posterior density (up to a constant) of one site, and its predictions.

    Args:
        position ((d,)):
            Point in the sampler space (``u`` for ``"unit"``, ``logit(u)`` for ``"logit"``,
            ``logit(v)`` for ``"feasible"``).
        site: SiteData
        model: str or module
        likelihood: Likelihood, default ``lognormal()``
        space: {"unit", "logit", "feasible"} (``"feasible"`` needs the model's
            ``feasible_parameters``; log prior = logit log-Jacobian + ``log_volume``)

    Returns:
        (logdensity (), SitePrediction):
            ``-inf`` outside the prior box, where a feasible interval is empty, or for an
            infeasible/non-finite state.

    Raises:
        ValueError: unknown space, or ``"feasible"`` for a model without the capability.
    """
    check_space(space, model)
    module = resolve_model(model)
    likelihood = lognormal() if likelihood is None else likelihood
    params = module.PARAMETERS
    x = jnp.asarray(position)
    if space == "feasible":
        fm = _feasible_map(x, site, module)
        theta = fm.theta
        # implied prior on theta: uniform box restricted to the feasible set
        lp_prior = _log_prior(x, "logit") + jnp.where(fm.nonempty, fm.log_volume, -jnp.inf)
    else:
        lp_prior = _log_prior(x, space)
        u = to_unit(x, space)
        if space == "unit":
            u = jnp.clip(u, 1e-12, 1.0 - 1e-12)  # model evaluated anyway under vmap; keep finite
        theta = params.to_physical(u)
    known = fm.steady_state if space == "feasible" else None
    pred, ok, status = _predict_with_status(theta, site, module, likelihood, known)
    mask = jnp.asarray(site.mask, bool)
    safe_pred = jnp.where(ok & mask, pred, site.obs)  # no NaN flows into the likelihood or grad
    ll = likelihood.pointwise(safe_pred, site.obs, mask, site.weight)
    total = jnp.where(ok & jnp.isfinite(lp_prior), jnp.sum(ll) + lp_prior, -jnp.inf)
    status = status | jnp.where(jnp.isfinite(lp_prior), 0,
                                REJECTION_BITS["outside_prior"]).astype(jnp.int32)
    if space == "feasible":  # the model ran at a stand-in theta: only the empty interval counts
        status = jnp.where(fm.nonempty, status,
                           REJECTION_BITS["empty_interval"]).astype(jnp.int32)
    return total, SitePrediction(pred, ll, status)


class ProfileObservation(dist.Distribution):
    """Distribution of a profile's observations given predictions (one per layer).

    ``log_prob`` is the likelihood's pointwise log density, ``-inf`` everywhere when the
    steady state is not usable (``ok`` False); ``sample`` draws posterior-predictive
    observations. Batch shape ``(L,)``; combine with ``.mask(site.mask)``.
    """

    arg_constraints: dict = {}
    support = dist.constraints.real
    pytree_data_fields = ("pred", "ok", "obs", "mask", "weight")
    pytree_aux_fields = ("likelihood",)

    def __init__(self, pred, ok, obs, mask, weight, likelihood: Likelihood, *,
                 validate_args=None):
        self.pred, self.ok, self.obs, self.mask, self.weight = pred, ok, obs, mask, weight
        self.likelihood = likelihood
        super().__init__(batch_shape=jnp.shape(pred), validate_args=validate_args)

    def log_prob(self, value):
        mask = jnp.asarray(self.mask, bool)
        pred = jnp.where(self.ok & mask, self.pred, value)
        ll = self.likelihood.pointwise(pred, value, mask, self.weight)
        return jnp.where(self.ok, ll, -jnp.inf)

    def sample(self, key, sample_shape=()):
        n = int(jnp.prod(jnp.asarray(sample_shape))) if sample_shape else 1
        keys = random.split(key, n)
        draws = jax.vmap(lambda k: self.likelihood.sample(k, self.pred, self.obs, self.mask))(keys)
        return draws.reshape(tuple(sample_shape) + self.batch_shape)


def site_model(site: SiteData, *, soil_model: str | ModuleType = "clm5",
               likelihood: Likelihood | None = None, observed: bool = True) -> None:
    """NumPyro model of one site (use with ``NUTS`` or :class:`AdaptiveMetropolis`).

    Sample sites: one per parameter, named as in ``PARAMETERS`` (e.g. ``q10``), in physical
    units with the model's prior (uniform on the bounds, log-uniform for ``scale="log"``),
    so that ``arviz.from_numpyro(mcmc)`` names the parameters with no extra arguments;
    deterministic ``theta`` (d,) and ``u`` (d,) (the same values as one vector, physical and
    in the unit cube) and ``soc_pred`` (predictions at the observed depths); observed
    ``soc`` (L,), masked to the valid layers, so that ``numpyro.infer.log_likelihood``
    returns the pointwise log-likelihood per layer. For uniform priors NumPyro's
    unconstrained value of a parameter is ``logit(u)``, the runner's ``"logit"`` space.

    Args:
        site (SiteData): From :func:`inference.make_site` (or one row of a batched run).
        soil_model (str or module):
            A registered model name (``socmodels.MODELS``) or a model object. (Not ``model``: that
            name is taken by NumPyro utilities such as ``numpyro.infer.log_likelihood``.)
        likelihood: Likelihood, default ``lognormal()``
        observed (bool):
            False leaves ``soc`` unobserved (prior/posterior predictive with ``Predictive``).
    """
    module = resolve_model(soil_model)
    likelihood = lognormal() if likelihood is None else likelihood
    params = module.PARAMETERS
    theta = jnp.stack([numpyro.sample(p.name, dist.LogUniform(p.lower, p.upper)
                                      if p.scale == "log" else dist.Uniform(p.lower, p.upper))
                       for p in params])
    numpyro.deterministic("theta", theta)
    numpyro.deterministic("u", params.to_unit(theta))
    pred, ok = predict(theta, site, module, likelihood)
    numpyro.deterministic("soc_pred", pred)
    obs_dist = ProfileObservation(pred, ok, site.obs, site.mask, site.weight, likelihood)
    numpyro.sample("soc", dist.MaskedDistribution(obs_dist, jnp.asarray(site.mask, bool)),
                   obs=site.obs if observed else None)

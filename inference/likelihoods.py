"""Observation models for soil-carbon profiles: small, composable, comparable.

A :class:`Likelihood` turns model predictions ``m`` at the observed depths into a
pointwise log-likelihood ``log p(o_i | m_i)`` per layer (needed for PSIS-LOO) and can draw
posterior-predictive observations. Three are offered:

``lognormal(sigma)`` (default)
    Multiplicative error, the same for both models so that CLM5 and COMPAS posteriors and
    predictive scores are on equal terms:

    .. math:: \\log o_i \\sim \\mathcal N(\\log m_i, \\sigma^2), \\qquad
              \\log p(o_i\\mid m_i) = -\\tfrac12 z_i^2 - \\log\\sigma
              - \\tfrac12\\log 2\\pi - \\log o_i, \\quad z_i = (\\log o_i - \\log m_i)/\\sigma .

    The default ``sigma = sqrt(log(1 + 0.6^2)) = 0.555`` gives the same coefficient of
    variation (60 %) as the CLM5 original. Non-positive predictions are infeasible.

``gaussian_relative(r=0.6, layer_weights=False)``
    The CLM5 original (``docs/original_code.md`` section 2.9): :math:`\\sigma_i = r\\,o_i`,

    .. math:: \\log p(o_i\\mid m_i) = -w_i \\frac{(m_i - o_i)^2}{2 (r o_i)^2}
              - \\log(r o_i) - \\tfrac12 \\log 2\\pi,

    optionally with the rank-based layer weights :math:`w_i` of :func:`layer_weights`
    (``w = 1`` otherwise). The original omits the constant :math:`-\\log(r o_i)` term, which
    does not change the posterior; it is kept here so the values are proper log densities
    (with ``w != 1`` they are not).

``nse(factor=5)``
    The COMPAS original, cost ``J = 5 (1 - NSE)`` (section 3.8), i.e. ``log L = -J``. Since
    :math:`5\\,\\sum (m_i-o_i)^2 / V = \\sum (m_i-o_i)^2 / (2\\sigma^2)` with
    :math:`V = \\sum (o_i - \\bar o)^2` and :math:`\\sigma^2 = V / (2 \\cdot 5)`, this is a
    homoscedastic Gaussian with a data-determined variance; the pointwise values use that
    Gaussian (so they include :math:`-\\log\\sigma - \\tfrac12\\log 2\\pi`, a constant) and
    predictive draws are :math:`m_i + \\sigma\\,\\varepsilon`. Needs >= 2 layers with
    different values.

Likelihoods are frozen, hashable values (a kind and its options), so they can be static
arguments of ``jit`` and saved in a run's configuration.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import random

__all__ = ["Likelihood", "lognormal", "gaussian_relative", "nse", "get_likelihood",
           "layer_weights", "LIKELIHOODS", "DEFAULT_LOGNORMAL_SIGMA"]

DEFAULT_LOGNORMAL_SIGMA = math.sqrt(math.log(1.0 + 0.6**2))
"""Log-scale sd with a 60 % coefficient of variation, matching the CLM5 original's r = 0.6."""

_LOG_2PI = math.log(2.0 * math.pi)


def _valid_variance(obs, mask):
    n = jnp.maximum(jnp.sum(mask), 1)
    mean = jnp.sum(jnp.where(mask, obs, 0.0)) / n
    return jnp.sum(jnp.where(mask, (obs - mean) ** 2, 0.0))


def _lognormal_pointwise(pred, obs, mask, weight, *, sigma):
    z = (jnp.log(obs) - jnp.log(pred)) / sigma
    return -0.5 * z**2 - math.log(sigma) - 0.5 * _LOG_2PI - jnp.log(obs)


def _lognormal_sample(key, pred, obs, mask, *, sigma):
    return jnp.exp(jnp.log(pred) + sigma * random.normal(key, pred.shape, pred.dtype))


def _gaussian_relative_pointwise(pred, obs, mask, weight, *, r, layer_weights):
    s = r * obs
    return -weight * (pred - obs) ** 2 / (2.0 * s**2) - jnp.log(s) - 0.5 * _LOG_2PI


def _gaussian_relative_sample(key, pred, obs, mask, *, r, layer_weights):
    return pred + r * obs * random.normal(key, pred.shape, pred.dtype)


def _nse_sigma(obs, mask, factor):
    return jnp.sqrt(_valid_variance(obs, mask) / (2.0 * factor))


def _nse_pointwise(pred, obs, mask, weight, *, factor):
    sigma = _nse_sigma(obs, mask, factor)
    return -0.5 * ((pred - obs) / sigma) ** 2 - jnp.log(sigma) - 0.5 * _LOG_2PI


def _nse_sample(key, pred, obs, mask, *, factor):
    return pred + _nse_sigma(obs, mask, factor) * random.normal(key, pred.shape, pred.dtype)


# kind -> (pointwise, sample, minimum valid layers, needs positive predictions)
LIKELIHOODS: dict[str, tuple[Any, Any, int, bool]] = {
    "lognormal": (_lognormal_pointwise, _lognormal_sample, 1, True),
    "gaussian_relative": (_gaussian_relative_pointwise, _gaussian_relative_sample, 1, False),
    "nse": (_nse_pointwise, _nse_sample, 2, False),
}


@dataclasses.dataclass(frozen=True)
class Likelihood:
    """An observation model: a kind (key of :data:`LIKELIHOODS`) and its options.

    Build with :func:`lognormal`, :func:`gaussian_relative` or :func:`nse`.
    """

    kind: str
    options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood '{self.kind}'; choose one of"
                             f" {sorted(LIKELIHOODS)}")

    @property
    def min_layers(self) -> int:
        """Fewest valid layers a profile needs."""
        return LIKELIHOODS[self.kind][2]

    @property
    def positive_predictions(self) -> bool:
        """Whether predictions <= 0 are infeasible (log of the prediction is taken)."""
        return LIKELIHOODS[self.kind][3]

    @property
    def uses_layer_weights(self) -> bool:
        return dict(self.options).get("layer_weights", False)

    def pointwise(self, pred, obs, mask, weight=None):
        """Pointwise log-likelihood (L,); 0 on layers where ``mask`` is False.

        ``pred`` must be finite (and positive for ``lognormal``) on masked-in layers; the
        caller maps infeasible states to ``-inf`` (see :func:`inference.log_density`).
        """
        pred = jnp.asarray(pred)
        obs = jnp.asarray(obs)
        mask = jnp.asarray(mask, bool)
        weight = jnp.ones_like(obs) if weight is None else jnp.asarray(weight)
        safe_obs = jnp.where(mask, obs, 1.0)
        safe_pred = jnp.where(mask, pred, 1.0)
        ll = LIKELIHOODS[self.kind][0](safe_pred, safe_obs, mask, weight, **dict(self.options))
        return jnp.where(mask, ll, 0.0)

    def sample(self, rng_key, pred, obs, mask):
        """Posterior-predictive observations at the observed layers (L,)."""
        mask = jnp.asarray(mask, bool)
        safe_obs = jnp.where(mask, obs, 1.0)
        safe_pred = jnp.where(mask, pred, 1.0)
        y = LIKELIHOODS[self.kind][1](rng_key, safe_pred, safe_obs, mask, **dict(self.options))
        return jnp.where(mask, y, jnp.nan)

    def to_dict(self) -> dict:
        return {"kind": self.kind, **dict(self.options)}

    def __str__(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.options)
        return f"{self.kind}({opts})"


def lognormal(sigma: float = DEFAULT_LOGNORMAL_SIGMA) -> Likelihood:
    """Multiplicative (log-normal) error with log-scale sd ``sigma`` (default 0.555)."""
    if not sigma > 0:
        raise ValueError("sigma must be positive")
    return Likelihood("lognormal", (("sigma", float(sigma)),))


def gaussian_relative(r: float = 0.6, *, layer_weights: bool = False) -> Likelihood:
    """Gaussian with sd ``r * obs`` (the CLM5 original: r = 0.6, optional layer weights)."""
    if not r > 0:
        raise ValueError("r must be positive")
    return Likelihood("gaussian_relative",
                      (("r", float(r)), ("layer_weights", bool(layer_weights))))


def nse(factor: float = 5.0) -> Likelihood:
    """The COMPAS original: log-likelihood ``-factor * (1 - NSE)`` (factor 5)."""
    if not factor > 0:
        raise ValueError("factor must be positive")
    return Likelihood("nse", (("factor", float(factor)),))


_FACTORIES = {"lognormal": lognormal, "gaussian_relative": gaussian_relative, "nse": nse}


def get_likelihood(spec: str | dict | Likelihood) -> Likelihood:
    """A :class:`Likelihood` from itself, its name, or its :meth:`Likelihood.to_dict`."""
    if isinstance(spec, Likelihood):
        return spec
    if isinstance(spec, str):
        if spec not in _FACTORIES:
            raise ValueError(f"unknown likelihood '{spec}'; choose one of {sorted(_FACTORIES)}")
        return _FACTORIES[spec]()
    if isinstance(spec, dict):
        spec = dict(spec)
        kind = spec.pop("kind")
        return _FACTORIES[kind](**spec)
    raise TypeError(f"cannot make a likelihood from {type(spec).__name__}")


def layer_weights(obs, depth) -> np.ndarray:
    """PRODA's rank-based layer weights (``docs/original_code.md`` section 2.9).

    ``r_obs`` ranks ``|o_i - mean(o)|`` in descending order (1 = largest; ties by original
    order), ``r_depth`` likewise for ``|z_i - mean(z)|``; ``r = (r_obs + r_depth) / 2`` and
    ``w_i = max(1, 10 exp(-(r_i - 1)))``: the layers farthest from the profile's mean value
    and mean depth get up to 10 times the weight.

    Args:
        obs, depth (array (n,)): Valid layers of one profile only.

    Example:
        >>> layer_weights([30000, 20000, 15000, 10000, 5000], [0.05, 0.15, 0.3, 0.5, 0.8]).round(3)
        array([6.065, 1.   , 1.   , 1.   , 6.065])
    """
    o = np.asarray(obs, float)
    z = np.asarray(depth, float)

    def ranks(v):
        order = np.argsort(-np.abs(v - v.mean()), kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(1, len(v) + 1)
        return r

    r = 0.5 * (ranks(o) + ranks(z))
    return np.maximum(1.0, 10.0 * np.exp(-(r - 1.0)))

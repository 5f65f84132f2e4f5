"""Loss functions for the covariate -> parameter network (PRODA, Tao et al. 2024 §2.6).

Every loss has the signature ``loss(y_true, y_pred, weights=None) -> scalar`` with
``y_true``/``y_pred`` of shape ``(n, d)`` (samples x parameters, unit-cube space) and an
optional per-sample weight vector ``weights`` of shape ``(n,)``. Means run over all
samples *and* outputs, as in the Keras ``joint_loss`` of the original scripts
(``docs/original_code.md`` §6.3). Weights let a padded minibatch (weight 0 on padding rows)
give exactly the same value as the unpadded, smaller batch that Keras would use.

Losses are small pure functions combined by :func:`scaled` and :func:`product`, so a new
loss is one new function, not a new flag (``STYLE.md`` §2.6). :data:`LOSSES` names the
three used in practice:

``"product"``
    The paper's "L1 x L2" loss, ``(500 MSE) x (25 MARE)`` (PRODA_PUBLIC CLM5 scripts).
``"mse500"``
    ``500 MSE`` (PRODA_MIC COMPAS scripts; the product is commented out there, Q17).
``"mse"``
    Plain MSE. The constant factor only rescales the gradient, which Adadelta largely
    normalises away; it is kept selectable so that the original scale can be reproduced.
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp

__all__ = [
    "MARE_FLOOR",
    "LossFn",
    "mse",
    "mare",
    "scaled",
    "product",
    "product_loss",
    "mse500",
    "LOSSES",
    "get_loss",
]

LossFn = Callable[..., jnp.ndarray]

MARE_FLOOR = 1e-4
"""Floor on ``|y_true|`` in the MARE denominator.

The targets are posterior means in the unit cube; grid predictions are clipped at 1e-4
(``docs/original_code.md`` §6.2, Q16), so 1e-4 is the smallest value the pipeline treats as
meaningful. Without a floor a single target near 0 makes MARE (and the product loss)
explode (Q17). With the floor, ``|y - yhat| / max(|y|, 1e-4)`` is unchanged for every
target >= 1e-4.
"""


def _weighted_mean(values: jnp.ndarray, weights: jnp.ndarray | None) -> jnp.ndarray:
    """Mean over all elements of ``values`` (n, d), rows weighted by ``weights`` (n,)."""
    if weights is None:
        return jnp.mean(values)
    w = jnp.asarray(weights, values.dtype)
    per_row = jnp.mean(values, axis=-1)
    return jnp.sum(per_row * w) / jnp.maximum(jnp.sum(w), jnp.finfo(values.dtype).tiny)


def mse(y_true, y_pred, weights=None) -> jnp.ndarray:
    r"""Mean squared error over samples and outputs.

    .. math:: \mathrm{MSE} = \frac{1}{N}\sum_{i=1}^{N} (y_i - \hat y_i)^2

    with ``N`` = samples x outputs (Tao et al. 2024, §2.6).
    """
    y_true = jnp.asarray(y_true)
    y_pred = jnp.asarray(y_pred)
    return _weighted_mean(jnp.square(y_true - y_pred), weights)


def mare(y_true, y_pred, weights=None, *, floor: float = MARE_FLOOR) -> jnp.ndarray:
    r"""Mean absolute relative error ("ratio loss" RL of Tao et al. 2024, §2.6).

    .. math:: \mathrm{MARE} = \frac{1}{N}\sum_{i=1}^{N}
              \frac{|y_i - \hat y_i|}{\max(|y_i|, \epsilon)}

    Args:
        y_true, y_pred (array (n, d)): Targets and predictions (unit-cube parameter space).
        weights (array (n,), optional): Per-sample weights (0 for padding rows).
        floor (float):
            :math:`\epsilon`, see :data:`MARE_FLOOR`. The original divides by ``y`` unguarded.
    """
    y_true = jnp.asarray(y_true)
    y_pred = jnp.asarray(y_pred)
    denom = jnp.maximum(jnp.abs(y_true), floor)
    return _weighted_mean(jnp.abs(y_true - y_pred) / denom, weights)


def scaled(loss: LossFn, factor: float) -> LossFn:
    """Return ``factor * loss``."""

    def _scaled(y_true, y_pred, weights=None):
        return factor * loss(y_true, y_pred, weights)

    _scaled.__name__ = f"{factor:g}*{getattr(loss, '__name__', 'loss')}"
    return _scaled


def product(first: LossFn, second: LossFn) -> LossFn:
    """Return ``first * second`` (each evaluated on the same batch)."""

    def _product(y_true, y_pred, weights=None):
        return first(y_true, y_pred, weights) * second(y_true, y_pred, weights)

    _product.__name__ = (f"({getattr(first, '__name__', 'a')})*"
                         f"({getattr(second, '__name__', 'b')})")
    return _product


product_loss = product(scaled(mse, 500.0), scaled(mare, 25.0))
"""The paper's loss ``(500 MSE) x (25 MARE)`` (PRODA_PUBLIC ``joint_loss``, reference §6.3)."""

mse500 = scaled(mse, 500.0)
"""``500 MSE``, the PRODA_MIC (COMPAS) loss."""

LOSSES: dict[str, LossFn] = {"product": product_loss, "mse500": mse500, "mse": mse}
"""Named losses accepted by :class:`surrogate.train.TrainConfig`."""


def get_loss(name: str) -> LossFn:
    """Look up a loss in :data:`LOSSES` by name (``"product"``, ``"mse500"``, ``"mse"``)."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss '{name}'; choose one of {sorted(LOSSES)}") from None

"""Welford's online mean and covariance as an ``(init, update, final)`` triple.

The adaptive-Metropolis kernel keeps the running covariance of its own history with this
(Haario et al. 2001 use the covariance of all past states); it needs O(d^2) memory however
long the chain is, and one rank-one update per iteration.

.. math::

    n_t = n_{t-1} + 1,\\quad \\delta = x_t - \\bar x_{t-1},\\quad
    \\bar x_t = \\bar x_{t-1} + \\delta / n_t,\\quad
    M_t = M_{t-1} + \\delta (x_t - \\bar x_t)^\\top,\\quad
    \\widehat\\Sigma_t = M_t / (n_t - 1).

References:
    Welford, B. P. (1962). Note on a method for calculating corrected sums of squares and
    products. Technometrics 4(3), 419-420. https://doi.org/10.1080/00401706.1962.10490022
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax.numpy as jnp

__all__ = ["WelfordState", "welford_init", "welford_update", "welford_covariance",
           "welford_algorithm"]


class WelfordState(NamedTuple):
    """Running moments of a stream of vectors.

    Attributes:
        count (Array, ()): Number of vectors seen (float, so that it divides without casts).
        mean (Array, (d,)): Running mean.
        m2 (Array, (d, d)): Sum of outer products of deviations from the running mean.
    """

    count: jnp.ndarray
    mean: jnp.ndarray
    m2: jnp.ndarray


def welford_init(dim: int, dtype=jnp.float64) -> WelfordState:
    """Empty statistics for vectors of length ``dim``."""
    return WelfordState(jnp.zeros((), dtype), jnp.zeros((dim,), dtype),
                        jnp.zeros((dim, dim), dtype))


def welford_update(state: WelfordState, x: jnp.ndarray) -> WelfordState:
    """Add one vector ``x`` (d,) to the statistics."""
    count = state.count + 1.0
    delta = x - state.mean
    mean = state.mean + delta / count
    m2 = state.m2 + jnp.outer(delta, x - mean)
    return WelfordState(count, mean, m2)


def welford_covariance(state: WelfordState, *, ddof: int = 1) -> jnp.ndarray:
    """Symmetrised sample covariance (d, d); zero while fewer than ``ddof + 1`` vectors."""
    denom = jnp.maximum(state.count - ddof, 1.0)
    cov = state.m2 / denom
    return 0.5 * (cov + cov.T)


def welford_algorithm(dim: int) -> tuple[Callable[[], WelfordState],
                                         Callable[[WelfordState, jnp.ndarray], WelfordState],
                                         Callable[[WelfordState], jnp.ndarray]]:
    """The ``(init, update, final)`` triple for vectors of length ``dim``.

    Example:
        >>> init, update, final = welford_algorithm(2)
        >>> s = init()
        >>> for x in jnp.eye(2):
        ...     s = update(s, x)
        >>> final(s).shape
        (2, 2)
    """
    return (lambda: welford_init(dim)), welford_update, welford_covariance

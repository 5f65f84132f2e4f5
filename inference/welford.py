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
    Chan, T. F., Golub, G. H. & LeVeque, R. J. (1979). Updating formulae and a pairwise
    algorithm for computing sample variances. Stanford CS report STAN-CS-79-773.

    Welford, B. P. (1962). Note on a method for calculating corrected sums of squares and
    products. Technometrics 4(3), 419-420. https://doi.org/10.1080/00401706.1962.10490022
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax.numpy as jnp

__all__ = ["WelfordState", "welford_init", "welford_update", "welford_covariance",
           "welford_merge", "welford_of", "welford_algorithm"]


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


def welford_of(x: jnp.ndarray) -> WelfordState:
    """The statistics of a batch of vectors ``x`` (n, d) at once."""
    x = jnp.asarray(x)
    mean = jnp.mean(x, axis=0)
    dev = x - mean
    return WelfordState(jnp.asarray(x.shape[0], x.dtype), mean, dev.T @ dev)


def welford_merge(a: WelfordState, b: WelfordState) -> WelfordState:
    """The statistics of two streams together (Chan, Golub & LeVeque 1979, eq. 2.1).

    Either may be empty (``count`` 0).
    """
    count = a.count + b.count
    delta = b.mean - a.mean
    w = jnp.where(count > 0, b.count / jnp.maximum(count, 1.0), 0.0)
    mean = a.mean + w * delta
    m2 = a.m2 + b.m2 + jnp.outer(delta, delta) * a.count * w
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

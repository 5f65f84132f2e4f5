"""Run until converged: the stopping criterion of :func:`inference.run_sites`.

With ``run_sites(..., convergence=Convergence(...))`` every site is warmed up once and then
drawn in segments of the sampler's ``num_samples`` iterations; after each segment the
criterion is checked on all the site's draws so far and a site that meets it stops (the
others are re-batched and go on) until ``max_segments`` segments are spent. The criterion
is Vehtari et al. (2021)'s: the largest rank-normalized split R-hat over parameters at most
``rhat_max`` and the smallest bulk and tail effective sample sizes at least
``ess_bulk_min`` and ``ess_tail_min`` (default 1.01 / 400 / 400; the paper's R-hat <= 1.05
is ``Convergence(rhat_max=1.05, ess_bulk_min=0, ess_tail_min=0)``).

Draws are held at a common stride: when a site's draws exceed twice ``num_draws`` per chain
the stride doubles (every other draw is dropped), so memory stays bounded by the chunk and
the ESS is that of the thinned chain (slightly conservative). The statistics are ArviZ's
(``arviz_stats``), vectorized over sites and parameters in :mod:`inference.batched_stats`
(the tail ESS at the 5 % and 95 % quantiles); rank-based statistics do not change under
the monotone map from the sampler space to the unit cube or to physical units, so the
criterion reads the same in every space.

References:
    Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. & Buerkner, P.-C. (2021).
    Rank-normalization, folding, and localization: an improved R-hat for assessing
    convergence of MCMC. Bayesian Analysis 16(2), 667-718.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from inference.batched_stats import convergence_statistics

__all__ = ["Convergence", "Diagnostics", "diagnose", "bucket_size"]


@dataclasses.dataclass(frozen=True)
class Convergence:
    """When a site stops drawing.

    Attributes:
        rhat_max: largest rank-normalized split R-hat allowed (over parameters).
        ess_bulk_min: smallest bulk ESS required (over parameters, all chains).
        ess_tail_min: smallest tail ESS required (5 % and 95 % quantiles).
        max_segments: segments of ``num_samples`` iterations at most (the site's budget).

    Raises:
        ValueError: a threshold out of range (on creation).
    """

    rhat_max: float = 1.01
    ess_bulk_min: float = 400.0
    ess_tail_min: float = 400.0
    max_segments: int = 8

    def __post_init__(self) -> None:
        if not (isinstance(self.rhat_max, (int, float)) and self.rhat_max >= 1.0):
            raise ValueError(f"rhat_max must be a number >= 1, got {self.rhat_max!r}")
        for name in ("ess_bulk_min", "ess_tail_min"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v >= 0):
                raise ValueError(f"{name} must be a number >= 0, got {v!r}")
        if isinstance(self.max_segments, bool) or not isinstance(self.max_segments, int) \
                or self.max_segments < 1:
            raise ValueError(f"max_segments must be an integer >= 1, got {self.max_segments!r}")

    def met(self, diagnostics: Diagnostics) -> np.ndarray:
        """(S,) bool: which sites meet the criterion (NaN statistics never do)."""
        d = diagnostics
        with np.errstate(invalid="ignore"):
            return ((d.max_r_hat <= self.rhat_max) & (d.min_ess_bulk >= self.ess_bulk_min)
                    & (d.min_ess_tail >= self.ess_tail_min))

    def to_dict(self) -> dict:
        """JSON-able form (inverse: :meth:`from_dict`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Convergence:
        """A criterion from :meth:`to_dict` output."""
        return cls(**d)


def _max_r_hat(r_hat: np.ndarray) -> np.ndarray:
    """(S,) largest of (S, d) R-hats; +inf where any is undefined (NaN)."""
    r = np.where(np.isfinite(r_hat), r_hat, np.inf)
    return r.max(axis=1) if r.shape[1] else np.full(r.shape[0], np.inf)


class Diagnostics(NamedTuple):
    """Convergence statistics of a batch of sites."""

    r_hat: np.ndarray      # (S, d) rank-normalized split R-hat
    ess_bulk: np.ndarray   # (S, d)
    ess_tail: np.ndarray   # (S, d)

    @property
    def max_r_hat(self) -> np.ndarray:
        """(S,) largest R-hat; +inf where any is undefined (NaN)."""
        return _max_r_hat(self.r_hat)

    @property
    def min_ess_bulk(self) -> np.ndarray:
        """(S,) smallest bulk ESS (NaN counts as 0)."""
        return np.nan_to_num(self.ess_bulk, nan=0.0).min(axis=1)

    @property
    def min_ess_tail(self) -> np.ndarray:
        """(S,) smallest tail ESS (NaN counts as 0)."""
        return np.nan_to_num(self.ess_tail, nan=0.0).min(axis=1)


def diagnose(draws, rhat_max: float | None = None) -> Diagnostics:
    """R-hat and bulk/tail ESS per site and parameter of ``draws`` (S, C, D, d).

    With ``rhat_max``, the ESS is computed only for the sites whose max R-hat is at most
    ``rhat_max`` (NaN for the others, which fail a criterion with that threshold anyway):
    the runner's check after each segment, where R-hat is what usually fails and the ESS
    would be a third of the cost.
    """
    rows = None if rhat_max is None else (lambda r: _max_r_hat(r) <= rhat_max)
    return Diagnostics(*convergence_statistics(np.moveaxis(np.asarray(draws, float), -1, 1),
                                               ess_rows=rows))


def bucket_size(n_active: int, n_full: int) -> int:
    """The batch size that ``n_active`` remaining sites run in: the smallest of
    ``n_full, n_full // 4, n_full // 16, ...`` that holds them, so that at most
    ``log4(n_full)`` shapes are compiled while finished sites stop costing."""
    size = n_full
    while size // 4 >= max(n_active, 1):
        size //= 4
    return size

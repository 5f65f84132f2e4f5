"""Sampler configurations for :func:`inference.run_sites` (small, frozen, JSON-able values).

=====================  =============================================================
``adaptive_metropolis`` Haario AM, s = 2.38^2/d, eps = 1e-8, adaptation frozen after
                        warm-up (35,000 + 35,000 iterations by default: the paper's
                        70,000-iteration budget), in the logit space.
``two_phase``           the paper's schedule with valid AM (unit cube): 20,000 uniform +-0.1 test
                        steps, then 50,000 adaptive Gaussian steps of which the first
                        half is warm-up (adaptation frozen for the kept half).
``proda_compat``        replication aid, **not a valid sampler**: two-phase schedule,
                        annealed acceptance exp(-dJ ln(n + 2)), s = 2.4/d, eps = 0,
                        adaptation never stops (recomputed every iteration after 4,000).
``nuts``                NumPyro's NUTS (diagonal mass matrix, windowed adaptation) in the
                        logit space, 1,000 + 1,000 iterations.
=====================  =============================================================
"""

from __future__ import annotations

import dataclasses
from typing import Any

from inference.models import SPACES

__all__ = ["AMConfig", "NUTSConfig", "adaptive_metropolis", "two_phase", "proda_compat",
           "nuts", "get_sampler", "SAMPLERS"]


@dataclasses.dataclass(frozen=True)
class AMConfig:
    """Adaptive-Metropolis run settings (see :func:`inference.am.build_kernel`).

    ``num_warmup`` includes ``num_test_steps``; adaptation stops at ``num_warmup`` when
    ``freeze_after_warmup``. ``space`` is the sampler space: ``"logit"`` (default;
    NumPyro's unconstrained space, the same as NUTS) or ``"unit"`` (the unit cube, as PRODA).
    Posteriors piled against a prior bound are common in PRODA; in the logit space the
    random walk follows them without rejections at the wall, which gave ~5-10x the ESS per
    iteration of the unit cube on COMPAS test sites (``docs/inference.md``).
    """

    num_warmup: int = 35_000
    num_samples: int = 35_000
    num_test_steps: int = 0
    test_step_size: float = 0.1
    scaling: Any = "haario"
    regularization: float = 1e-8
    adapt_start: int = 1_000
    adapt_every: int = 100
    freeze_after_warmup: bool = True
    acceptance: str = "metropolis"
    target_acceptance: float | None = None
    initial_step_size: float = 0.1
    space: str = "logit"
    name: str = "am"

    kind = "am"

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}")
        if self.num_samples < 1 or self.num_warmup < 0:
            raise ValueError("num_samples must be >= 1 and num_warmup >= 0")
        if self.num_test_steps and self.num_test_steps >= self.num_warmup:
            raise ValueError("num_test_steps must be smaller than num_warmup")
        from inference.am import build_kernel

        build_kernel(**self.kernel_options())  # validates the options

    def kernel_options(self) -> dict:
        return dict(scaling=self.scaling, regularization=self.regularization,
                    adapt_start=self.adapt_start, adapt_every=self.adapt_every,
                    adapt_until=self.num_warmup if self.freeze_after_warmup else None,
                    num_test_steps=self.num_test_steps, test_step_size=self.test_step_size,
                    acceptance=self.acceptance, target_acceptance=self.target_acceptance)

    def to_dict(self) -> dict:
        return {"kind": self.kind, **dataclasses.asdict(self)}


@dataclasses.dataclass(frozen=True)
class NUTSConfig:
    """NumPyro NUTS settings (logit space; windowed step-size and mass-matrix adaptation)."""

    num_warmup: int = 1_000
    num_samples: int = 1_000
    target_accept_prob: float = 0.8
    max_tree_depth: int = 8
    dense_mass: bool = False
    name: str = "nuts"

    kind = "nuts"
    space = "logit"

    def __post_init__(self) -> None:
        if self.num_samples < 1 or self.num_warmup < 1:
            raise ValueError("num_samples and num_warmup must be >= 1")
        if not 0 < self.target_accept_prob < 1:
            raise ValueError("target_accept_prob must be in (0, 1)")

    def to_dict(self) -> dict:
        return {"kind": self.kind, **dataclasses.asdict(self)}


def adaptive_metropolis(**options) -> AMConfig:
    """Haario AM (frozen after warm-up); keyword options as in :class:`AMConfig`."""
    return AMConfig(**options)


def two_phase(num_test: int = 20_000, num_formal: int = 50_000, burn_in: float = 0.5,
              **options) -> AMConfig:
    """The paper's two-phase schedule with a valid AM.

    ``num_test`` uniform +-``test_step_size`` steps (default 0.1, unit cube), then
    ``num_formal`` adaptive Gaussian steps; the first ``burn_in`` fraction of the formal
    run is warm-up (adaptation on, from iteration 4,000 of the formal run as in PRODA), the
    rest is kept with adaptation frozen.
    """
    if not 0 <= burn_in < 1:
        raise ValueError("burn_in must be in [0, 1)")
    n_burn = int(round(burn_in * num_formal))
    opts = dict(adapt_start=4_000, name="am_two_phase", space="unit")
    opts.update(options)
    return AMConfig(num_warmup=num_test + n_burn, num_samples=num_formal - n_burn,
                    num_test_steps=num_test, **opts)


def proda_compat(num_test: int = 20_000, num_formal: int = 50_000,
                 burn_in: float = 0.5, **options) -> AMConfig:
    """PRODA's original sampler, for replication only (**not a valid MCMC**).

    Annealed acceptance ``exp(-dJ ln(n + 2))``, s = 2.4/d, eps = 0, covariance recomputed
    every iteration after 4,000 formal iterations and never frozen, two-phase schedule.
    Proposals outside the unit cube are rejected rather than re-drawn, non-finite or
    infeasible states are never accepted, and the acceptance-rate-triggered reruns of the
    original are not reproduced (see ``docs/inference.md``).
    """
    opts = dict(scaling="proda", regularization=0.0, adapt_every=1, acceptance="annealed",
                freeze_after_warmup=False, name="proda_compat")
    opts.update(options)
    return two_phase(num_test, num_formal, burn_in, **opts)


def nuts(**options) -> NUTSConfig:
    """NumPyro NUTS; keyword options as in :class:`NUTSConfig`."""
    return NUTSConfig(**options)


SAMPLERS = {"am": adaptive_metropolis, "am_two_phase": two_phase,
            "proda_compat": proda_compat, "nuts": nuts}


def get_sampler(spec) -> AMConfig | NUTSConfig:
    """A sampler config from a config, a name in :data:`SAMPLERS`, or ``to_dict()`` output."""
    if isinstance(spec, (AMConfig, NUTSConfig)):
        return spec
    if isinstance(spec, str):
        if spec not in SAMPLERS:
            raise ValueError(f"unknown sampler '{spec}'; choose one of {sorted(SAMPLERS)}")
        return SAMPLERS[spec]()
    if isinstance(spec, dict):
        spec = dict(spec)
        kind = spec.pop("kind")
        cls = {"am": AMConfig, "nuts": NUTSConfig}[kind]
        return cls(**spec)
    raise TypeError(f"cannot make a sampler from {type(spec).__name__}")

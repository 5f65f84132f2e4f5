"""Per-model sampler settings chosen by measurement (``docs/inference.md`` sections 2 and 7).

:func:`run_sites` samples with exactly the sampler and space it is given; these tables are
what the pipeline uses by default (``calibration.space`` and ``calibration.sampler_options:
null``) and what a direct caller should start from::

    settings = inference.recommended("compas", num_warmup=10_000, num_samples=2_500)
    run = inference.run_sites(profiles, forcing, "compas", **settings, num_chains=4,
                              convergence=inference.Convergence(max_segments=48),
                              output_dir="out/compas")

A model added later can add its own entries to :data:`MODEL_SPACES` and
:data:`SAMPLER_OPTIONS` (``docs/architecture.md``).
"""

from __future__ import annotations

from typing import Any

from inference.config import model_name
from inference.models import resolve_model
from inference.samplers import get_sampler

__all__ = ["MODEL_SPACES", "SAMPLER_OPTIONS", "measured_options", "recommended"]

# COMPAS: the feasible-box space removes the walls along tau4s2_death and tau4s4, where most
# proposals of the prior box fail (docs/differences.md, "COMPAS feasible set"; 76.5 % of prior
# draws are infeasible on real forcings, 97 % at permafrost sites).
MODEL_SPACES: dict[str, str] = {"compas": "feasible"}
"""Model -> sampler space (:data:`inference.models.SPACES`); a model not listed samples in
the sampler's own space."""

# Robbins-Monro scale adaptation to 0.234 acceptance during warm-up, laid on AM (both
# settings on the same twin sites, benchmarks/target_acceptance_replicates.py and
# results/target_acceptance_*.json). COMPAS: of 4 x 24 extreme sites (deep permafrost,
# 28-38 horizons, cold long profiles) 93 converged against 85 without (8 only with it, none
# only without) at 0.90x the median evaluations; of 3 x 100 standard sites 298 against 298
# at 0.88-0.90x. CLM5 converges the same either way (0.93x the evaluations) and keeps
# Haario's scale: with a warm-up of a few hundred iterations the adapted scale can end
# tuned to an earlier covariance (docs/inference.md section 7, "short warm-ups").
SAMPLER_OPTIONS: dict[str, dict[str, dict[str, Any]]] = {
    "am": {"compas": {"target_acceptance": 0.234}},
}
"""Sampler preset -> model -> options laid on the preset."""


def measured_options(sampler: str, model: str) -> dict[str, Any]:
    """The options :data:`SAMPLER_OPTIONS` lays on preset ``sampler`` for ``model`` (a copy)."""
    return dict(SAMPLER_OPTIONS.get(sampler, {}).get(model, {}))


def recommended(model, sampler: str = "am", **budget) -> dict[str, Any]:
    """The ``run_sites`` keyword arguments ``sampler`` and ``space`` chosen for ``model``.

    Args:
        model: a registered model name (or module).
        sampler: a sampler preset name (:data:`inference.samplers.SAMPLERS`).
        **budget: preset options given as well, e.g. ``num_warmup=10_000,
            num_samples=2_500``; they override the measured options of the same name.

    Returns:
        ``{"sampler": config, "space": space}`` (``space`` None: the sampler's own, always
        for a sampler whose own space is the unit cube).

    Raises:
        ValueError: unknown model or sampler, or an option the preset does not take.
    """
    name = model_name(model)
    resolve_model(name)  # an unknown model fails here, naming the registered ones
    if not isinstance(sampler, str):
        raise TypeError(f"sampler must be a preset name, got {type(sampler).__name__}")
    options = {**measured_options(sampler, name), **budget}
    config = get_sampler({"kind": sampler, **options})
    # a sampler that moves in the unit cube (proda_compat) has no other space
    own_unit = getattr(config, "space", "logit") == "unit"
    return {"sampler": config, "space": None if own_unit else MODEL_SPACES.get(name)}

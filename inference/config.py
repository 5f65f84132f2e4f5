"""The run configuration of :func:`inference.run_sites`, its validation and input fingerprints.

:class:`RunConfig` holds everything that determines a run's numbers; it is validated when
it is made (before any work), saved as ``run_config.json`` and compared on resume.
:func:`site_fingerprints` hashes what else determines a site's numbers (its observations,
depths, mask, weights, forcing, the configuration and the package version); every
checkpoint stores the fingerprint of each of its sites, so a resume never returns results
computed from other inputs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
from importlib import metadata
from typing import Any

import jax
import numpy as np

from inference.convergence import Convergence
from inference.likelihoods import Likelihood, get_likelihood
from inference.models import SPACES, check_space
from inference.samplers import get_sampler, sampler_core

__all__ = ["RunConfig", "RunConfigError", "model_name", "check_positive_int",
           "site_fingerprints", "package_version"]


class RunConfigError(ValueError):
    """An invalid run setting, or an ``output_dir`` that holds a different run."""


def model_name(model) -> str:
    """The name a model is stored under (``"clm5"``, ``"compas"``, ``"toy"``)."""
    if isinstance(model, str):
        return model.lower()
    return getattr(model, "NAME", model.__name__.rsplit(".", 1)[-1]).lower()


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``, or a :class:`RunConfigError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise RunConfigError(f"{name} must be an integer >= {minimum}, got {value!r}"
                             f" ({type(value).__name__})")
    if value < minimum:
        raise RunConfigError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's numbers (hashable; saved as JSON).

    Attributes:
        model: registered model name (``"clm5"``, ``"compas"``, ``"toy"``, ...).
        sampler: a registered sampler config (:mod:`inference.samplers`).
        likelihood: the observation model.
        num_chains: chains per site (>= 1).
        seed: root seed (integer >= 0).
        num_draws: draws stored per chain (>= 1; kept iterations are thinned to this).
        max_init_tries: prior draws tried per chain for a feasible start (>= 1).
        n_layers: padded layer count of the profiles (>= 0).
        convergence: run until this criterion holds (:class:`inference.Convergence`), in
            segments of ``sampler.num_samples`` iterations; None: one segment (a fixed
            budget).
        space: the sampler space (:data:`inference.models.SPACES`); given as None (default)
            it becomes the sampler's own (its ``space`` attribute, else ``"logit"``), so
            ``config.space`` is always the space the run samples in. ``"feasible"`` needs a
            model with the ``feasible_parameters`` capability and a sampler whose own space
            is not ``"unit"``. Left out of :meth:`to_dict` when it equals the sampler's own.

    Raises:
        RunConfigError: a field of the wrong type or out of range (raised on creation).
    """

    model: str
    sampler: Any
    likelihood: Likelihood
    num_chains: int = 3
    seed: int = 0
    num_draws: int = 1_000
    max_init_tries: int = 100
    n_layers: int = 0
    convergence: Convergence | None = None
    space: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise RunConfigError(f"model must be a model name, got {self.model!r}")
        try:
            sampler_core(self.sampler)
        except ValueError as err:
            raise RunConfigError(f"sampler: {err}") from None
        if not isinstance(self.likelihood, Likelihood):
            raise RunConfigError(f"likelihood must be a Likelihood, got {self.likelihood!r}")
        for name, minimum in (("num_chains", 1), ("seed", 0), ("num_draws", 1),
                              ("max_init_tries", 1), ("n_layers", 0)):
            object.__setattr__(self, name, check_positive_int(name, getattr(self, name),
                                                              minimum))
        if self.convergence is not None:
            if not isinstance(self.convergence, Convergence):
                raise RunConfigError("convergence must be None or an inference.Convergence,"
                                     f" got {self.convergence!r}")
            need = max(self.convergence.ess_bulk_min, self.convergence.ess_tail_min)
            # The runner holds n_keep to 2 n_keep draws per chain (the stride doubles), and
            # the ESS of the held draws is at most about their number.
            held = self.num_chains * self.n_keep
            if held < need:
                raise RunConfigError(
                    f"convergence: an ESS of {need:g} cannot be shown with {held} stored draws"
                    f" (num_chains x stored draws per chain); raise num_draws (and"
                    f" num_samples) to at least {int(np.ceil(need / self.num_chains))} per"
                    " chain")
        object.__setattr__(self, "space", self._resolve_space())

    @property
    def sampler_space(self) -> str:
        """The sampler's own space (``"logit"`` unless the sampler says otherwise)."""
        return getattr(self.sampler, "space", "logit")

    def _resolve_space(self) -> str:
        space = self.sampler_space if self.space is None else self.space
        if not isinstance(space, str) or space not in SPACES:
            raise RunConfigError(f"space must be one of {SPACES} or None, got {space!r}")
        if space == "feasible":
            if self.sampler_space == "unit":
                name = getattr(self.sampler, "name", self.sampler)
                raise RunConfigError(
                    f"space 'feasible' needs a sampler that moves in an unbounded space; the"
                    f" sampler {name!r} has space 'unit' (use space=None, or a sampler with"
                    " space 'logit')")
            try:
                check_space(space, self.model)
            except ValueError as err:
                raise RunConfigError(f"space: {err}") from None
        return space

    @property
    def thin(self) -> int:
        """Iterations per stored draw."""
        return max(1, self.sampler.num_samples // max(1, self.num_draws))

    @property
    def n_keep(self) -> int:
        """Stored draws per chain."""
        return self.sampler.num_samples // self.thin

    @property
    def max_segments(self) -> int:
        """Segments of ``num_samples`` iterations a site may run."""
        return 1 if self.convergence is None else self.convergence.max_segments

    def to_dict(self) -> dict:
        """JSON-able form (inverse: :meth:`from_dict`); ``space`` only when it is not the
        sampler's own and ``convergence`` only when set (so runs saved before these options
        existed keep their form)."""
        out = {"model": self.model, "sampler": self.sampler.to_dict(),
               "likelihood": self.likelihood.to_dict(), "num_chains": self.num_chains,
               "seed": self.seed, "num_draws": self.num_draws,
               "max_init_tries": self.max_init_tries, "n_layers": self.n_layers}
        if self.space != self.sampler_space:
            out["space"] = self.space
        if self.convergence is not None:
            out["convergence"] = self.convergence.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        """A config from :meth:`to_dict` output."""
        d = dict(d)
        d["sampler"] = get_sampler(d["sampler"])
        d["likelihood"] = get_likelihood(d["likelihood"])
        if d.get("convergence") is not None:
            d["convergence"] = Convergence.from_dict(d["convergence"])
        return cls(**d)


def package_version() -> str:
    """The installed ``socmc`` version (``"unknown"`` when run from a bare source tree)."""
    try:
        return metadata.version("socmc")
    except metadata.PackageNotFoundError:
        return "unknown"


def site_fingerprints(profiles, forcing, config: RunConfig) -> np.ndarray:
    """One hex digest per site of everything its results depend on.

    Args:
        profiles: validated :class:`inference.sites.Profiles` (n sites).
        forcing: the sites' batched forcing (leading axis n, aligned with ``profiles``).
        config: the run configuration.

    Returns:
        (n,) array of str: blake2b digests of the site id, observations, depths, mask,
        layer weights, every forcing array of the site, the configuration and the package
        version. Independent of chunking and site order.
    """
    common = hashlib.blake2b(digest_size=16)
    common.update(json.dumps(config.to_dict(), sort_keys=True).encode())
    common.update(package_version().encode())
    leaves = [np.asarray(a) for a in jax.tree_util.tree_leaves(forcing)]
    out = []
    for i, sid in enumerate(profiles.site_id):
        h = common.copy()
        h.update(str(sid).encode())
        for arr in (profiles.obs[i], profiles.depth[i], profiles.mask[i], profiles.weight[i]):
            a = np.ascontiguousarray(arr)
            h.update(str(a.dtype).encode() + a.tobytes())
        for leaf in leaves:
            a = np.ascontiguousarray(leaf[i])
            h.update(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
        out.append(h.hexdigest())
    return np.asarray(out, dtype=str)

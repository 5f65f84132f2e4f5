"""The soil-model contract and the model registry.

A soil model is any object (usually a module, e.g. :mod:`socmodels.clm5`) with the members
of :class:`SoilModel`. Register it with :func:`register_model`; everything downstream
(``inference.site_model``, ``inference.run_sites``, the surrogate pipeline, the analyses)
looks models up by name with :func:`get_model`, so a new model needs no edit elsewhere.
``docs/architecture.md`` and ``docs/model_template.py`` show how to write one.

Optional capabilities (checked with :func:`has_capability` where they are used):

* ``site_components(theta, forcing, pools, xi_layer=None, v_layer=None, *, variant)``
  -> :class:`~socmodels.components.SystemComponents` of one site (paper Eq. 10-14);
* ``site_michaelis_ratios(theta, forcing, pools, xi_layer=None, *, include_xi)``
  -> :class:`~socmodels.components.MichaelisRatios` (Michaelis-Menten models);
* ``virtual_truth(drivers, *, anchor=False)`` -> ``{parameter: unit-cube values}``, the
  model's true parameters in the virtual world (``socmodels.data.virtual_world``);
* ``CUSTOMARY_FROM_POSTERIOR`` (bool, default False): the paper's "customary" run of this
  model is the mean of the site posterior means rather than :meth:`customary_theta`;
* ``feasible_parameters(v, prepared)`` -> :class:`FeasibleMap` ``(theta, log_volume,
  nonempty, steady_state=None)``: ``v`` (d,) in (0, 1)^d maps to physical ``theta`` (d,)
  inside the model's feasible set (e.g. a parameter filling its feasible interval given
  the others);
  ``log_volume`` () is the log-Jacobian of ``v -> theta`` relative to the prior box, so the
  uniform density on ``v`` times ``exp(log_volume)`` is the prior restricted to the feasible
  set; ``nonempty`` () is False (and ``log_volume`` ``-inf``) where no feasible value
  exists; ``steady_state``, optional, the steady state at ``theta`` if the map computes it
  anyway. Pure JAX (``jit``/``vmap``/``grad``). It enables the ``"feasible"`` sampler space
  of ``inference`` (:func:`socmodels.compas.feasible_parameters`).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, NamedTuple, Protocol, runtime_checkable

from socmodels.parameters import ParameterTable

__all__ = ["SoilModel", "MODELS", "register_model", "get_model", "resolve_model", "model_key",
           "has_capability", "REQUIRED", "OPTIONAL", "FeasibleMap"]

REQUIRED = ("NAME", "POOL_NAMES", "PARAMETERS", "prepare", "steady_state", "customary_theta")
"""Members every registered model must have."""
OPTIONAL = ("site_components", "site_michaelis_ratios", "virtual_truth",
            "CUSTOMARY_FROM_POSTERIOR", "feasible_parameters")
"""Capabilities a model may provide (see the module docstring)."""


class FeasibleMap(NamedTuple):
    """Result of a model's ``feasible_parameters(v, prepared)`` (one site; batched under
    ``vmap``).

    Attributes:
        theta: (d,) physical parameters inside the feasible set.
        log_volume: () log-Jacobian of ``v -> theta`` relative to the prior box (<= 0 for a
            map onto sub-intervals); ``-inf`` where ``nonempty`` is False.
        nonempty: () whether the feasible set given the other coordinates is non-empty.
        steady_state: the model's :class:`~socmodels.processes.SteadyState` at ``theta``
            when the map computes it on the way (equal to ``steady_state(theta, prepared)``
            up to round-off; the sampler then does not solve it again), else None.
    """

    theta: Any
    log_volume: Any
    nonempty: Any
    steady_state: Any = None


@runtime_checkable
class SoilModel(Protocol):
    """What a soil model provides (a module or any object with these members).

    Attributes:
        NAME: display name (e.g. ``"CLM5"``); the registry key is ``NAME.lower()``.
        POOL_NAMES: names of the rows of ``SteadyState.pools``.
        PARAMETERS: the :class:`~socmodels.ParameterTable` (prior box, names, ``unpack``).
    """

    NAME: str
    POOL_NAMES: tuple[str, ...]
    PARAMETERS: ParameterTable

    def prepare(self, forcing: Any) -> Any:
        """Site-only precomputation from a :class:`~socmodels.Forcing` (pure, vmappable)."""

    def steady_state(self, theta: Any, prepared: Any, *, check_bounds: bool = True) -> Any:
        """:class:`~socmodels.processes.SteadyState` for physical ``theta`` at one site.

        ``prepared`` is the result of :meth:`prepare` (or a ``Forcing``). Pure JAX: it must
        work under ``jit``, ``vmap`` and ``grad`` and report infeasibility in ``status``.
        """

    def customary_theta(self, forcing: Any = None) -> Any:
        """Customary ("default") physical parameters, per site when ``forcing`` is given."""


_MODELS: dict[str, Any] = {}
MODELS = MappingProxyType(_MODELS)
"""Read-only view of the registered models, ``{key: model}`` (key = ``NAME.lower()``)."""


def model_key(model: Any) -> str:
    """Registry key of a model object or a name: ``NAME.lower()`` / ``name.lower()``."""
    return model.lower() if isinstance(model, str) else str(model.NAME).lower()


def register_model(model: Any, *, replace: bool = False) -> Any:
    """Add ``model`` to :data:`MODELS` under ``NAME.lower()`` and return it.

    Args:
        model: an object (typically a module) with the :class:`SoilModel` members.
        replace: allow re-registering a key with a different object.

    Raises:
        TypeError: if a required member is missing or ``PARAMETERS`` is not a
            :class:`~socmodels.ParameterTable`.
        ValueError: if the key is already taken by another object (and not ``replace``).
    """
    missing = [a for a in REQUIRED if not hasattr(model, a)]
    if missing:
        raise TypeError(f"soil model {model!r} lacks {missing}; a model needs {REQUIRED}")
    if not isinstance(model.PARAMETERS, ParameterTable):
        raise TypeError(f"soil model {model.NAME}: PARAMETERS must be a ParameterTable")
    key = model_key(model)
    if key in _MODELS and _MODELS[key] is not model and not replace:
        raise ValueError(f"a different model is already registered as '{key}'"
                         " (pass replace=True to override)")
    _MODELS[key] = model
    return model


def get_model(name: str) -> Any:
    """The registered model called ``name`` (case-insensitive), e.g. ``socmodels.clm5``.

    Raises:
        ValueError: for an unknown name, listing the registered ones.
    """
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {type(name).__name__}")
    try:
        return _MODELS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown model '{name}'; registered models are {sorted(_MODELS)}"
                         " (socmodels.register_model adds one)") from None


def resolve_model(model: Any) -> Any:
    """A registered name -> the model; a model object is checked and returned as is.

    An unregistered object needs at least ``PARAMETERS``, ``prepare`` and ``steady_state``
    (enough to sample it); :func:`register_model` asks for the full contract.

    Raises:
        ValueError: for an unknown name.
        TypeError: for an object without those members.
    """
    if isinstance(model, str):
        return get_model(model)
    for attr in ("PARAMETERS", "prepare", "steady_state"):
        if not hasattr(model, attr):
            raise TypeError(f"soil model {model!r} lacks '{attr}'")
    return model


def has_capability(model: Any, name: str) -> bool:
    """Whether ``model`` provides the optional member ``name`` (see :data:`OPTIONAL`)."""
    if name not in OPTIONAL:
        raise ValueError(f"unknown capability '{name}'; choose one of {OPTIONAL}")
    value = getattr(model, name, None)
    return bool(value) if name == "CUSTOMARY_FROM_POSTERIOR" else value is not None

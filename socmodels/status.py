"""Why a steady state is infeasible, as a value: an ``int32`` bit mask (0 = feasible).

Every :class:`~socmodels.processes.SteadyState` carries ``status``; ``feasible`` equals
``status == 0``. The bits are the :class:`Failure` flags, combined with ``|`` when several
conditions fail at once. Under ``jit``/``vmap`` the status is an array like any other, so a
sampler can count rejections per reason; :func:`describe_status` turns a concrete code into
readable reasons.
"""

from __future__ import annotations

import enum

import jax.numpy as jnp

__all__ = ["Failure", "describe_status", "status_bits"]


class Failure(enum.IntFlag):
    """Reasons a steady state is rejected (bits of ``SteadyState.status``)."""

    NONFINITE = 1
    """A pool is NaN or infinite."""
    NEGATIVE = 2
    """A pool is negative (beyond round-off)."""
    DENSITY_CAP = 4
    """A layer holds more carbon than ``processes.MAX_CARBON_DENSITY``."""
    NO_POSITIVE_ROOT = 8
    """COMPAS: the closed-form soil steady state has no positive solution in some layer."""
    MIC_FRACTION = 16
    """COMPAS: column microbial biomass exceeds its allowed fraction of column soil C."""


_REASONS = {
    Failure.NONFINITE: "a pool is NaN or infinite",
    Failure.NEGATIVE: "a pool is negative",
    Failure.DENSITY_CAP: "a layer exceeds the carbon-density cap",
    Failure.NO_POSITIVE_ROOT: "the closed-form soil steady state has no positive root",
    Failure.MIC_FRACTION: "microbial biomass exceeds its allowed fraction of soil carbon",
}


def status_bits(**conditions) -> jnp.ndarray:
    """``int32`` status from failure conditions, e.g. ``status_bits(NEGATIVE=neg)``.

    Each keyword names a :class:`Failure` member; its value is a boolean (array) that is
    True where that condition fails. Pure JAX (jit/vmap friendly).
    """
    code = jnp.zeros((), jnp.int32)
    for name, failed in conditions.items():
        code = code | jnp.where(jnp.asarray(failed), jnp.int32(Failure[name].value),
                                jnp.int32(0))
    return code


def describe_status(code) -> list[str]:
    """Readable reasons for a concrete status code (``[]`` when feasible).

    Args:
        code: an ``int`` or a scalar array (e.g. ``int(ss.status)``).

    Returns:
        One ``"NAME: reason"`` string per set bit, in bit order.

    Raises:
        ValueError: if ``code`` is negative or has bits that are not :class:`Failure` flags.
    """
    c = int(code)
    known = 0
    for f in Failure:
        known |= f.value
    if c < 0 or c & ~known:
        raise ValueError(f"status {c} has bits that are not socmodels.Failure flags")
    return [f"{f.name}: {_REASONS[f]}" for f in Failure if c & f.value]

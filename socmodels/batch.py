"""Steady states of many (parameters, forcing) pairs: the one batched evaluator.

Used wherever thousands of sites or grid cells are evaluated at once (the virtual world, the
parameter and SOC maps, held-out skill). Pairs go through one jitted ``vmap`` program per
model and chunk size, in fixed-size chunks (the last one padded), so a long loop compiles
once and memory stays flat in the number of pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["steady_states", "DEFAULT_CHUNK", "chunk_size_for"]

DEFAULT_CHUNK = 512
"""Pairs per compiled call."""

_PROGRAMS: dict[tuple[int, int], Any] = {}


def chunk_size_for(n: int, largest: int = DEFAULT_CHUNK) -> int:
    """A fixed chunk size for ``n`` pairs: the next power of two, at most ``largest``."""
    return int(min(largest, 1 << max(0, int(np.ceil(np.log2(max(n, 1)))))))


def _program(model: Any, chunk: int) -> Any:
    key = (id(model), chunk)
    if key not in _PROGRAMS:
        _PROGRAMS[key] = jax.jit(jax.vmap(
            lambda th, f: model.steady_state(th, f, check_bounds=False)))
    return _PROGRAMS[key]


def steady_states(model: Any, theta: np.ndarray, forcing: Any, *,
                  chunk: int = DEFAULT_CHUNK,
                  fields: Sequence[str] = ("soc", "pools", "stock", "stock_1m", "status"),
                  ) -> dict[str, np.ndarray]:
    """Steady states of ``model`` for ``theta`` (n, d) at the n sites of ``forcing``.

    Args:
        model: A registered soil model (``socmodels.get_model``).
        theta: (n, d) physical parameters, one row per site.
        forcing: A batched :class:`~socmodels.Forcing` (leading dim n) or ``prepare`` output.
        chunk: Pairs per compiled call (one program per model and chunk size).
        fields: ``SteadyState`` attributes to return (``feasible`` is allowed too).

    Returns:
        ``{field: (n, ...) NumPy array}``.
    """
    theta = np.asarray(theta, float)
    n = theta.shape[0]
    fn = _program(model, chunk)
    outs: dict[str, list[np.ndarray]] = {k: [] for k in fields}
    for s in range(0, n, chunk):
        idx = np.arange(s, min(s + chunk, n))
        pad = np.concatenate([idx, np.full(chunk - idx.size, idx[0])])
        f = jax.tree_util.tree_map(lambda a, sel=pad: jnp.asarray(np.asarray(a)[sel]), forcing)
        ss = fn(jnp.asarray(theta[pad]), f)
        for k in fields:
            outs[k].append(np.asarray(getattr(ss, k))[: idx.size])
    return {k: np.concatenate(v) for k, v in outs.items()}

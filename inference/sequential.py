"""Batch-size-independent evaluation under ``vmap``.

XLA's CPU code for a vmapped reduction or matrix product depends on the batch size, so
the same site can get results that differ in the last bits when it shares a compiled batch
with 3 or with 6 other sites (``docs/inference.md`` §3 "Keys"). Where such a value feeds
back into a chain (AM's pooled proposal between segments), :func:`one_at_a_time` makes a
function evaluate one batch element after the other (``lax.map``) when it is vmapped, so
every element runs the same unbatched code whatever the batch size. (``jax.vmap`` has no
such switch and ``pure_callback(..., vmap_method="sequential")`` leaves the program out of
the persistent compilation cache, hence this small ``custom_vmap`` rule.)
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["one_at_a_time"]


def one_at_a_time(fn: Callable) -> Callable:
    """``fn``, evaluated element by element along a ``vmap`` axis (the same values
    whatever the batch size; nested ``vmap`` levels each become a loop). Not for
    reverse-mode differentiation (``custom_vmap``)."""
    wrapped = jax.custom_batching.custom_vmap(fn)

    @wrapped.def_vmap
    def _rule(axis_size, in_batched, *args):
        args = jax.tree_util.tree_map(
            lambda a, b: a if b else jnp.broadcast_to(a, (axis_size, *jnp.shape(a))),
            args, tuple(in_batched))
        out = lax.map(lambda xs: wrapped(*xs), tuple(args))
        return out, jax.tree_util.tree_map(lambda _: True, out)

    return wrapped

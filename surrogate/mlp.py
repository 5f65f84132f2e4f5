"""Flax NNX multilayer perceptron mapping scaled covariates to unit-cube parameters.

Architecture of Tao et al. (2024, §2.6) and ``docs/original_code.md`` §6.3::

    Dense(256, ReLU) -> Dropout -> Dense(512, ReLU) -> Dropout -> Dense(512, ReLU)
    -> Dropout -> Dense(256, ReLU) -> Dropout -> Dense(d, linear)

with ``d`` = 21 (CLM5) or 23 (COMPAS). Hidden widths and the dropout rate are arguments
(dropout 0.2 as in the paper and the COMPAS scripts; the CLM5 scripts use 0.0, Q17).

Dtypes: ``import socmodels`` switches JAX to float64 globally, so parameters are created
explicitly as float32 (``param_dtype``) and inputs are cast to float32 in ``__call__``;
the network is therefore float32 end to end regardless of the global x64 flag.

Weights are initialised like Keras ``Dense`` (Glorot-uniform kernels, zero biases) rather
than Flax's default LeCun-normal, to stay close to the original training dynamics.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["MLP", "PRODA_HIDDEN", "DTYPE"]

PRODA_HIDDEN: tuple[int, ...] = (256, 512, 512, 256)
"""Hidden-layer widths of the PRODA network."""

DTYPE = jnp.float32
"""Parameter and compute dtype of the network."""


class MLP(nnx.Module):
    """Fully connected ReLU network with dropout after every hidden layer.

    Args:
        n_in (int): Number of covariates (60 in PRODA).
        n_out (int): Number of parameters predicted (21 CLM5, 23 COMPAS).
        hidden (sequence of int): Hidden widths, default :data:`PRODA_HIDDEN`.
        dropout (float): Dropout rate after each hidden layer (0 disables dropout).
        rngs (nnx.Rngs): Initialisation randomness (``params`` stream).

    Note:
        Dropout randomness is *not* stored in the module: pass ``key`` to :meth:`__call__` for
        training-mode dropout, omit it for deterministic inference. This keeps the module
        state equal to its parameters, which makes the functional split/merge used to train
        many members under ``jax.vmap`` straightforward (:mod:`surrogate.train`).
    """

    def __init__(self, n_in: int, n_out: int, *, hidden: Sequence[int] = PRODA_HIDDEN,
                 dropout: float = 0.2, rngs: nnx.Rngs):
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout}")
        widths = [int(n_in), *[int(h) for h in hidden], int(n_out)]
        init = nnx.initializers.glorot_uniform()
        self.layers = nnx.List([
            nnx.Linear(a, b, dtype=DTYPE, param_dtype=DTYPE, kernel_init=init, rngs=rngs)
            for a, b in zip(widths[:-1], widths[1:], strict=True)
        ])
        self.dropout = nnx.Dropout(float(dropout))
        self.n_in = int(n_in)
        self.n_out = int(n_out)

    def __call__(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """Predict unit-cube parameters ``(n, n_out)`` from scaled covariates ``(n, n_in)``.

        ``key`` enables training-mode dropout; without it the call is deterministic.
        """
        h = jnp.asarray(x, DTYPE)
        deterministic = key is None or self.dropout.rate == 0.0
        n_hidden = len(self.layers) - 1
        keys = (None,) * n_hidden if deterministic else tuple(jax.random.split(key, n_hidden))
        for layer, k in zip(self.layers[:-1], keys, strict=True):
            h = jax.nn.relu(layer(h))
            h = self.dropout(h, deterministic=deterministic, rngs=k)
        return self.layers[-1](h)

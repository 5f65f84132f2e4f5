"""Observation operator: model layer values -> values at observation depths.

The model's 20 layer values are located at the layer nodes ``layers.zsoi`` (0.01-8.03 m).
:func:`observe` interpolates them with a shape-preserving piecewise-cubic Hermite
interpolant (PCHIP, Fritsch-Carlson/Fritsch-Butland slopes, the same scheme as MATLAB
``interp1(..., 'pchip')`` used by the authors and SciPy's ``PchipInterpolator``), written in
JAX so it is differentiable and vmappable.

Depths outside the nodes are handled explicitly, never extrapolated with the cubic:

* between the surface and the first node (0-0.01 m) and between the last node and the
  bottom of the column (8.03-8.6 m) the value of that layer is held (the layer is the model's
  finite volume);
* depths above the surface (< 0) or below the column (> 8.6 m) give NaN. Use
  :func:`check_depths` to raise a clear error before sampling instead.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from socmodels import layers

__all__ = ["observe", "pchip_slopes", "check_depths"]

_X = jnp.asarray(layers.zsoi)
_H = jnp.diff(_X)


def _safe_div(a, b):
    ok = b != 0
    return jnp.where(ok, a / jnp.where(ok, b, 1.0), 0.0)


def pchip_slopes(y, x=None):
    """PCHIP derivatives at the nodes ``x`` (default: layer nodes) for values ``y`` (n,)."""
    x = _X if x is None else jnp.asarray(x)
    h = jnp.diff(x)
    delta = jnp.diff(y) / h
    h0, h1 = h[:-1], h[1:]
    d0, d1 = delta[:-1], delta[1:]
    w1 = 2 * h1 + h0
    w2 = h1 + 2 * h0
    same = (d0 * d1) > 0
    harm = _safe_div(w1 + w2, _safe_div(w1, jnp.where(same, d0, 1.0))
                     + _safe_div(w2, jnp.where(same, d1, 1.0)))
    interior = jnp.where(same, harm, 0.0)

    def end(hA, hB, dA, dB):
        d = ((2 * hA + hB) * dA - hA * dB) / (hA + hB)
        d = jnp.where(jnp.sign(d) != jnp.sign(dA), 0.0, d)
        return jnp.where((jnp.sign(dA) != jnp.sign(dB)) & (jnp.abs(d) > jnp.abs(3 * dA)),
                         3 * dA, d)

    first = end(h[0], h[1], delta[0], delta[1])
    last = end(h[-1], h[-2], delta[-1], delta[-2])
    return jnp.concatenate([first[None], interior, last[None]])


def observe(values, depths):
    """Interpolate layer values (..., 20) to observation ``depths`` (m).

    Args:
        values: (20,) layer values (e.g. ``SteadyState.soc``, gC m-3); leading axes are
            not supported directly -- ``jax.vmap`` for batches.
        depths: array of depths in metres (any shape).

    Returns:
        Array of ``depths``' shape: PCHIP between nodes, the end layer's value in the top
        and bottom half-layers, NaN outside the 0-8.6 m column.
    """
    y = jnp.asarray(values)
    z = jnp.asarray(depths, dtype=y.dtype)
    d = pchip_slopes(y)
    zc = jnp.clip(z, _X[0], _X[-1])
    # compare_all: 20 nodes, a few depths -- one fused comparison instead of a loop (the
    # default "scan" method costs ~10 % of a CLM5 log density under vmap); same indices
    k = jnp.clip(jnp.searchsorted(_X, zc, side="right", method="compare_all") - 1, 0,
                 _X.shape[0] - 2)
    h = _H[k]
    t = (zc - _X[k]) / h
    t2, t3 = t * t, t * t * t
    h00 = 2 * t3 - 3 * t2 + 1
    h10 = t3 - 2 * t2 + t
    h01 = -2 * t3 + 3 * t2
    h11 = t3 - t2
    v = h00 * y[k] + h10 * h * d[k] + h01 * y[k + 1] + h11 * h * d[k + 1]
    inside = (z >= 0.0) & (z <= layers.COLUMN_DEPTH)
    return jnp.where(inside, v, jnp.nan)


def check_depths(depths, *, where: str = "") -> np.ndarray:
    """Raise ``ValueError`` if any depth (m) is NaN or outside the 0-8.6 m column."""
    z = np.asarray(depths, dtype=float)
    w = f" ({where})" if where else ""
    if np.isnan(z).any():
        raise ValueError(f"observation depths{w} contain NaN")
    bad = (z < 0) | (z > layers.COLUMN_DEPTH)
    if bad.any():
        raise ValueError(f"observation depths{w} {z[bad][:5].tolist()} m lie outside the model"
                         f" column 0-{layers.COLUMN_DEPTH} m (depths must be in metres)")
    return z

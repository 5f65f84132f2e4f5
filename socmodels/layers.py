"""The CLM5 soil column: 20 decomposition layers plus the level 21 that transport reads.

All depths in metres. Indices are 0-based in Python: ``dz[0]`` is the first (top) layer.
Values follow the CLM5 default 25-level grid (CTSM ``initVerticalMod``), see
``docs/models.md`` and ``docs/original_code.md`` §1.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "NLEV",
    "dz",
    "zsoi",
    "zisoi",
    "ztop",
    "dz_node",
    "dz21",
    "zsoi21",
    "zisoi21",
    "dz_node21",
    "COLUMN_DEPTH",
    "stock_weights",
    "nbedrock_from_depth",
]

NLEV = 20
"""Number of decomposition layers."""

# Thicknesses of levels 1..21 (level 21 is read by transport only).
dz21 = np.array(
    [0.02, 0.04, 0.06, 0.08, 0.12, 0.16, 0.20, 0.24, 0.28, 0.32,
     0.36, 0.40, 0.44, 0.54, 0.64, 0.74, 0.84, 0.94, 1.04, 1.14, 2.39]
)
zisoi21 = np.round(np.cumsum(dz21), 12)
"""Bottom interface depth of levels 1..21 (m)."""
ztop21 = np.concatenate([[0.0], zisoi21[:-1]])
zsoi21 = 0.5 * (ztop21 + zisoi21)
"""Node (mid-point) depth of levels 1..21 (m)."""
dz_node21 = np.diff(np.concatenate([[0.0], zsoi21]))
"""Distance between node j and node j-1 (node 0 = surface), levels 1..21 (m)."""

dz = dz21[:NLEV].copy()
zisoi = zisoi21[:NLEV].copy()
ztop = ztop21[:NLEV].copy()
zsoi = zsoi21[:NLEV].copy()
dz_node = dz_node21[:NLEV].copy()
COLUMN_DEPTH = float(zisoi[-1])
"""Depth of the bottom of the decomposition column: 8.6 m."""

for _a in (dz21, zisoi21, ztop21, zsoi21, dz_node21, dz, zisoi, ztop, zsoi, dz_node):
    _a.flags.writeable = False


def stock_weights(depth: float) -> np.ndarray:
    """Weights ``w`` (m) such that ``sum(w * s)`` is the stock (gC m-2) over 0..``depth`` m.

    ``s`` are layer concentrations (gC m-3). A partly covered layer counts in proportion
    to the covered thickness, as the original post-processing does for 0-30/0-100/0-200 cm.
    """
    if not 0.0 < depth <= COLUMN_DEPTH + 1e-12:
        raise ValueError(f"depth must be in (0, {COLUMN_DEPTH}] m, got {depth}")
    covered = np.clip(depth - ztop, 0.0, dz)
    return covered


def nbedrock_from_depth(bedrock_depth: float | np.ndarray | None) -> np.ndarray:
    """1-based index of the first layer whose bottom reaches ``bedrock_depth`` [m] (20 if none).

    NaN, None or depths below the 8.6 m column give 20 (no bedrock in the column).
    """
    bd = np.asarray(np.nan if bedrock_depth is None else bedrock_depth, float)
    idx = np.searchsorted(zisoi, np.where(np.isfinite(bd), bd, np.inf), side="left") + 1
    return np.clip(idx, 1, NLEV).astype(np.float64)

"""Small shape functions for the virtual-world truth designs (``virtual_truth`` of a model).

A model's ``virtual_truth(drivers, anchor=...)`` maps standardised covariate drivers
(``socmodels.data.world``) to true parameters in the unit cube; these are the smooth
building blocks the CLM5 and COMPAS designs share.
"""

from __future__ import annotations

import numpy as np

__all__ = ["smoothstep", "bump"]


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Cubic smooth step from 0 (x <= 0) to 1 (x >= 1)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def bump(x: np.ndarray) -> np.ndarray:
    """Gaussian bump ``exp(-x^2)``."""
    return np.exp(-x * x)

"""Min-max scaling of covariates to [0, 1] (``proda_reference.md`` §6.2).

PRODA scales every covariate with the **global-grid** column minimum and maximum (not the
training sites'), clipping site values that fall outside the grid range to [0, 1]. The
scaler therefore remembers its ranges so that the sites used for training and the grid
used for prediction are scaled identically; fit it once on the grid covariates and store
it with the trained ensemble.

Categorical covariates (land cover, texture class, Köppen zone, ...) are scaled as
numeric codes, as in the original (Q17); one-hot encoding would change the input width.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

__all__ = ["MinMaxScaler"]


@dataclasses.dataclass(frozen=True)
class MinMaxScaler:
    """Column-wise min-max scaler with remembered ranges.

    Attributes
    ----------
    minimum, maximum : ndarray (p,)
        Column ranges the scaler was fitted on (NaNs ignored while fitting).
    names : tuple of str or None
        Optional covariate names, in column order.

    Notes
    -----
    A constant column (``maximum == minimum``) maps to 0 instead of NaN (the original
    would divide by zero).

    Examples
    --------
    >>> s = MinMaxScaler.fit(np.array([[0.0, 10.0], [2.0, 30.0]]))
    >>> s.transform(np.array([[1.0, 40.0]]))
    array([[0.5, 1. ]])
    """

    minimum: np.ndarray
    maximum: np.ndarray
    names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        lo = np.asarray(self.minimum, dtype=np.float64).reshape(-1)
        hi = np.asarray(self.maximum, dtype=np.float64).reshape(-1)
        if lo.shape != hi.shape:
            raise ValueError(f"minimum {lo.shape} and maximum {hi.shape} differ in shape")
        if np.any(hi < lo):
            j = int(np.argmax(hi < lo))
            raise ValueError(f"column {j}: maximum {hi[j]} < minimum {lo[j]}")
        if self.names is not None and len(self.names) != lo.size:
            raise ValueError(f"{len(self.names)} names for {lo.size} columns")
        object.__setattr__(self, "minimum", lo)
        object.__setattr__(self, "maximum", hi)
        if self.names is not None:
            object.__setattr__(self, "names", tuple(self.names))

    @classmethod
    def fit(cls, x, *, names: Sequence[str] | None = None) -> "MinMaxScaler":
        """Fit on ``x`` of shape ``(n, p)`` (rows = grid cells or sites), ignoring NaNs.

        Raises
        ------
        ValueError
            If a column has no finite value.
        """
        a = np.asarray(x, dtype=np.float64)
        if a.ndim != 2:
            raise ValueError(f"x must have shape (n, p); got {a.shape}")
        finite = np.isfinite(a)
        empty = ~finite.any(axis=0)
        if empty.any():
            j = int(np.argmax(empty))
            label = names[j] if names is not None else j
            raise ValueError(f"covariate column {label!r} has no finite value")
        masked = np.where(finite, a, np.nan)
        return cls(np.nanmin(masked, axis=0), np.nanmax(masked, axis=0), names)

    @property
    def n_features(self) -> int:
        """Number of columns ``p``."""
        return int(self.minimum.size)

    @property
    def span(self) -> np.ndarray:
        """``maximum - minimum`` with constant columns set to 1."""
        s = self.maximum - self.minimum
        return np.where(s > 0, s, 1.0)

    def transform(self, x, *, clip: bool = True) -> np.ndarray:
        """Scale ``x`` (..., p) to ``(x - min) / (max - min)``, clipped to [0, 1] by default.

        NaNs stay NaN (drop or fill such rows before training/prediction).
        """
        a = np.asarray(x, dtype=np.float64)
        if a.shape[-1] != self.n_features:
            raise ValueError(f"x has {a.shape[-1]} columns; the scaler was fitted on"
                             f" {self.n_features}")
        u = (a - self.minimum) / self.span
        return np.clip(u, 0.0, 1.0) if clip else u

    def inverse_transform(self, u) -> np.ndarray:
        """Map scaled values back to covariate units."""
        return self.minimum + np.asarray(u, dtype=np.float64) * self.span

    def to_dict(self) -> dict:
        """Plain-Python representation (for JSON/npz storage)."""
        return {"minimum": self.minimum.tolist(), "maximum": self.maximum.tolist(),
                "names": list(self.names) if self.names is not None else None}

    @classmethod
    def from_dict(cls, d: dict) -> "MinMaxScaler":
        """Inverse of :meth:`to_dict`."""
        names = d.get("names")
        return cls(np.asarray(d["minimum"]), np.asarray(d["maximum"]),
                   tuple(names) if names is not None else None)

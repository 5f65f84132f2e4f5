"""Min-max scaling of covariates to [0, 1] (``docs/original_code.md`` §6.2).

The scaling itself is :class:`socmodels.data.covariates.MinMaxScaler` (fitted once, on the
global grid as PRODA does; remembered ranges; clip to [0, 1]; constant columns -> 0). This
module only adds an array interface to it, because the network works on
``(n_sites, n_covariates)`` matrices: :meth:`MinMaxScaler.fit` and
:meth:`MinMaxScaler.transform` also accept NumPy arrays, with the column order given by
``names`` (the fitted ``columns``). DataFrames and Datasets go through unchanged, so one
scaler object serves the site table, the covariate grid and the network.

Categorical covariates (land cover, texture class, Köppen zone, ...) are scaled as
numeric codes, as in the original (Q17).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from socmodels.data.covariates import MinMaxScaler as _CovariateScaler

__all__ = ["MinMaxScaler", "as_array_scaler"]


class MinMaxScaler(_CovariateScaler):
    """:class:`socmodels.data.covariates.MinMaxScaler` that also scales NumPy arrays.

    Example:
        >>> s = MinMaxScaler.fit(np.array([[0.0, 10.0], [2.0, 30.0]]), names=["a", "b"])
        >>> s.transform(np.array([[1.0, 40.0]]))
        array([[0.5, 1. ]])
        >>> s.names
        ('a', 'b')
    """

    @classmethod
    def fit(cls, data: Any, columns: Any = None, *, clip: bool = True,
            names: Sequence[str] | None = None) -> "MinMaxScaler":
        """Fit on a DataFrame/Dataset (as the parent) or an array ``(n, p)``.

        For arrays, ``names`` (or ``columns``) name the ``p`` columns (default
        ``x0 .. x{p-1}``); NaNs are ignored.
        """
        if isinstance(data, (pd.DataFrame, xr.Dataset)):
            return super().fit(data, columns if columns is not None else names, clip=clip)
        a = np.asarray(data, dtype=np.float64)
        if a.ndim != 2:
            raise ValueError(f"x must have shape (n, p); got {a.shape}")
        labels = list(names if names is not None else columns if columns is not None
                      else [f"x{j}" for j in range(a.shape[1])])
        if len(labels) != a.shape[1]:
            raise ValueError(f"{len(labels)} names for {a.shape[1]} columns")
        return super().fit(pd.DataFrame(a, columns=labels), labels, clip=clip)

    @property
    def names(self) -> tuple[str, ...]:
        """Fitted column names, in order (the column order of array inputs)."""
        return tuple(self.columns)

    @property
    def n_features(self) -> int:
        """Number of fitted columns."""
        return len(self.minimum)

    def _table(self, x) -> tuple[pd.DataFrame, tuple[int, ...]]:
        a = np.asarray(x, dtype=np.float64)
        if a.ndim == 0 or a.shape[-1] != self.n_features:
            raise ValueError(f"x has {a.shape[-1] if a.ndim else 0} columns; the scaler was"
                             f" fitted on {self.n_features}: {self.names}")
        return pd.DataFrame(a.reshape(-1, a.shape[-1]), columns=list(self.names)), a.shape

    def transform(self, data: Any) -> Any:
        """Scale to [0, 1]; arrays ``(..., p)`` come back as arrays (NaN stays NaN)."""
        if isinstance(data, (pd.DataFrame, xr.Dataset)):
            return super().transform(data)
        table, shape = self._table(data)
        return super().transform(table).to_numpy(np.float64).reshape(shape)

    def inverse_transform(self, data: Any) -> Any:
        """Map scaled values back to covariate units (arrays stay arrays)."""
        if isinstance(data, (pd.DataFrame, xr.Dataset)):
            return super().inverse_transform(data)
        table, shape = self._table(data)
        return super().inverse_transform(table).to_numpy(np.float64).reshape(shape)


def as_array_scaler(scaler: Any) -> MinMaxScaler | None:
    """Return ``scaler`` as a :class:`MinMaxScaler` (a plain ``socmodels`` scaler is wrapped)."""
    if scaler is None or isinstance(scaler, MinMaxScaler):
        return scaler
    return MinMaxScaler.from_dict(scaler.to_dict())

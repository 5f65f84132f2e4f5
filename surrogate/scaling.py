"""Min-max scaling of covariates to [0, 1] (``docs/original_code.md`` §6.2).

There is one scaler, :class:`socmodels.data.covariates.MinMaxScaler` (fitted once, on the
global grid as PRODA does; remembered ranges; clip to [0, 1]; constant columns -> 0); it
scales tables by column name and the network's ``(n_sites, n_covariates)`` arrays by
position (column order :attr:`~socmodels.data.covariates.MinMaxScaler.names`). This module
re-exports it for the network's code and adds :func:`as_array_scaler`, which accepts the
scaler in its stored (dict) form too.

Categorical covariates (land cover, texture class, Köppen zone, ...) are scaled as
numeric codes, as in the original (Q17).
"""

from __future__ import annotations

from typing import Any, Mapping

from socmodels.data.covariates import MinMaxScaler

__all__ = ["MinMaxScaler", "as_array_scaler"]


def as_array_scaler(scaler: Any) -> MinMaxScaler | None:
    """Return ``scaler`` as a :class:`MinMaxScaler`.

    Args:
        scaler: ``None``, a :class:`MinMaxScaler`, or its :meth:`~MinMaxScaler.to_dict` form.

    Returns:
        The scaler (``None`` stays ``None``).

    Raises:
        TypeError: ``scaler`` is none of these.
    """
    if scaler is None or isinstance(scaler, MinMaxScaler):
        return scaler
    if isinstance(scaler, Mapping):
        return MinMaxScaler.from_dict(scaler)
    raise TypeError(f"as_array_scaler: expected a MinMaxScaler or its dict form, got"
                    f" {type(scaler).__name__}")

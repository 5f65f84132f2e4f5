"""The forcing contract: one site's 12-month climatology, as a JAX pytree.

Field names follow the CESM2/CLM5 history variables they come from. A ``Forcing`` may carry
leading batch axes (e.g. ``(n_sites, 12, 20)`` for ``tsoi``); ``jax.vmap`` over the leading
axis then maps over sites.

Build one with :meth:`Forcing.create`, which validates shapes, finiteness and units and
raises :class:`ForcingError` naming the field. The plain constructor does no checking (it
is what JAX uses when it rebuilds the pytree inside ``jit``/``vmap``).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import jax
import numpy as np
from jaxtyping import Array, Float

from socmodels.layers import NLEV

__all__ = ["Forcing", "ForcingError", "FIELDS"]

# Shapes of the fields (jaxtyping annotations; not checked at run time). Leaves are NumPy
# arrays after ``create`` and JAX arrays inside ``jit``/``vmap``; ``*batch`` = site axes.
MonthlyLayers = Float[Array | np.ndarray, "*batch 12 20"]
Monthly = Float[Array | np.ndarray, "*batch 12"]
Layers = Float[Array | np.ndarray, "*batch 20"]
PerSite = Float[Array | np.ndarray, "*batch"]


class ForcingError(ValueError):
    """A forcing field has the wrong shape, a NaN, or values in implausible units."""


# name -> (per-site shape, unit, description, (lo, hi) plausible range or None)
FIELDS: dict[str, tuple[tuple[int, ...], str, str, tuple[float, float] | None]] = {
    "tsoi": ((12, NLEV), "K", "soil temperature (TSOI)", (150.0, 350.0)),
    "w_scalar": ((12, NLEV), "1", "water scalar of decomposition (W_SCALAR)", (0.0, 1.0)),
    "o_scalar": ((12, NLEV), "1", "oxygen scalar of decomposition (O_SCALAR)", (0.0, 1.0)),
    "fpi_vr": ((12, NLEV), "1", "fraction of potential N immobilization (FPI_vr)", (0.0, 1.0)),
    "altmax": ((12,), "m", "maximum active-layer depth this year (ALTMAX)", (0.0, 100.0)),
    "altmax_lastyear": ((12,), "m", "maximum active-layer depth last year (ALTMAX_LASTYEAR)",
                        (0.0, 100.0)),
    "nbedrock": ((12,), "layer index", "index (1-based) of the bedrock layer (nbedrock)",
                 (1.0, float(NLEV))),
    "input_cwd": ((), "gC m-2 yr-1", "annual coarse-woody-debris input", (0.0, 2.0e4)),
    "input_litr1": ((), "gC m-2 yr-1", "annual metabolic litter input", (0.0, 2.0e4)),
    "input_litr2": ((), "gC m-2 yr-1", "annual cellulose litter input", (0.0, 2.0e4)),
    "input_litr3": ((), "gC m-2 yr-1", "annual lignin litter input", (0.0, 2.0e4)),
    "cellsand": ((NLEV,), "%", "sand content per layer (CELLSAND)", (0.0, 100.0)),
}

_HINTS = {
    "tsoi": "soil temperature must be in kelvin; values look like degrees Celsius"
            " (add 273.15)",
    "cellsand": "sand must be in percent (0-100)",
}


@dataclasses.dataclass(frozen=True)
class Forcing:
    """One site's (or a batch of sites') 12-month forcing climatology.

    Attributes (per-site shapes; a batch adds leading axes):
        tsoi: (12, 20) soil temperature, K.
        w_scalar: (12, 20) CLM5 water scalar, 0-1.
        o_scalar: (12, 20) CLM5 oxygen scalar, 0-1.
        fpi_vr: (12, 20) fraction of potential immobilization, 0-1.
        altmax: (12,) active-layer depth this year, m.
        altmax_lastyear: (12,) active-layer depth last year, m.
        nbedrock: (12,) 1-based index of the bedrock layer (20 = no bedrock in the column).
        input_cwd, input_litr1, input_litr2, input_litr3: () annual inputs, gC m-2 yr-1.
        cellsand: (20,) sand content, %.
    """

    tsoi: MonthlyLayers
    w_scalar: MonthlyLayers
    o_scalar: MonthlyLayers
    fpi_vr: MonthlyLayers
    altmax: Monthly
    altmax_lastyear: Monthly
    nbedrock: Monthly
    input_cwd: PerSite
    input_litr1: PerSite
    input_litr2: PerSite
    input_litr3: PerSite
    cellsand: Layers

    @classmethod
    def create(cls, *, site: str | int | None = None, **fields: Any) -> "Forcing":
        """Validate and build a ``Forcing`` (float64 NumPy leaves).

        Args:
            site: optional site label used in error messages.
            **fields: every field of the contract (see :data:`FIELDS`). ``cellsand`` may be
                omitted (defaults to 40 %), scalars are broadcast to batch shape.

        Raises:
            ForcingError: naming the field (and site) for a missing/unknown field, a wrong
                shape, a NaN/inf, or values outside the plausible range of the unit.
        """
        where = f" (site {site})" if site is not None else ""
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise ForcingError(f"unknown forcing field(s){where}: {sorted(unknown)}; "
                               f"expected {list(FIELDS)}")
        if "cellsand" not in fields:
            fields["cellsand"] = np.full(NLEV, 40.0)
        missing = [k for k in FIELDS if k not in fields]
        if missing:
            raise ForcingError(f"missing forcing field(s){where}: {missing}")
        arrays = {}
        batch: tuple[int, ...] | None = None
        for name, (shape, unit, desc, rng) in FIELDS.items():
            try:
                a = np.asarray(fields[name], dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ForcingError(f"forcing field '{name}'{where} is not numeric: {exc}") from exc
            nd = len(shape)
            if a.ndim < nd or tuple(a.shape[a.ndim - nd:]) != shape:
                raise ForcingError(
                    f"forcing field '{name}'{where} ({desc}) has shape {a.shape}; expected"
                    f" {shape} per site (optionally with leading batch axes)")
            b = tuple(a.shape[: a.ndim - nd])
            if nd > 0 and b:
                if batch is None:
                    batch = b
                elif b != batch:
                    raise ForcingError(f"forcing field '{name}'{where} has batch shape {b},"
                                       f" other fields have {batch}")
            bad = ~np.isfinite(a)
            if bad.any():
                idx = np.argwhere(bad)[0].tolist()
                raise ForcingError(f"forcing field '{name}'{where} has a NaN/inf value at index"
                                   f" {idx}; fill or drop the site before building a Forcing")
            if rng is not None:
                lo, hi = rng
                if a.min() < lo - 1e-9 or a.max() > hi + 1e-9:
                    hint = _HINTS.get(name, f"expected {unit} in [{lo}, {hi}]")
                    raise ForcingError(
                        f"forcing field '{name}'{where} ({desc}) has values in"
                        f" [{a.min():.4g}, {a.max():.4g}] outside the plausible range"
                        f" [{lo}, {hi}] {unit}: {hint}")
            arrays[name] = a
        if np.any(arrays["nbedrock"] != np.round(arrays["nbedrock"])):
            raise ForcingError(f"forcing field 'nbedrock'{where} must hold integer layer indices")
        if arrays["tsoi"].max() < 100.0:
            raise ForcingError(f"forcing field 'tsoi'{where}: {_HINTS['tsoi']}")
        sand = arrays["cellsand"]
        if sand.max() <= 1.0 and sand.max() > 0.0:
            warnings.warn(f"forcing field 'cellsand'{where} is <= 1 everywhere: is it a fraction"
                          " rather than percent?", stacklevel=2)
        total = sum(arrays[k] for k in ("input_cwd", "input_litr1", "input_litr2", "input_litr3"))
        if np.any((total > 0) & (total < 1e-2)):
            warnings.warn(f"forcing inputs{where} sum to < 0.01 gC m-2 yr-1: are they per second"
                          " rather than per year?", stacklevel=2)
        if batch:
            for k in ("input_cwd", "input_litr1", "input_litr2", "input_litr3"):
                arrays[k] = np.broadcast_to(arrays[k], batch).copy()
        return cls(**arrays)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading batch axes (``()`` for a single site)."""
        return tuple(np.shape(self.cellsand)[:-1])

    def __getitem__(self, index: Any) -> "Forcing":
        """Select sites from a batched forcing (``forcing[3]``, ``forcing[:10]``)."""
        if not self.batch_shape:
            raise IndexError("this Forcing holds a single site")
        return jax.tree_util.tree_map(lambda a: a[index], self)

    def __len__(self) -> int:
        if not self.batch_shape:
            raise TypeError("this Forcing holds a single site")
        return self.batch_shape[0]

    @staticmethod
    def stack(forcings: "list[Forcing]") -> "Forcing":
        """Stack single-site forcings along a new leading site axis."""
        return jax.tree_util.tree_map(lambda *a: np.stack(a), *forcings)

    @property
    def total_input(self) -> Any:
        """Total annual litter input, gC m-2 yr-1."""
        return self.input_cwd + self.input_litr1 + self.input_litr2 + self.input_litr3


jax.tree_util.register_dataclass(
    Forcing, data_fields=[f.name for f in dataclasses.fields(Forcing)], meta_fields=[])

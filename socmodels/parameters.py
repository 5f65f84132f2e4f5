"""Parameter tables: names, prior bounds, customary values, units, model components.

A :class:`ParameterTable` is an ordered tuple of :class:`Parameter`; position ``i`` means
the same thing as the authors' ``kp(i+1)``. Priors are uniform on ``[lower, upper]``; the
unit cube ``u in (0, 1)`` maps to physical values by ``theta = lower + u * (upper - lower)``,
as in the original code. One exception: COMPAS ``tau4s3`` is log-uniform, reproducing the
prior the original code implied for enzyme turnover (see ``docs/differences.md``).
"""

from __future__ import annotations

import dataclasses
import keyword
from typing import Any, Iterator, NamedTuple

import jax.numpy as jnp
import numpy as np

__all__ = ["Parameter", "ParameterTable", "COMPONENTS", "ParameterError"]

COMPONENTS = {
    "A": "carbon transfer",
    "K": "baseline decomposition",
    "Xi": "environmental modifier",
    "V": "vertical transport",
    "I": "input allocation",
    "E": "non-microbial carbon transfer",
}


class ParameterError(ValueError):
    """A parameter vector has the wrong length, a NaN, or values outside the prior box."""


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One calibrated parameter.

    Attributes:
        name: the original code name (``kp`` element name in the MATLAB drivers).
        lower, upper: uniform prior bounds, physical units.
        default: customary value (CLM5: the CLM5 default; COMPAS: the code comment).
            It may lie outside the prior box (e.g. CLM5 ``efolding`` = 10 m).
        unit: physical unit.
        meaning: one-line meaning.
        component: model component (key of :data:`COMPONENTS`).
        source: where ``default`` comes from.
        scale: ``"linear"`` (uniform prior on [lower, upper]; the unit cube maps linearly)
            or ``"log"`` (uniform prior on [log lower, log upper]).
    """

    name: str
    lower: float
    upper: float
    default: float
    unit: str
    meaning: str
    component: str
    source: str = ""
    scale: str = "linear"

    def __post_init__(self) -> None:
        if self.scale not in ("linear", "log"):
            raise ValueError(f"parameter {self.name}: scale must be 'linear' or 'log'")
        if self.scale == "log" and self.lower <= 0:
            raise ValueError(f"parameter {self.name}: a log-scale parameter needs lower > 0")
        if not self.lower < self.upper:
            raise ValueError(f"parameter {self.name}: lower must be < upper")
        if self.component not in COMPONENTS:
            raise ValueError(f"parameter {self.name}: unknown component {self.component}")

    @property
    def default_in_prior(self) -> bool:
        return self.lower <= self.default <= self.upper


class ParameterTable(tuple):
    """An ordered, immutable table of :class:`Parameter` with vectorised helpers."""

    def __new__(cls, model: str, params: "list[Parameter]") -> "ParameterTable":
        obj = super().__new__(cls, params)
        obj.model = model
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise ValueError(f"{model}: duplicate parameter names")
        bad = [n for n in names if not n.isidentifier() or keyword.iskeyword(n)]
        if bad:
            raise ValueError(f"{model}: parameter names must be Python identifiers: {bad}")
        # One NamedTuple type per table: ``unpack`` returns it (a JAX pytree, since JAX
        # treats NamedTuples as pytree nodes).
        tag = "".join(c for c in model.title() if c.isalnum()) or "Model"
        obj.Values = NamedTuple(f"{tag}Parameters", [(n, Any) for n in names])
        return obj

    def unpack(self, theta) -> NamedTuple:
        """Physical parameter vector(s) -> NamedTuple with one field per parameter name.

        ``theta`` has shape ``(..., n)`` in table order; each field has shape ``(...)``.
        Pure indexing, so it works under ``jit``, ``vmap`` and ``grad``::

            p = clm5.PARAMETERS.unpack(theta)
            p.q10, p.w_scaling
        """
        t = jnp.asarray(theta)
        if t.ndim == 0 or t.shape[-1] != len(self):
            raise ParameterError(f"{self.model}: expected a parameter vector with last axis"
                                 f" {len(self)} ({self.names}); got shape {t.shape}")
        return self.Values(*(t[..., i] for i in range(len(self))))

    def pack(self, values) -> jnp.ndarray:
        """Inverse of :meth:`unpack`: a NamedTuple (or mapping) by name -> ``(..., n)``."""
        get = values.__getitem__ if isinstance(values, dict) else values.__getattribute__
        return jnp.stack([jnp.asarray(get(n)) for n in self.names], axis=-1)

    def __iter__(self) -> Iterator[Parameter]:  # for typing
        return super().__iter__()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self)

    @property
    def lower(self) -> np.ndarray:
        return np.array([p.lower for p in self])

    @property
    def upper(self) -> np.ndarray:
        return np.array([p.upper for p in self])

    @property
    def defaults(self) -> np.ndarray:
        """Customary values (some outside the prior box; see :meth:`defaults_clipped`)."""
        return np.array([p.default for p in self])

    def defaults_clipped(self) -> np.ndarray:
        """Customary values moved into the prior box."""
        return np.clip(self.defaults, self.lower, self.upper)

    def index(self, name: str) -> int:  # type: ignore[override]
        for i, p in enumerate(self):
            if p.name == name:
                return i
        raise KeyError(f"{self.model} has no parameter '{name}'; parameters are {self.names}")

    def by_component(self, component: str) -> list[int]:
        return [i for i, p in enumerate(self) if p.component == component]

    @property
    def log_scale(self) -> np.ndarray:
        """Boolean mask of parameters with a log-uniform prior."""
        return np.array([p.scale == "log" for p in self])

    def _bounds_transformed(self):
        lg = self.log_scale
        lo = np.where(lg, np.log(np.where(lg, self.lower, 1.0)), self.lower)
        hi = np.where(lg, np.log(np.where(lg, self.upper, 1.0)), self.upper)
        return lg, lo, hi

    def to_physical(self, u):
        """Unit cube -> physical values (works on JAX and NumPy arrays, any batch shape).

        Linear parameters: ``lower + u (upper - lower)``; log-scale ones:
        ``exp(log lower + u (log upper - log lower))``.
        """
        self._check_length(u, "to_physical")
        lg, lo, hi = self._bounds_transformed()
        v = lo + jnp.asarray(u) * (hi - lo)
        if not lg.any():
            return v
        return jnp.where(lg, jnp.exp(jnp.where(lg, v, 0.0)), v)

    def to_unit(self, theta):
        """Physical values -> unit cube (inverse of :meth:`to_physical`)."""
        self._check_length(theta, "to_unit")
        lg, lo, hi = self._bounds_transformed()
        t = jnp.asarray(theta)
        if lg.any():
            t = jnp.where(lg, jnp.log(jnp.where(lg, t, 1.0)), t)
        return (t - lo) / (hi - lo)

    def validate(self, theta, *, where: str = "", atol: float = 0.0) -> np.ndarray:
        """Check a physical parameter vector (eagerly); raise :class:`ParameterError`.

        Shape ``(..., n)``; every value finite and inside ``[lower, upper]`` (+- ``atol``
        relative to the range).
        """
        t = np.asarray(theta, dtype=np.float64)
        w = f" ({where})" if where else ""
        if t.ndim == 0 or t.shape[-1] != len(self):
            raise ParameterError(f"{self.model} parameter vector{w} has shape {t.shape}; the last"
                                 f" axis must have {len(self)} entries in order {self.names}")
        bad = ~np.isfinite(t)
        if bad.any():
            i = int(np.argwhere(bad)[0][-1])
            raise ParameterError(f"{self.model} parameter '{self.names[i]}'{w} is NaN/inf")
        tol = atol * (self.upper - self.lower)
        lo_bad = t < self.lower - tol
        hi_bad = t > self.upper + tol
        if lo_bad.any() or hi_bad.any():
            i = int(np.argwhere(lo_bad | hi_bad)[0][-1])
            v = t[..., i].ravel()
            raise ParameterError(
                f"{self.model} parameter '{self.names[i]}'{w} = {v[np.argmax(np.abs(v))]:.6g}"
                f" {self[i].unit} is outside its prior range [{self[i].lower:g}, {self[i].upper:g}]"
                " (pass physical values in PARAMETERS order, not unit-cube values?)")
        return t

    def as_markdown(self) -> str:
        """The table rendered as Markdown (used by ``docs/models.md``)."""
        rows = ["| # | name | meaning | lower | upper | prior | customary | unit | component |",
                "|---|---|---|---|---|---|---|---|---|"]
        for i, p in enumerate(self):
            prior = "log-uniform" if p.scale == "log" else "uniform"
            note = "" if p.default_in_prior else " (outside the prior box)"
            rows.append(f"| {i + 1} | `{p.name}` | {p.meaning} | {p.lower:g} | {p.upper:g} |"
                        f" {prior} | {p.default:g}{note} | {p.unit} |"
                        f" {p.component} ({COMPONENTS[p.component]}) |")
        return "\n".join(rows)

    def _check_length(self, x, fn: str) -> None:
        """Raise :class:`ParameterError` unless the last axis has one entry per parameter."""
        shape = np.shape(x)
        if len(shape) == 0 or shape[-1] != len(self):
            got = "a scalar" if len(shape) == 0 else f"{shape[-1]} (shape {tuple(shape)})"
            raise ParameterError(
                f"{self.model} PARAMETERS.{fn}: the last axis must have {len(self)} entries,"
                f" one per parameter in order {self.names}; got {got}")

    def to_dataframe(self):
        """The table as a :class:`pandas.DataFrame` (one row per parameter, index ``name``).

        Columns: ``meaning``, ``lower``, ``upper``, ``prior`` (uniform/log-uniform),
        ``customary``, ``default_in_prior`` (False where the customary value lies outside the
        prior box, e.g. CLM5 ``efolding``), ``unit``, ``component``, ``source``.
        """
        import pandas as pd

        rows = [{"name": p.name, "meaning": p.meaning, "lower": p.lower, "upper": p.upper,
                 "prior": "log-uniform" if p.scale == "log" else "uniform",
                 "customary": p.default, "default_in_prior": p.default_in_prior,
                 "unit": p.unit, "component": p.component, "source": p.source}
                for p in self]
        df = pd.DataFrame(rows).set_index("name")
        df.attrs["model"] = self.model
        return df

    def to_xarray(self):
        """The table as an :class:`xarray.Dataset` along ``parameter`` (CF units per parameter).

        Variables ``lower``, ``upper``, ``customary`` carry their units through the
        ``parameter_units`` coordinate (see :mod:`socmodels.netcdf`); ``default_in_prior``,
        ``log_scale``, ``meaning``, ``component`` describe each parameter.
        """
        import xarray as xr

        from socmodels.netcdf import add_parameter_units, set_conventions

        ds = xr.Dataset(
            {"lower": ("parameter", self.lower, {"long_name": "lower prior bound"}),
             "upper": ("parameter", self.upper, {"long_name": "upper prior bound"}),
             "customary": ("parameter", self.defaults, {"long_name": "customary value"}),
             "default_in_prior": ("parameter", np.array([p.default_in_prior for p in self]),
                                  {"long_name": "customary value inside the prior box"}),
             "log_scale": ("parameter", self.log_scale,
                           {"long_name": "log-uniform prior (else uniform)"}),
             "component": ("parameter", np.array([p.component for p in self], dtype=object),
                           {"long_name": "model component"})},
            coords={"parameter": list(self.names)})
        ds = add_parameter_units(ds, self, variables=["lower", "upper", "customary"])
        return set_conventions(ds, f"{self.model} parameter table")

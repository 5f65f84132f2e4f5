"""A three-parameter toy soil model with the ``socmodels`` model contract.

It lets the sampler machinery (kernels, runner, checkpoints, Dask) be tested and
benchmarked in seconds, independently of CLM5/COMPAS compile times. The SOC profile is

.. math:: s(z) = \\frac{I}{100}\\, a\\, e^{-z / b} \\quad [\\mathrm{gC\\,m^{-3}}]

at the 20 layer nodes, with ``I`` the site's total litter input [gC m-2 yr-1]. ``c`` does
not enter the profile (an unidentified parameter: its posterior equals its prior).
States with ``a * b > 60,000`` are declared infeasible, so the ``-inf`` path is exercised.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from socmodels import layers
from socmodels.parameters import Parameter, ParameterTable

__all__ = ["PARAMETERS", "NAME", "prepare", "steady_state", "ToyState", "FEASIBLE_LIMIT"]

NAME = "TOY"
FEASIBLE_LIMIT = 60_000.0
PARAMETERS = ParameterTable("TOY", [
    Parameter("a", 1_000.0, 50_000.0, 20_000.0, "gC m-3", "surface SOC density per 100 gC"
              " m-2 yr-1 input", "K"),
    Parameter("b", 0.05, 2.0, 0.5, "m", "e-folding depth of the profile", "V"),
    Parameter("c", 0.0, 1.0, 0.5, "1", "a parameter the profile does not depend on", "A"),
])
_Z = jnp.asarray(layers.zsoi)


@dataclasses.dataclass(frozen=True)
class ToyState:
    """Toy steady state: ``soc`` (20,) [gC m-3], ``stock`` [gC m-2], ``feasible``."""

    soc: Any
    pools: Any
    stock: Any
    feasible: Any


jax.tree_util.register_dataclass(ToyState, data_fields=["soc", "pools", "stock", "feasible"],
                                 meta_fields=[])


def prepare(forcing) -> jnp.ndarray:
    """Site precomputation: the input scale ``I / 100`` (a scalar per site)."""
    total = (jnp.asarray(forcing.input_cwd) + jnp.asarray(forcing.input_litr1)
             + jnp.asarray(forcing.input_litr2) + jnp.asarray(forcing.input_litr3))
    return total / 100.0


def steady_state(theta, prepared) -> ToyState:
    """Toy profile for physical parameters ``theta`` (3,)."""
    th = jnp.asarray(theta)
    scale = prepared if not hasattr(prepared, "input_cwd") else prepare(prepared)
    soc = scale * th[0] * jnp.exp(-_Z / th[1])
    return ToyState(soc=soc, pools=soc[None, :], stock=jnp.sum(soc * jnp.asarray(layers.dz)),
                    feasible=(th[0] * th[1] <= FEASIBLE_LIMIT) & jnp.all(jnp.isfinite(soc)))

"""A three-parameter toy soil model with the soil-model contract (a test utility).

It lets the sampler machinery (kernels, runner, checkpoints, Dask) be tested and
benchmarked in seconds, independently of CLM5/COMPAS compile times. ``tests/conftest.py``
registers it (``socmodels.register_model``) as ``"toy"``. The SOC profile is

.. math:: s(z) = \\frac{I}{100}\\, a\\, e^{-z / b} \\quad [\\mathrm{gC\\,m^{-3}}]

at the 20 layer nodes, with ``I`` the site's total litter input [gC m-2 yr-1]. ``c`` does
not enter the profile (an unidentified parameter: its posterior equals its prior).
States with ``a * b > 60,000`` are declared infeasible (``Failure.DENSITY_CAP``), so the
``-inf`` path is exercised.
"""

from __future__ import annotations

import jax.numpy as jnp

from socmodels import layers
from socmodels.parameters import Parameter, ParameterTable
from socmodels.processes import STOCK_1M_WEIGHTS, SteadyState
from socmodels.status import status_bits

__all__ = ["PARAMETERS", "NAME", "POOL_NAMES", "prepare", "steady_state", "customary_theta",
           "FEASIBLE_LIMIT"]

NAME = "TOY"
POOL_NAMES = ("SOC",)
FEASIBLE_LIMIT = 60_000.0
PARAMETERS = ParameterTable("TOY", [
    Parameter("a", 1_000.0, 50_000.0, 20_000.0, "gC m-3", "surface SOC density per 100 gC"
              " m-2 yr-1 input", "K"),
    Parameter("b", 0.05, 2.0, 0.5, "m", "e-folding depth of the profile", "V"),
    Parameter("c", 0.0, 1.0, 0.5, "1", "a parameter the profile does not depend on", "A"),
])
_Z = jnp.asarray(layers.zsoi)
_DZ = jnp.asarray(layers.dz)


def prepare(forcing) -> jnp.ndarray:
    """Site precomputation: the input scale ``I / 100`` (a scalar per site)."""
    total = (jnp.asarray(forcing.input_cwd) + jnp.asarray(forcing.input_litr1)
             + jnp.asarray(forcing.input_litr2) + jnp.asarray(forcing.input_litr3))
    return total / 100.0


def steady_state(theta, prepared, *, check_bounds: bool = False) -> SteadyState:
    """Toy profile for physical parameters ``theta`` (3,) (``check_bounds`` is ignored)."""
    del check_bounds
    p = PARAMETERS.unpack(theta)
    scale = prepared if not hasattr(prepared, "input_cwd") else prepare(prepared)
    soc = scale * p.a * jnp.exp(-_Z / p.b)
    status = status_bits(NONFINITE=~jnp.all(jnp.isfinite(soc)),
                         DENSITY_CAP=p.a * p.b > FEASIBLE_LIMIT)
    stock = jnp.sum(soc * _DZ)
    total_input = scale * 100.0
    # a steady state respires what it receives (mass balance), whatever the profile shape
    return SteadyState(pools=soc[None, :], soc=soc, stock=stock,
                       stock_1m=jnp.sum(soc * STOCK_1M_WEIGHTS), respiration=total_input,
                       total_input=total_input, status=status, pool_names=POOL_NAMES)


def customary_theta(forcing=None):
    """The table's customary values (broadcast over the forcing's batch axes)."""
    th = jnp.asarray(PARAMETERS.defaults)
    if forcing is not None:
        th = jnp.broadcast_to(th, jnp.shape(forcing.input_cwd) + th.shape)
    return th

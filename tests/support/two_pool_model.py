"""A small third soil model, defined only in the tests, to prove the soil-model contract.

Two pools per layer, litter L and mineral SOC S, first-order kinetics, no transport::

    dL/dt = I_z - k_L xi_z L          dS/dt = h k_L xi_z L - k_S xi_z S

with ``I_z`` the plant input of layer z (Jackson profile with ``beta``), ``xi_z`` the
12-month mean modifier of ``socmodels.processes.mean_modifier`` (Q10 ``q10``) times the
COMPAS depth scalar, ``k = 1 / tau``, fixed litter turnover ``TAU_LITTER`` and
humification fraction ``HUMIFIED``. Steady state: ``L = I / (k_L xi)``,
``S = h I / (k_S xi)``. Built only from the package's public pieces; nothing in the package
knows about it.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from socmodels import layers
from socmodels.parameters import Parameter, ParameterTable
from socmodels.processes import (
    STOCK_1M_WEIGHTS,
    SteadyState,
    feasibility_status,
    input_profile,
    mean_modifier,
    prepare_site,
)

NAME = "TWOPOOL"
POOL_NAMES = ("LIT", "SOC")
TAU_LITTER = 0.5
"""Litter turnover time [yr] (fixed)."""
HUMIFIED = 0.1
"""Fraction of litter decomposition that becomes SOC (fixed)."""
PARAMETERS = ParameterTable("TWOPOOL", [
    Parameter("tau_soil", 5.0, 100.0, 30.0, "yr", "mineral SOC turnover time", "K"),
    Parameter("q10", 1.2, 3.0, 1.5, "1", "Q10 of decomposition", "Xi"),
    Parameter("beta", 0.9, 0.99, 0.95, "1 (per cm)", "input-profile shape", "I"),
])
_DZ = jnp.asarray(layers.dz)
_DEPTH = jnp.exp(-jnp.asarray(layers.zsoi) / 0.5)


def prepare(forcing):
    """Site-only precomputation (the shared ``prepare_site``)."""
    return prepare_site(forcing)


def steady_state(theta, prepared, *, check_bounds: bool = True) -> SteadyState:
    """Steady state for physical ``theta`` (3,) at one site."""
    if check_bounds and isinstance(theta, np.ndarray):
        PARAMETERS.validate(theta)
    prep = prepared if hasattr(prepared, "t10") else prepare(prepared)
    p = PARAMETERS.unpack(theta)
    xi, _ = mean_modifier(prep, p.q10, 1.0)
    xi = xi * _DEPTH
    inp = jnp.sum(prep.inputs) * input_profile(p.beta, prep.profile_on) / _DZ
    litter = inp * TAU_LITTER / xi
    soil = HUMIFIED * inp * p.tau_soil / xi
    pools = jnp.stack([litter, soil])
    stock = jnp.sum(soil * _DZ)
    return SteadyState(pools=pools, soc=soil, stock=stock,
                       stock_1m=jnp.sum(soil * STOCK_1M_WEIGHTS),
                       respiration=jnp.sum(inp * _DZ), total_input=jnp.sum(prep.inputs),
                       status=feasibility_status(pools), pool_names=POOL_NAMES)


def customary_theta(forcing=None):
    """The table's customary values (broadcast over the forcing's batch axes)."""
    th = jnp.asarray(PARAMETERS.defaults)
    if forcing is not None:
        th = jnp.broadcast_to(th, jnp.shape(forcing.input_cwd) + th.shape)
    return th

"""Template of a soil model for ``socmc`` (copy this file, fill in the physics).

A model is a module (or any object) with the members of ``socmodels.SoilModel``. Register
it once, and everything downstream finds it by name::

    import socmodels, my_model
    socmodels.register_model(my_model)          # key: my_model.NAME.lower()
    inference.run_sites(profiles, forcing, "mymodel", "am", output_dir="runs/mymodel")

Required: ``NAME``, ``POOL_NAMES``, ``PARAMETERS``, ``prepare``, ``steady_state``,
``customary_theta``. Optional: ``site_components`` (system-level components for
``surrogate.analysis.components``), ``site_michaelis_ratios`` (Michaelis-Menten models),
``virtual_truth`` (to take part in ``socmodels.data.virtual_world``),
``CUSTOMARY_FROM_POSTERIOR``. See ``docs/architecture.md``; ``tests/support/two_pool_model.py``
is a complete small example, ``socmodels/clm5.py`` and ``socmodels/compas.py`` full ones.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from socmodels import layers
from socmodels.parameters import Parameter, ParameterTable
from socmodels.processes import (
    STOCK_1M_WEIGHTS,
    SitePrep,
    SteadyState,
    feasibility_status,
    input_profile,
    mean_modifier,
    prepare_site,
)
from socmodels.status import status_bits

NAME = "MYMODEL"
"""Display name; the registry key is ``NAME.lower()``."""
POOL_NAMES = ("LIT", "SOC")
"""Rows of ``SteadyState.pools``."""
PARAMETERS = ParameterTable(NAME, [
    # name (a Python identifier), lower, upper, customary value, unit, meaning, component
    # (a key of socmodels.COMPONENTS); scale="log" for a log-uniform prior.
    Parameter("tau_soil", 5.0, 100.0, 30.0, "yr", "SOC turnover time", "K"),
    Parameter("q10", 1.2, 3.0, 1.5, "1", "Q10 of decomposition", "Xi"),
    Parameter("beta", 0.9, 0.99, 0.95, "1 (per cm)", "input-profile shape", "I"),
])
_DZ = jnp.asarray(layers.dz)


def prepare(forcing) -> SitePrep:
    """Everything that depends on the site only (done once per site; pure, vmappable)."""
    return prepare_site(forcing)


def steady_state(theta, prepared, *, check_bounds: bool = True) -> SteadyState:
    """Steady state for physical ``theta`` (d,) at one site. Pure JAX (jit/vmap/grad).

    Report infeasibility in ``status`` (``socmodels.Failure`` bits), never clip.
    """
    if check_bounds and isinstance(theta, np.ndarray):
        PARAMETERS.validate(theta)
    prep = prepared if isinstance(prepared, SitePrep) else prepare(prepared)
    p = PARAMETERS.unpack(theta)                         # p.tau_soil, p.q10, p.beta
    xi, _ = mean_modifier(prep, p.q10, 1.0)              # 12-month mean modifier (20,)
    inp = jnp.sum(prep.inputs) * input_profile(p.beta, prep.profile_on) / _DZ
    litter = inp * 0.5 / xi
    soil = 0.1 * inp * p.tau_soil / xi
    pools = jnp.stack([litter, soil])
    # model-specific conditions add their own bits, e.g. status_bits(NO_POSITIVE_ROOT=...)
    status = feasibility_status(pools) | status_bits()
    return SteadyState(pools=pools, soc=soil, stock=jnp.sum(soil * _DZ),
                       stock_1m=jnp.sum(soil * STOCK_1M_WEIGHTS),
                       respiration=jnp.sum(inp * _DZ), total_input=jnp.sum(prep.inputs),
                       status=status, pool_names=POOL_NAMES)


def customary_theta(forcing=None):
    """Customary parameters, broadcast over the forcing's batch axes when given."""
    th = jnp.asarray(PARAMETERS.defaults)
    if forcing is not None:
        th = jnp.broadcast_to(th, jnp.shape(forcing.input_cwd) + th.shape)
    return th

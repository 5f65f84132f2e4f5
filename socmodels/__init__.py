"""socmodels: CLM5 and COMPAS soil-carbon steady states as differentiable JAX functions.

Importing ``socmodels`` enables JAX float64 (``jax_enable_x64``): turnover times span
0.01-1000 years and the steady-state solves need double precision.

Quick start::

    import socmodels
    from socmodels import clm5, compas
    f = socmodels.data.climate_forcing(...)            # or Forcing.create(...)
    ss = clm5.steady_state(clm5.PARAMETERS.defaults_clipped(), f)
    ss.soc, ss.stock, ss.feasible
"""

import jax

jax.config.update("jax_enable_x64", True)

# The built-in models are imported eagerly: registering them needs the modules, and their
# module-level JAX constants must not be created inside a trace (a lazy import under jit).
from socmodels import clm5, compas, layers  # noqa: E402
from socmodels.contract import (  # noqa: E402
    MODELS,
    FeasibleMap,
    SoilModel,
    get_model,
    has_capability,
    register_model,
    resolve_model,
)
from socmodels.forcing import Forcing, ForcingError  # noqa: E402
from socmodels.parameters import COMPONENTS, Parameter, ParameterError, ParameterTable  # noqa: E402
from socmodels.status import Failure, describe_status  # noqa: E402

register_model(clm5)
register_model(compas)

__all__ = ["layers", "Forcing", "ForcingError", "Parameter", "ParameterTable", "ParameterError",
           "COMPONENTS", "get_model", "register_model", "resolve_model", "has_capability",
           "MODELS", "SoilModel", "FeasibleMap",
           "Failure", "describe_status", "clm5", "compas"]


def __getattr__(name: str):
    # Lazy sub-modules, so that `import socmodels` stays cheap.
    import importlib
    if name in ("observation", "data", "reference"):
        return importlib.import_module(f"socmodels.{name}")
    if name == "observe":
        from socmodels.observation import observe
        return observe
    raise AttributeError(f"module 'socmodels' has no attribute '{name}'")

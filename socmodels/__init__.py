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

from socmodels import layers  # noqa: E402
from socmodels.forcing import Forcing, ForcingError  # noqa: E402
from socmodels.parameters import COMPONENTS, Parameter, ParameterError, ParameterTable  # noqa: E402

__all__ = ["layers", "Forcing", "ForcingError", "Parameter", "ParameterTable", "ParameterError",
           "COMPONENTS", "get_model", "MODELS"]

MODELS = ("clm5", "compas")


def get_model(name: str):
    """Return the model module (``socmodels.clm5`` or ``socmodels.compas``) by name."""
    key = name.lower()
    if key == "clm5":
        from socmodels import clm5
        return clm5
    if key == "compas":
        from socmodels import compas
        return compas
    raise ValueError(f"unknown model '{name}'; choose one of {MODELS}")


def __getattr__(name: str):
    # Lazy sub-modules, so that `import socmodels` stays cheap.
    import importlib
    if name in ("clm5", "compas", "observation", "data", "reference", "transport"):
        return importlib.import_module(f"socmodels.{name}")
    if name == "observe":
        from socmodels.observation import observe
        return observe
    raise AttributeError(f"module 'socmodels' has no attribute '{name}'")

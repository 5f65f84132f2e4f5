"""inference: site-level Bayesian calibration of CLM5 and COMPAS (PRODA step one).

* :func:`site_model` / :func:`log_density` -- the model of one soil profile (NumPyro model
  and pure log density) with the :mod:`~inference.likelihoods` ``lognormal`` (default),
  ``gaussian_relative`` and ``nse``.
* :mod:`inference.am` -- the adaptive-Metropolis functional core;
  :class:`AdaptiveMetropolis` -- the same as a ``numpyro.infer.MCMCKernel``.
* :func:`run_sites` -- all sites x chains in one compiled program, chunked, checkpointed,
  fingerprinted, resumable, optionally on a Dask cluster; :func:`load_site_table`,
  :func:`load_site` (modules :mod:`~inference.config`, :mod:`~inference.programs`,
  :mod:`~inference.checkpoints`, :mod:`~inference.schema`, :mod:`~inference.run`).
* :func:`recommended` -- the sampler and space chosen by measurement for each model
  (:mod:`inference.recommended`; the pipeline's defaults).
* :mod:`inference.samplers` -- the sampler registry (:func:`register_sampler`,
  :func:`get_sampler`) and the AM and NUTS cores behind one contract.
* :mod:`inference.diagnostics` -- R-hat/ESS/MCSE (ArviZ), NSE, screening, dashboard.
* :func:`recovery` / :func:`recovery_experiment` -- parameter recovery on virtual sites.
* :func:`compare_methods` -- AM vs NUTS (vs PRODA's sampler) on the same sites.

See ``docs/inference.md``.
"""

import socmodels  # noqa: F401  (enables float64)
from inference import am
from inference.checkpoints import CorruptCheckpointWarning
from inference.compare import compare_methods
from inference.compilation import enable_compilation_cache
from inference.convergence import Convergence
from inference.diagnostics import dashboard, nse, screen, summarize
from inference.kernels import AdaptiveMetropolis, AMSamplerState
from inference.likelihoods import (
    Likelihood,
    gaussian_relative,
    get_likelihood,
    layer_weights,
    lognormal,
)
from inference.likelihoods import nse as nse_likelihood
from inference.models import SitePrediction, log_density, resolve_model, site_model
from inference.recommended import recommended
from inference.recovery import recovery, recovery_experiment
from inference.run import (
    Chunk,
    RunConfig,
    RunConfigError,
    SiteRun,
    completed_sites,
    load_site,
    load_site_table,
    run_chunk,
    run_chunk_to_file,
    run_sites,
)
from inference.samplers import (
    AMConfig,
    NUTSConfig,
    SamplerCore,
    adaptive_metropolis,
    get_sampler,
    nuts,
    proda_compat,
    register_sampler,
    sampler_core,
    sampler_from_budget,
    two_phase,
)
from inference.samplers_blackjax import register_all as _register_blackjax_samplers
from inference.sites import ProfileError, SiteData, make_site, read_profiles, site_key
from inference.welford import WelfordState, welford_covariance, welford_init, welford_update

# chees, mams, nuts_bj (BlackJAX) behind the same sampler contract (docs/inference.md §7)
_register_blackjax_samplers()

__all__ = [
    "am", "AdaptiveMetropolis", "AMSamplerState",
    "Likelihood", "lognormal", "gaussian_relative", "nse_likelihood", "get_likelihood",
    "layer_weights",
    "SiteData", "make_site", "read_profiles", "site_key", "ProfileError",
    "site_model", "log_density", "resolve_model", "SitePrediction",
    "AMConfig", "NUTSConfig", "adaptive_metropolis", "two_phase", "proda_compat", "nuts",
    "get_sampler", "register_sampler", "sampler_core", "sampler_from_budget", "SamplerCore",
    "run_sites", "recommended", "Convergence", "run_chunk", "run_chunk_to_file", "RunConfig",
    "Chunk", "SiteRun",
    "RunConfigError", "completed_sites", "load_site", "load_site_table",
    "CorruptCheckpointWarning", "enable_compilation_cache",
    "summarize", "nse", "screen", "dashboard",
    "recovery", "recovery_experiment", "compare_methods",
    "WelfordState", "welford_init", "welford_update", "welford_covariance",
]

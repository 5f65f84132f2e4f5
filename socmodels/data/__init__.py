"""Data in, virtual world out: profiles, forcing, covariates and the embedded default dataset.

One validated door per kind of data (see ``docs/data.md``):

* **Soil profiles**: :func:`read_wosis` (a WoSIS download folder, any of the 2019-snapshot,
  web-service and 2023-snapshot layouts) and :func:`read_profiles_csv` (one row per layer)
  return a screened ``(profile, layer)`` :class:`xarray.Dataset` with SOC density; what was
  dropped and why is in its :class:`ScreeningReport` (:func:`screening_report`). Problems in
  files raise :class:`DataError` naming file, line and column.
* **Forcing from CESM2/CLM5**: :func:`read_clm5_history` (monthly history files -> 12-month
  climatology on land cells), :func:`forcing_at_sites` (nearest land cell, distance
  reported), :func:`climatology_forcing` (every cell).
* **Forcing from site climate**: :func:`climate_forcing` (temperature, amplitude, moisture,
  NPP, bedrock, active layer -> a full :class:`~socmodels.Forcing`).
* **Covariates**: :data:`COVARIATES` (the paper's 60 names), :func:`covariates_at_sites`,
  :func:`read_covariates`, :func:`write_covariates`, :class:`MinMaxScaler`, :func:`bioclim`.
* **The virtual world**: :func:`virtual_world` generates a synthetic Earth with known true
  parameters, writes it in the real file formats and reads it back with the readers above.
"""

from socmodels.data._report import (
    LAYER_REASONS,
    PROFILE_REASONS,
    DataError,
    DataWarning,
    Issue,
    ScreeningReport,
    screening_report,
)
from socmodels.data._wosis_writer import LAYOUTS, write_wosis
from socmodels.data.cesm import (
    HISTORY_VARIABLES,
    INPUT_VARIABLES,
    SiteForcing,
    climatology_forcing,
    forcing_at_sites,
    nearest_cells,
    read_clm5_history,
    write_clm5_history,
)
from socmodels.data.climate import climate_forcing, nbedrock_from_depth, thaw_depth
from socmodels.data.covariates import (
    BIOCLIM,
    COVARIATE_INFO,
    COVARIATES,
    MinMaxScaler,
    SiteCovariates,
    bioclim,
    covariates_at_sites,
    grid_table,
    read_covariates,
    usda_texture_class,
    write_covariates,
)
from socmodels.data.profiles import (
    BD_CODES,
    PTF_ALPHA,
    PTF_BETA,
    PTF_GAMMA,
    SOC_UNITS,
    combine_profiles,
    normalize_licence,
    pedotransfer_bd,
    read_profiles_csv,
    read_wosis,
    soc_density,
)
from socmodels.data.world import SIZES, VirtualWorld, plot_virtual_world, virtual_world

__all__ = [
    # profiles
    "read_wosis", "read_profiles_csv", "combine_profiles", "SOC_UNITS", "pedotransfer_bd",
    "soc_density", "normalize_licence",
    "write_wosis", "LAYOUTS", "BD_CODES", "PTF_ALPHA", "PTF_BETA", "PTF_GAMMA",
    "DataError", "DataWarning", "Issue", "ScreeningReport", "screening_report", "LAYER_REASONS",
    "PROFILE_REASONS",
    # forcing
    "read_clm5_history", "forcing_at_sites", "climatology_forcing", "SiteForcing",
    "write_clm5_history", "nearest_cells", "HISTORY_VARIABLES", "INPUT_VARIABLES",
    "climate_forcing", "thaw_depth", "nbedrock_from_depth",
    # covariates
    "COVARIATES", "COVARIATE_INFO", "BIOCLIM", "bioclim", "usda_texture_class",
    "MinMaxScaler", "covariates_at_sites", "SiteCovariates", "grid_table",
    "read_covariates", "write_covariates",
    # virtual world
    "virtual_world", "VirtualWorld", "SIZES", "plot_virtual_world",
]

"""Data in, virtual world out: profiles, forcing, covariates and the embedded default dataset.

One validated door per kind of data (see ``docs/data.md``):

* **Soil profiles**: :func:`read_wosis` (one or more WoSIS download folders, any of the
  2019-snapshot, web-service and 2023-snapshot layouts, any number of files per property),
  :func:`read_profiles_csv` (one row per layer) and :func:`combine_profiles` (several
  datasets without profile-id collisions)
  return a screened ``(profile, layer)`` :class:`xarray.Dataset` with SOC density; what was
  dropped and why is in its :class:`ScreeningReport` (:func:`screening_report`). Row-level
  problems are excluded and reported (file, line, column; one :class:`DataWarning`), or
  raise :class:`DataError` naming file, line and column with ``on_error="raise"``.
* **Forcing from CESM2/CLM5**: :func:`read_clm5_history` (monthly history files -> 12-month
  climatology on land cells), :func:`forcing_at_sites` (nearest land cell, distance
  reported), :func:`climatology_forcing` (every cell).
* **Forcing from site climate**: :func:`site_climate` (MAT/MAP, optionally PET),
  :func:`monthly_climate` (12 monthly means), :func:`read_climate_table` (a gridded CSV or
  NetCDF, nearest land cell, distance reported) -> :class:`SiteClimate`, whose ``.forcing()``
  calls :func:`climate_forcing` (temperature, amplitude, moisture, NPP, bedrock, active
  layer -> a full :class:`~socmodels.Forcing`); recipes: Miami NPP (:func:`miami_npp`),
  Thornthwaite PET (:func:`thornthwaite_pet`), :func:`moisture_index`.
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
from socmodels.data.climate import (
    ClimateAtSites,
    SiteClimate,
    climate_forcing,
    damping_depth,
    miami_npp,
    moisture_index,
    monthly_climate,
    nbedrock_from_depth,
    read_climate_table,
    site_climate,
    thaw_depth,
    thornthwaite_pet,
)
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
    "climate_forcing", "thaw_depth", "nbedrock_from_depth", "site_climate", "monthly_climate",
    "read_climate_table", "SiteClimate", "ClimateAtSites", "miami_npp", "thornthwaite_pet",
    "moisture_index", "damping_depth",
    # covariates
    "COVARIATES", "COVARIATE_INFO", "BIOCLIM", "bioclim", "usda_texture_class",
    "MinMaxScaler", "covariates_at_sites", "SiteCovariates", "grid_table",
    "read_covariates", "write_covariates",
    # virtual world
    "virtual_world", "VirtualWorld", "SIZES", "plot_virtual_world",
]

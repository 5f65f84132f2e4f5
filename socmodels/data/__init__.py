"""Data in: soil profiles, forcing, covariates, and the embedded virtual world."""
from socmodels.data._report import DataError, Issue, ScreeningReport, screening_report
from socmodels.data.profiles import (pedotransfer_bd, read_profiles_csv, read_wosis,
                                     soc_density)

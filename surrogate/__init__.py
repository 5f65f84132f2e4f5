"""surrogate: the PRODA neural-network step and the global analyses (Tao et al., GCB 2024).

Covariates -> site posterior-mean parameters (unit cube) with a Flax NNX MLP trained by
Adadelta, bootstrap and best-guess ensembles, parameter maps as ``xarray`` datasets, and the
map-level analyses (SOC stocks and totals, log-SOC correlation, pooled NSE, system-level
components CTE/K/Xi/V/B, Michaelis ratios, zonal profiles). See ``docs/surrogate.md``.
"""

from surrogate import analysis, losses
from surrogate.analysis import (
    MichaelisRatios,
    SystemComponents,
    cell_area,
    components,
    components_clm5,
    components_compas,
    components_to_dataset,
    ensemble_nse,
    first_order_fraction,
    global_total,
    log_correlation,
    mask_valid,
    michaelis_ratios,
    nse_bootstrap,
    pooled_nse,
    soc_stock,
    zonal_profile,
)
from surrogate.losses import LOSSES, get_loss, mare, mse, mse500, product, product_loss, scaled
from surrogate.mlp import MLP, PRODA_HIDDEN
from surrogate.predict import (
    clip_unit,
    predict_maps,
    predict_members,
    predict_unit,
    summarize_ensemble,
)
from surrogate.scaling import MinMaxScaler
from surrogate.train import (
    Ensemble,
    TrainConfig,
    best_guess_ensemble,
    bootstrap_ensemble,
    bootstrap_indices,
    heldout_indices,
    load_ensemble,
    save_ensemble,
    split_indices,
    train_ensemble,
)

__all__ = [
    "analysis",
    "losses",
    "LOSSES",
    "get_loss",
    "mse",
    "mare",
    "mse500",
    "product",
    "product_loss",
    "scaled",
    "MLP",
    "PRODA_HIDDEN",
    "MinMaxScaler",
    "TrainConfig",
    "Ensemble",
    "train_ensemble",
    "bootstrap_ensemble",
    "best_guess_ensemble",
    "heldout_indices",
    "split_indices",
    "bootstrap_indices",
    "save_ensemble",
    "load_ensemble",
    "clip_unit",
    "predict_unit",
    "predict_members",
    "summarize_ensemble",
    "predict_maps",
    "cell_area",
    "soc_stock",
    "mask_valid",
    "global_total",
    "log_correlation",
    "pooled_nse",
    "nse_bootstrap",
    "ensemble_nse",
    "SystemComponents",
    "components",
    "components_clm5",
    "components_compas",
    "components_to_dataset",
    "MichaelisRatios",
    "michaelis_ratios",
    "first_order_fraction",
    "zonal_profile",
]

"""Synthetic single-site forcings spanning the models' regimes (test utilities)."""

from __future__ import annotations

import numpy as np

from socmodels import Forcing, layers

__all__ = ["synthetic_forcing", "FORCING_KINDS"]


def synthetic_forcing(kind: str = "deep") -> Forcing:
    """Synthetic single-site forcings spanning the model's regimes.

    deep: temperate, bioturbation, no bedrock. permafrost: cold, seasonally varying active
    layer <= 2 m (cryoturbation, some months frozen -> input to layer 1). bedrock: bedrock
    at layer 8 (mixing stops there), dry. tropical: warm, wet, low oxygen at depth.
    """
    m = np.arange(12)
    z = layers.zsoi
    season = np.cos(2 * np.pi * (m - 6) / 12)[:, None]
    if kind == "deep":
        tsoi = 283.15 + 10.0 * season * np.exp(-z / 1.5)
        w = np.full((12, 20), 0.6)
        o = np.ones((12, 20))
        alt = np.full(12, 8.6)
        altly = alt
        nb = np.full(12, 20)
        inputs = (50.0, 150.0, 250.0, 100.0)
    elif kind == "permafrost":
        tsoi = 266.15 + 18.0 * season * np.exp(-z / 1.0)
        w = np.clip(0.3 + 0.4 * (tsoi > 273.15), 0, 1) * np.ones((12, 20))
        o = np.clip(1.0 - 0.05 * z, 0.2, 1.0)[None, :] * np.ones((12, 1))
        alt = np.array([0.0, 0.0, 0.0, 0.1, 0.4, 0.8, 1.1, 1.2, 1.0, 0.5, 0.1, 0.0])
        altly = np.full(12, 1.1)
        nb = np.full(12, 20)
        inputs = (10.0, 40.0, 60.0, 30.0)
    elif kind == "bedrock":
        tsoi = 290.15 + 6.0 * season * np.exp(-z / 2.0)
        w = np.full((12, 20), 0.35)
        o = np.ones((12, 20))
        alt = np.full(12, 8.6)
        altly = alt
        nb = np.array([8] * 6 + [9] * 6)
        inputs = (20.0, 80.0, 120.0, 60.0)
    elif kind == "tropical":
        tsoi = 299.15 + 1.5 * season * np.exp(-z / 1.0)
        w = np.full((12, 20), 0.9)
        o = np.clip(1.0 - 0.1 * z, 0.2, 1.0)[None, :] * np.ones((12, 1))
        alt = np.full(12, 8.6)
        altly = alt
        nb = np.full(12, 20)
        inputs = (150.0, 300.0, 400.0, 200.0)
    else:
        raise ValueError(kind)
    return Forcing.create(
        tsoi=tsoi, w_scalar=w, o_scalar=o, fpi_vr=np.full((12, 20), 0.7), altmax=alt,
        altmax_lastyear=altly, nbedrock=nb, input_cwd=inputs[0], input_litr1=inputs[1],
        input_litr2=inputs[2], input_litr3=inputs[3], cellsand=np.full(20, 35.0))


FORCING_KINDS = ("deep", "permafrost", "bedrock", "tropical")

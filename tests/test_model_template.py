"""The model template in ``docs/`` satisfies the contract and runs (so it cannot rot)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import jax
import numpy as np

import socmodels
from inference.testing import example_forcing


def test_template_is_a_working_model():
    path = Path(__file__).resolve().parents[1] / "docs" / "model_template.py"
    spec = importlib.util.spec_from_file_location("model_template", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert isinstance(mod, socmodels.SoilModel)
    f = example_forcing(2)
    ss = jax.vmap(mod.steady_state)(mod.customary_theta(f), jax.vmap(mod.prepare)(f))
    assert np.all(np.asarray(ss.feasible)) and np.all(np.asarray(ss.stock) > 0)

"""Layer grid, parameter tables, forcing pytree and the observation operator."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.interpolate import PchipInterpolator

from socmodels import Forcing, clm5, compas, layers, observe
from socmodels.observation import check_depths
from tests.support.forcings import synthetic_forcing


def test_layer_grid_matches_clm5():
    np.testing.assert_allclose(layers.zisoi[[0, 4, 8, 19]], [0.02, 0.32, 1.20, 8.60])
    np.testing.assert_allclose(layers.zsoi[[0, 9, 19]], [0.01, 1.36, 8.03])
    np.testing.assert_allclose(layers.dz_node[[0, 1, 19]], [0.01, 0.03, 1.09])
    np.testing.assert_allclose(layers.zsoi21[20], 9.795)
    np.testing.assert_allclose(layers.dz_node21[20], 1.765)
    np.testing.assert_allclose(np.cumsum(layers.dz), layers.zisoi, atol=1e-12)
    assert layers.stock_weights(1.0).sum() == pytest.approx(1.0)
    assert layers.stock_weights(0.3)[4] == pytest.approx(0.10)
    with pytest.raises(ValueError):
        layers.stock_weights(9.0)


def test_parameter_tables_follow_the_code_order():
    assert len(clm5.PARAMETERS) == 21 and len(compas.PARAMETERS) == 23
    assert clm5.PARAMETERS.names[:4] == ("diffus", "cryo", "q10", "efolding")
    assert clm5.PARAMETERS.names[-2:] == ("w_scaling", "beta")
    assert compas.PARAMETERS.names[12:14] == ("mm_const_assim", "mm_const_decom")
    assert compas.PARAMETERS[5].upper == 0.1 and clm5.PARAMETERS[5].upper == 0.11
    assert clm5.PARAMETERS.by_component("A") == list(range(10, 19))
    assert compas.PARAMETERS.by_component("E") == [14, 15, 16, 17, 21]
    assert not clm5.PARAMETERS[clm5.PARAMETERS.index("efolding")].default_in_prior
    for table in (clm5.PARAMETERS, compas.PARAMETERS):
        u = np.random.default_rng(0).uniform(size=(5, len(table)))
        np.testing.assert_allclose(table.to_unit(table.to_physical(u)), u, atol=1e-12)
        np.testing.assert_allclose(table.to_physical(np.zeros(len(table))), table.lower)
        np.testing.assert_allclose(table.to_physical(np.ones(len(table))), table.upper)
        assert "| 1 |" in table.as_markdown()
    # tau4s3 is log-uniform: the unit-cube midpoint is the geometric mean (original 10^-1.5)
    i = compas.PARAMETERS.index("tau4s3")
    assert float(compas.PARAMETERS.to_physical(np.full(23, 0.5))[i]) == pytest.approx(10 ** -1.5)


def test_forcing_is_a_vmappable_pytree():
    fs = Forcing.stack([synthetic_forcing("deep"), synthetic_forcing("tropical")])
    assert fs.batch_shape == (2,) and len(fs) == 2
    assert fs[1].tsoi.shape == (12, 20)
    out = jax.vmap(lambda f: jnp.mean(f.tsoi) + f.input_cwd)(fs)
    assert out.shape == (2,)
    np.testing.assert_allclose(fs.total_input, [550.0, 1050.0])


@pytest.mark.parametrize("seed", range(4))
def test_observe_matches_scipy_pchip(seed):
    rng = np.random.default_rng(seed)
    y = np.exp(rng.normal(9, 1, 20))
    z = np.sort(rng.uniform(layers.zsoi[0], layers.zsoi[-1], 40))
    np.testing.assert_allclose(observe(y, z), PchipInterpolator(layers.zsoi, y)(z), rtol=1e-12)


def test_observe_outside_nodes_is_explicit():
    y = np.linspace(5.0, 1.0, 20)
    v = np.asarray(observe(y, np.array([-0.01, 0.0, 0.005, 8.2, 8.6, 8.7])))
    assert np.isnan(v[0]) and np.isnan(v[-1])
    np.testing.assert_allclose(v[1:5], [5.0, 5.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="outside the model column"):
        check_depths([0.1, 12.0], where="profile P1")
    with pytest.raises(ValueError, match="NaN"):
        check_depths([0.1, np.nan])


def test_observe_is_differentiable_and_monotone_preserving():
    y = jnp.asarray(np.linspace(1e4, 1e3, 20) ** 1.0)
    z = jnp.linspace(0.02, 8.0, 50)
    v = observe(y, z)
    assert np.all(np.diff(np.asarray(v)) <= 1e-9)  # shape preserving
    g = jax.grad(lambda yy: jnp.sum(observe(yy, z)))(y)
    assert np.all(np.isfinite(np.asarray(g)))

"""The model registry and named parameters (``PARAMETERS.unpack``)."""

from __future__ import annotations

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import socmodels
from socmodels import ParameterError, clm5, compas


def test_builtin_models_are_registered():
    assert socmodels.MODELS["clm5"] is clm5 and socmodels.MODELS["compas"] is compas
    assert socmodels.get_model("CLM5") is clm5
    for mod in (clm5, compas):
        assert isinstance(mod, socmodels.SoilModel)
        assert socmodels.has_capability(mod, "site_components")
        assert socmodels.has_capability(mod, "virtual_truth")
    assert socmodels.has_capability(compas, "site_michaelis_ratios")
    assert not socmodels.has_capability(clm5, "site_michaelis_ratios")
    assert socmodels.has_capability(compas, "CUSTOMARY_FROM_POSTERIOR")
    assert not socmodels.has_capability(clm5, "CUSTOMARY_FROM_POSTERIOR")


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown model 'nope'.*clm5"):
        socmodels.get_model("nope")
    with pytest.raises(TypeError, match="lacks"):
        socmodels.register_model(types.SimpleNamespace(NAME="X", PARAMETERS=clm5.PARAMETERS))
    with pytest.raises(TypeError, match="lacks 'prepare'"):
        socmodels.resolve_model(types.SimpleNamespace(PARAMETERS=1, steady_state=1))
    with pytest.raises(ValueError, match="unknown capability"):
        socmodels.has_capability(clm5, "fly")
    with pytest.raises(TypeError):
        socmodels.MODELS["x"] = clm5  # read-only view


@pytest.mark.parametrize("mod", [clm5, compas])
def test_unpack_is_named_and_traceable(mod):
    P = mod.PARAMETERS
    theta = np.asarray(P.to_physical(np.random.default_rng(1).uniform(size=(4, len(P)))))
    p = P.unpack(theta)
    assert p._fields == P.names
    for i, name in enumerate(P.names):
        np.testing.assert_array_equal(getattr(p, name), theta[:, i])
    np.testing.assert_array_equal(P.pack(p), theta)
    np.testing.assert_array_equal(P.pack(p._asdict()), theta)
    q10 = jax.jit(jax.vmap(lambda t: P.unpack(t).q10))(jnp.asarray(theta))
    np.testing.assert_array_equal(q10, theta[:, P.index("q10")])
    g = jax.grad(lambda t: P.unpack(t).q10 * 2.0)(jnp.asarray(theta[0]))
    assert float(g[P.index("q10")]) == 2.0 and float(jnp.sum(g)) == 2.0
    with pytest.raises(ParameterError, match="last axis"):
        P.unpack(theta[:, :3])


def test_rates_are_named_tuples(forcings):
    f = forcings["deep"]
    r = clm5.rates(clm5.PARAMETERS.defaults_clipped(), clm5.prepare(f))
    assert "s3" in r._fields and r.s3.shape == (20,)
    r = compas.rates(compas.PARAMETERS.defaults, compas.prepare(f))
    assert {"Ka", "Kd", "k_up"} <= set(r._fields)

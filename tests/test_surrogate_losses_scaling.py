"""Losses and covariate scaling of the PRODA network (hand-computed values)."""

import numpy as np
import pandas as pd
import pytest

import socmodels  # noqa: F401  (turns x64 on, as in production)
from socmodels.data.covariates import MinMaxScaler as CovariateScaler
from surrogate import losses
from surrogate.scaling import MinMaxScaler, as_array_scaler

Y = np.array([[0.5, 0.2], [0.1, 0.8]])
P = np.array([[0.4, 0.2], [0.3, 0.6]])
# errors: [0.1, 0, -0.2, 0.2]; squared: [0.01, 0, 0.04, 0.04]; relative: [0.2, 0, 2, 0.25]
MSE = 0.09 / 4
MARE = 2.45 / 4


def test_mse_mare_product_by_hand():
    assert float(losses.mse(Y, P)) == pytest.approx(MSE)
    assert float(losses.mare(Y, P)) == pytest.approx(MARE)
    assert float(losses.product_loss(Y, P)) == pytest.approx(500 * MSE * 25 * MARE)
    assert float(losses.mse500(Y, P)) == pytest.approx(500 * MSE)
    assert set(losses.LOSSES) == {"product", "mse500", "mse"}
    with pytest.raises(ValueError, match="unknown loss"):
        losses.get_loss("huber")


def test_mare_floor_guards_tiny_targets():
    y = np.array([[0.0, 1e-8, 0.5]])
    p = np.array([[0.01, 0.01, 0.5]])
    # |err| / max(|y|, 1e-4) = 100, ~100, 0
    assert float(losses.mare(y, p)) == pytest.approx((100 + (0.01 - 1e-8) / 1e-4) / 3)
    assert np.isfinite(float(losses.product_loss(y, p)))
    # targets >= floor are unaffected
    assert float(losses.mare(Y, P, floor=1e-4)) == pytest.approx(float(losses.mare(Y, P,
                                                                                floor=0.0)))


def test_weights_reproduce_smaller_batch():
    pad_y = np.vstack([Y, [[0.9, 0.9]]])
    pad_p = np.vstack([P, [[0.0, 0.0]]])
    w = np.array([1.0, 1.0, 0.0])
    for name, fn in losses.LOSSES.items():
        assert float(fn(pad_y, pad_p, w)) == pytest.approx(float(fn(Y, P)), rel=1e-12), name


def test_composition_helpers():
    f = losses.product(losses.scaled(losses.mse, 2.0), losses.mare)
    assert float(f(Y, P)) == pytest.approx(2 * MSE * MARE)


def test_minmax_scaler_by_hand():
    grid = np.array([[0.0, 10.0, 5.0], [4.0, 30.0, 5.0], [np.nan, 20.0, 5.0]])
    s = MinMaxScaler.fit(grid, names=["a", "b", "c"])
    assert isinstance(s, CovariateScaler)  # the socmodels scaler, not a copy
    assert s.names == ("a", "b", "c")
    assert s.minimum == {"a": 0.0, "b": 10.0, "c": 5.0}
    assert s.maximum == {"a": 4.0, "b": 30.0, "c": 5.0}
    sites = np.array([[1.0, 15.0, 5.0], [-2.0, 50.0, 7.0]])
    np.testing.assert_allclose(s.transform(sites), [[0.25, 0.25, 0.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(s.inverse_transform(s.transform(sites[:1])), sites[:1])
    assert np.isnan(s.transform(np.array([[np.nan, 10.0, 5.0]]))[0, 0])
    # arrays and tables give the same numbers
    table = pd.DataFrame(sites, columns=["a", "b", "c"])
    np.testing.assert_allclose(s.transform(table).to_numpy(), s.transform(sites))
    back = MinMaxScaler.from_dict(s.to_dict())
    assert back.names == s.names and back.minimum == s.minimum
    plain = CovariateScaler.fit(pd.DataFrame(grid, columns=["a", "b", "c"]))
    wrapped = as_array_scaler(plain)
    np.testing.assert_allclose(wrapped.transform(sites), s.transform(sites))


def test_minmax_scaler_errors():
    with pytest.raises(ValueError, match="no finite value"):
        MinMaxScaler.fit(np.array([[np.nan, 1.0], [np.nan, 2.0]]))
    s = MinMaxScaler.fit(np.array([[0.0, 1.0], [1.0, 2.0]]))
    assert s.names == ("x0", "x1")
    with pytest.raises(ValueError, match="columns"):
        s.transform(np.zeros((2, 3)))


def test_one_scaler_class():
    import socmodels.data
    import surrogate

    assert MinMaxScaler is CovariateScaler is surrogate.MinMaxScaler is socmodels.data.MinMaxScaler
    s = MinMaxScaler.fit(np.array([[0.0, 10.0], [4.0, 30.0]]), names=["a", "b"])
    assert as_array_scaler(s) is s and as_array_scaler(None) is None
    assert as_array_scaler(s.to_dict()) == s          # the stored (dict) form
    with pytest.raises(TypeError, match="MinMaxScaler"):
        as_array_scaler("a")
    # mappings scale by name like tables; 3-D arrays by position on the last axis
    out = s.transform({"a": np.array([1.0, 8.0]), "b": np.array([20.0, 10.0])})
    np.testing.assert_allclose(out["a"], [0.25, 1.0])
    np.testing.assert_allclose(out["b"], [0.5, 0.0])
    cube = np.array([[[2.0, 20.0]], [[4.0, 30.0]]])
    np.testing.assert_allclose(s.transform(cube), [[[0.5, 0.5]], [[1.0, 1.0]]])
    np.testing.assert_allclose(s.inverse_transform(s.transform(cube)), cube)

"""The climate-to-forcing generator: permafrost, shallow bedrock and tropical sites."""

from __future__ import annotations

import numpy as np
import pytest

import socmodels  # noqa: F401
from socmodels import layers
from socmodels.data import climate_forcing, nbedrock_from_depth, thaw_depth
from socmodels.data.climate import DAMPING_DEPTH, NO_PERMAFROST_ALT, soil_temperature
from socmodels.forcing import Forcing


def test_permafrost_with_given_active_layer():
    f = climate_forcing(-8.0, 18.0, 0.6, 150.0, active_layer_depth=0.6, latitude=68.0)
    assert isinstance(f, Forcing) and f.batch_shape == ()
    np.testing.assert_allclose(f.altmax_lastyear, 0.6)
    assert f.altmax.max() <= 0.6 + 1e-12 and f.altmax[0] == 0.0  # frozen in January
    assert np.all(np.diff(f.altmax) >= 0)                          # running maximum
    t = np.asarray(f.tsoi) - 273.15
    deep = layers.zsoi > 0.75
    assert (t[:, deep] < 0).all()                                  # permafrost below ALT
    assert (t[:, layers.zsoi < 0.45].max(axis=0) > 0).all()        # thawed above it
    assert (np.asarray(f.w_scalar)[0] < 0.1).all()                 # frozen soil is dry
    assert f.nbedrock[0] == 20


def test_permafrost_derived_from_climate():
    f = climate_forcing(-12.0, 20.0, 0.4, 100.0, latitude=70.0)
    alt = f.altmax_lastyear[0]
    assert 0.5 < alt < 3.0
    # consistent with the analytic thaw depth of the harmonic temperature field
    tbar = -12.0 + 1.0
    z_star = DAMPING_DEPTH * np.log(20.0 / -tbar)
    assert alt == pytest.approx(z_star, rel=0.05)


def test_shallow_bedrock_and_tropics():
    f = climate_forcing(12.0, 8.0, 0.5, 500.0, bedrock_depth=0.4)
    assert (f.nbedrock == 6).all()           # zisoi: ..., 0.32, 0.48 -> layer 6
    np.testing.assert_allclose(f.altmax, NO_PERMAFROST_ALT)
    trop = climate_forcing(26.0, 1.5, 0.95, 1200.0, latitude=-3.0, woody_fraction=1.0)
    t = np.asarray(trop.tsoi) - 273.15
    assert 23 < t.min() and t.max() < 30
    assert t[:, 0].argmax() == 0              # southern hemisphere: warmest in January
    assert trop.o_scalar[0, -1] < 0.5 < trop.o_scalar[0, 0]  # wet soils are anoxic at depth
    assert trop.w_scalar.min() > 0.8
    np.testing.assert_allclose(trop.total_input, 1200.0)
    np.testing.assert_allclose([trop.input_cwd, trop.input_litr1, trop.input_litr2,
                                trop.input_litr3], [360.0, 210.0, 420.0, 210.0])


def test_damping_and_lag_with_depth():
    z = np.array([0.0, DAMPING_DEPTH])
    t = soil_temperature(10.0, 10.0, z)
    amp = (t.max(0) - t.min(0)) / 2
    assert amp[1] / amp[0] == pytest.approx(np.exp(-1), rel=0.02)
    assert t[:, 1].argmax() > t[:, 0].argmax()  # the wave arrives later at depth


def test_batched_equals_single_sites():
    mat = np.array([-8.0, 12.0, 26.0])
    amp = np.array([18.0, 8.0, 1.5])
    moist = np.array([0.6, 0.5, 0.95])
    npp = np.array([150.0, 500.0, 1200.0])
    bed = np.array([np.nan, 0.4, np.nan])
    alt = np.array([0.6, np.nan, np.nan])
    lat = np.array([68.0, 40.0, -3.0])
    fb = climate_forcing(mat, amp, moist, npp, bed, alt, latitude=lat)
    assert fb.batch_shape == (3,)
    for k in range(3):
        fs = climate_forcing(mat[k], amp[k], moist[k], npp[k],
                             None if np.isnan(bed[k]) else bed[k],
                             None if np.isnan(alt[k]) else alt[k], latitude=lat[k])
        for name in ("tsoi", "w_scalar", "altmax", "nbedrock", "input_litr2"):
            np.testing.assert_allclose(getattr(fb, name)[k], getattr(fs, name))


def test_thaw_depth_and_bedrock_helpers():
    assert thaw_depth(5.0, 3.0).min() == NO_PERMAFROST_ALT   # never frozen
    assert thaw_depth(-20.0, 5.0).max() == 0.0                 # never thawed
    np.testing.assert_array_equal(nbedrock_from_depth([0.01, 0.2, 0.21, 8.6, 50.0, np.nan]),
                                  [1, 4, 5, 20, 20, 20])


def test_invalid_descriptors():
    with pytest.raises(ValueError, match="moisture"):
        climate_forcing(10.0, 5.0, 1.5, 300.0)
    with pytest.raises(ValueError, match="npp"):
        climate_forcing(10.0, 5.0, 0.5, -1.0)
    with pytest.raises(ValueError, match="active_layer_depth"):
        climate_forcing(-5.0, 15.0, 0.5, 100.0, active_layer_depth=-1.0)

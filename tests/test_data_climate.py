"""The climate-to-forcing generator: permafrost, shallow bedrock and tropical sites."""

from __future__ import annotations

import numpy as np
import pytest

import socmodels  # noqa: F401
from socmodels import layers
from socmodels.data import DataError, climate_forcing, nbedrock_from_depth, thaw_depth
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


# ---------------------------------------------------------------------------------------
# Active layer consistent with the climate; forcing from MAT/MAP and monthly climate
# ---------------------------------------------------------------------------------------

def test_active_layer_keeps_the_mean_soil_temperature_of_mat():
    """Passing an ALT used to move the mean soil temperature to about -11 degC at a site
    whose MAT is -3.8 degC; now every layer's annual mean stays MAT + soil_offset."""
    f = climate_forcing(-3.8, 15.0, 0.5, 200.0, active_layer_depth=0.9, latitude=65.0)
    t = np.asarray(f.tsoi) - 273.15
    np.testing.assert_allclose(t.mean(axis=0), -3.8 + 1.0, atol=1e-9)   # every layer
    np.testing.assert_allclose(f.altmax_lastyear, 0.9)
    # the thaw depth of the warmest month is the ALT: thawed above, frozen below
    above, below = layers.zsoi < 0.8, layers.zsoi > 1.0
    assert (t[:, above].max(axis=0) > 0).all() and (t[:, below] < 0).all()
    # the surface wave is damped below the air's (snow), never amplified
    assert (t[:, 0].max() - t[:, 0].min()) / 2 < 15.0
    # a derived ALT (none given) keeps the same mean
    g = climate_forcing(-3.8, 15.0, 0.5, 200.0, latitude=65.0)
    np.testing.assert_allclose((np.asarray(g.tsoi) - 273.15).mean(axis=0), -2.8, atol=1e-9)


def test_active_layer_inconsistent_with_the_climate_raises():
    with pytest.raises(ValueError, match="not consistent.*site 1.*>= 0 degC"):
        climate_forcing(np.array([-8.0, 5.0]), 15.0, 0.5, 200.0,
                        active_layer_depth=np.array([0.6, 0.9]))
    with pytest.raises(ValueError, match="less deep"):
        climate_forcing(-15.0, 4.0, 0.5, 100.0, active_layer_depth=3.0)


def test_peak_month_and_thermal_diffusivity():
    a = climate_forcing(10.0, 8.0, 0.5, 400.0, peak_month=1.5)
    t = np.asarray(a.tsoi)[:, 0]
    assert t.argmax() == 1                                     # February
    slow = climate_forcing(10.0, 8.0, 0.5, 400.0, thermal_diffusivity=0.1e-6)
    amp = lambda f, k: np.ptp(np.asarray(f.tsoi)[:, k]) / 2    # noqa: E731
    assert amp(slow, 10) < amp(climate_forcing(10.0, 8.0, 0.5, 400.0), 10)
    from socmodels.data.climate import damping_depth
    assert damping_depth() == pytest.approx(DAMPING_DEPTH)
    assert damping_depth(0.1e-6) == pytest.approx(DAMPING_DEPTH / np.sqrt(5))


def test_miami_npp_and_moisture_index_hand_computed():
    from socmodels.data.climate import miami_npp, moisture_index
    # T = 10 degC, P = 1000 mm: temperature-limited, 3000 / (1 + e^0.125) = 1406.37 g m-2
    assert miami_npp(10.0, 1000.0) == pytest.approx(0.475 * 1406.37, rel=1e-5)
    # dry: 3000 (1 - e^-0.1328) = 373.09 g m-2 at P = 200 mm
    assert miami_npp(25.0, 200.0) == pytest.approx(0.475 * 373.09, rel=1e-4)
    assert moisture_index(800.0, 800.0) == pytest.approx(0.5)
    assert moisture_index(800.0, 400.0) == pytest.approx(1 / (1 + 0.5 ** 1.5))
    assert moisture_index(0.0, 400.0) == 0.0


def test_thornthwaite_pet():
    from socmodels.data.climate import thornthwaite_pet
    # 25 degC all year at the equator: I = 12 (5)^1.514, PET about 1360 mm
    pet = thornthwaite_pet(np.full(12, 25.0), 0.0)
    heat = 12 * 5.0 ** 1.514
    a = 6.75e-7 * heat ** 3 - 7.71e-5 * heat ** 2 + 1.792e-2 * heat + 0.49239
    expect = 16.0 * (10 * 25.0 / heat) ** a * np.array(
        [31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]) / 30.0
    np.testing.assert_allclose(pet, expect, rtol=2e-3)          # day length 12 h
    assert 1300 < pet.sum() < 1420
    # frozen months evaporate nothing; hemispheres mirror each other
    t = 5.0 + 15.0 * np.cos(2 * np.pi * (np.arange(12) + 0.5 - 6.5) / 12)
    north = thornthwaite_pet(t, 55.0)
    south = thornthwaite_pet(np.roll(t, 6), -55.0)
    assert (north[t <= 0] == 0).all()
    assert north.sum() == pytest.approx(south.sum(), rel=0.02)


def test_monthly_climate_recovers_the_harmonic():
    from socmodels.data.climate import monthly_climate
    months = np.arange(12) + 0.5
    t = np.stack([8.0 + 9.0 * np.cos(2 * np.pi * (months - 6.5) / 12),
                  24.0 + 2.0 * np.cos(2 * np.pi * (months - 0.5) / 12)])
    p = np.stack([np.full(12, 65.0), np.full(12, 150.0)])
    c = monthly_climate(t, p, latitude=np.array([52.0, -10.0]))
    np.testing.assert_allclose(c.mat, [8.0, 24.0])
    np.testing.assert_allclose(c.mat_amplitude, [9.0, 2.0])
    np.testing.assert_allclose(c.peak_month, [6.5, 0.5], atol=1e-9)
    np.testing.assert_allclose(c.map, [780.0, 1800.0])
    f = c.forcing(bedrock_depth=np.array([np.nan, 1.0]))
    assert f.batch_shape == (2,)
    np.testing.assert_allclose(f.total_input, c.npp)
    assert np.asarray(f.tsoi)[1, :, 0].argmax() == 0             # southern summer


def test_site_climate_matches_monthly_for_a_sinusoid():
    from socmodels.data.climate import monthly_climate, site_climate
    a = site_climate(8.0, 780.0, 9.0, latitude=52.0)
    months = np.arange(12) + 0.5
    b = monthly_climate(8.0 + 9.0 * np.cos(2 * np.pi * (months - 6.5) / 12),
                        np.full(12, 65.0), latitude=52.0)
    for k in ("mat", "mat_amplitude", "pet", "moisture", "npp"):
        np.testing.assert_allclose(getattr(a, k), getattr(b, k), rtol=1e-9, err_msg=k)
    assert a.sources["npp"].startswith("Miami")
    given = site_climate(8.0, 780.0, 9.0, latitude=52.0, pet=390.0, npp=321.0)
    assert given.moisture == pytest.approx(1 / (1 + 0.5 ** 1.5)) and given.npp == 321.0
    with pytest.raises(ValueError, match="map"):
        site_climate(8.0, np.nan, 9.0, latitude=52.0)


def _grid(tmp_path):
    import pandas as pd

    lat, lon = np.meshgrid([50.0, 50.5, 51.0], [10.0, 10.5, 11.0], indexing="ij")
    mat = 8.0 + (lon - 10.0)
    mp = 700.0 + 100 * (lat - 50.0)
    mat[0, 0] = np.nan                               # a sea cell
    return lat, lon, mat, mp, pd


def test_read_climate_table_csv_and_netcdf(tmp_path):
    import xarray as xr

    from socmodels.data.climate import read_climate_table
    lat, lon, mat, mp, pd = _grid(tmp_path)
    df = pd.DataFrame({"lat": lat.ravel(), "lon": lon.ravel(), "mat": mat.ravel(),
                       "map": mp.ravel(), "bio4": 9.0 / np.sqrt(2) * 100})
    df.to_csv(tmp_path / "clim.csv", index=False)
    got = read_climate_table(tmp_path / "clim.csv", [50.01, 51.0], [10.02, 11.1])
    # the first site sits on the sea cell: its nearest land cell is (50, 10.5) or (50.5, 10)
    assert np.isfinite(got.climate.mat).all()
    assert (got.cell_lat[0], got.cell_lon[0]) in ((50.0, 10.5), (50.5, 10.0))
    assert got.distance_km[0] > 30 and got.distance_km[1] < 10
    np.testing.assert_allclose(got.climate.mat_amplitude, 9.0)
    np.testing.assert_allclose(got.climate.map[1], 800.0)
    assert got.climate.forcing().batch_shape == (2,)
    with pytest.raises(DataError, match="limit"):
        read_climate_table(tmp_path / "clim.csv", [50.0], [10.0], max_distance_km=5.0)
    ds = xr.Dataset({"mat": (("lat", "lon"), mat), "map": (("lat", "lon"), mp)},
                    coords={"lat": lat[:, 0], "lon": lon[0]})
    ds.to_netcdf(tmp_path / "clim.nc")
    nc = read_climate_table(tmp_path / "clim.nc", [50.01, 51.0], [10.02, 11.1],
                            mat_amplitude=9.0)
    np.testing.assert_allclose(nc.climate.mat, got.climate.mat)
    np.testing.assert_allclose(nc.distance_km, got.distance_km)
    monthly = ds.expand_dims(month=12)
    monthly.to_netcdf(tmp_path / "monthly.nc")
    with pytest.raises(DataError, match="not fields on"):
        read_climate_table(tmp_path / "monthly.nc", [50.0], [10.0], mat_amplitude=9.0)


def test_read_climate_table_errors_name_file_line_column(tmp_path):
    from socmodels.data.climate import read_climate_table
    (tmp_path / "a.csv").write_text("lat,lon,mat,map\n50,10,8,700\n50,11,warm,700\n")
    with pytest.raises(DataError) as e:
        read_climate_table(tmp_path / "a.csv", [50.0], [10.0], mat_amplitude=9.0)
    assert e.value.line == 3 and e.value.column == "mat" and "a.csv" in str(e.value)
    (tmp_path / "b.csv").write_text("lat,lon,mat\n50,10,8\n")
    with pytest.raises(DataError, match="'map'") as e:
        read_climate_table(tmp_path / "b.csv", [50.0], [10.0])
    assert e.value.line == 1
    (tmp_path / "c.csv").write_text("lat,lon,mat,map\n50,10,8,700\n")
    with pytest.raises(DataError, match="amplitude"):
        read_climate_table(tmp_path / "c.csv", [50.0], [10.0])

"""Covariates: names, bioclimatic variables, texture classes, scaling, grids and sites."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from socmodels.data import (
    COVARIATE_INFO,
    COVARIATES,
    DataError,
    MinMaxScaler,
    bioclim,
    covariates_at_sites,
    read_covariates,
    usda_texture_class,
    write_covariates,
)


def test_names_follow_the_paper():
    assert len(COVARIATES) == 60 == len(set(COVARIATES))
    assert COVARIATES[:4] == ("Lon", "Lat", "ESA_Land_Cover", "BIO1")
    assert COVARIATES[-4:] == ("cesm2_npp", "cesm2_npp_std", "cesm2_vegc", "nbedrock")
    for c in ("Clay_Content_30cm", "Coarse_Fragments_v_100cm", "pH_Water_0cm",
              "Abs_Depth_to_Bedrock", "Koppen_Climate_2018", "Garde_Acid"):
        assert c in COVARIATES and COVARIATE_INFO[c][0]


def test_bioclim_hand_example():
    months = np.arange(12)
    tavg = 10.0 + 10.0 * np.cos(2 * np.pi * (months - 6) / 12)   # July 20, January 0
    prec = np.where((months >= 5) & (months <= 7), 100.0, 20.0)   # wet June-August
    b = bioclim(tavg, tavg - 4.0, tavg + 4.0, prec)
    assert b["BIO1"] == pytest.approx(10.0)
    assert b["BIO2"] == pytest.approx(8.0)
    assert b["BIO5"] == pytest.approx(24.0) and b["BIO6"] == pytest.approx(-4.0)
    assert b["BIO7"] == pytest.approx(28.0)
    assert b["BIO3"] == pytest.approx(100 * 8 / 28)
    assert b["BIO12"] == pytest.approx(3 * 100 + 9 * 20)
    assert b["BIO13"] == 100 and b["BIO14"] == 20
    assert b["BIO16"] == pytest.approx(300.0)          # June-August
    assert b["BIO8"] == pytest.approx(np.mean(tavg[5:8]))
    assert b["BIO10"] == pytest.approx(np.mean(tavg[5:8]))
    # the coldest quarter wraps around the year: December-February
    assert b["BIO11"] == pytest.approx(np.mean(tavg[[11, 0, 1]]))
    assert b["BIO19"] == pytest.approx(60.0)
    assert b["BIO4"] == pytest.approx(100 * np.std(tavg))
    assert b["BIO15"] == pytest.approx(100 * np.std(prec + 1, ddof=1) / np.mean(prec + 1))
    batch = bioclim(np.stack([tavg, tavg + 1]), np.stack([tavg, tavg]) - 4,
                    np.stack([tavg, tavg]) + 4, np.stack([prec, prec]))
    np.testing.assert_allclose(batch["BIO1"], [10.0, 11.0])


def test_usda_texture_classes():
    sand = [90, 10, 40, 20, 5, 60, 30, 65, 85]
    clay = [5, 60, 20, 10, 5, 30, 35, 10, 5]
    np.testing.assert_array_equal(usda_texture_class(sand, clay),
                                  [12, 1, 7, 8, 10, 6, 4, 9, 11])


def test_minmax_scaler_remembers_ranges(tmp_path):
    grid = pd.DataFrame({"BIO1": [-10.0, 0.0, 30.0], "Elevation": [0.0, 500.0, 1000.0],
                         "const": [2.0, 2.0, 2.0], "name": ["a", "b", "c"]})
    sc = MinMaxScaler.fit(grid)
    assert sc.columns == ["BIO1", "Elevation", "const"]
    sites = pd.DataFrame({"BIO1": [10.0, 40.0], "Elevation": [250.0, -10.0],
                          "const": [2.0, 3.0]})
    out = sc.transform(sites)
    np.testing.assert_allclose(out["BIO1"], [0.5, 1.0])         # clipped like PRODA
    np.testing.assert_allclose(out["Elevation"], [0.25, 0.0])
    np.testing.assert_allclose(out["const"], [0.0, 0.0])   # a constant column maps to 0
    back = MinMaxScaler(sc.minimum, sc.maximum, clip=False)
    np.testing.assert_allclose(back.inverse_transform(back.transform(sites))["BIO1"],
                               sites["BIO1"])
    p = sc.save(tmp_path / "ranges.json")
    assert MinMaxScaler.load(p) == sc
    ds = xr.Dataset({"BIO1": (("lat", "lon"), [[-10.0, 30.0], [np.nan, 10.0]])})
    scaled = MinMaxScaler.fit(grid, ["BIO1"]).transform(ds)
    np.testing.assert_allclose(scaled["BIO1"].values, [[0, 1], [np.nan, 0.5]])
    with pytest.raises(KeyError):
        sc.transform(sites.drop(columns=["Elevation"]))


def _grid() -> xr.Dataset:
    lat = np.array([-5.0, 5.0, 15.0])
    lon = np.array([10.0, 20.0, 190.0])
    land = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1]], bool)
    data = {c: (("lat", "lon"), np.where(land, np.arange(9.0).reshape(3, 3) + k, np.nan))
            for k, c in enumerate(COVARIATES)}
    return xr.Dataset(data, coords={"lat": lat, "lon": lon})


def test_grid_round_trip_and_sites(tmp_path):
    p = write_covariates(_grid(), tmp_path / "cov.nc")
    g = read_covariates(p)
    assert list(g["lon"].values) == [-170.0, 10.0, 20.0]   # 0-360 moved to -180..180
    assert g["BIO1"].attrs["units"] == "degC"
    sc = covariates_at_sites(g, [5.2, -4.0], [19.0, -171.0], index=[7, 8])
    assert list(sc.table.index) == [7, 8] and list(sc.table.columns) == list(COVARIATES)
    np.testing.assert_allclose(sc.table["Lat"], [5.2, -4.0])   # the sites' own position
    np.testing.assert_allclose(sc.cell_lat, [5.0, -5.0])
    np.testing.assert_allclose(sc.cell_lon, [20.0, -170.0])
    # BIO1 (k = 3) at (5, 20) is 4 + 3 and at (-5, 190) is 2 + 3
    np.testing.assert_allclose(sc.table["BIO1"], [7.0, 5.0])
    assert sc.distance_km[0] < 150
    with pytest.raises(DataError, match="land cell"):
        covariates_at_sites(g, [80.0], [100.0], max_distance_km=500)


def test_bad_covariate_file(tmp_path):
    ds = _grid().assign_coords(lat=[-95.0, 5.0, 15.0])
    ds.to_netcdf(tmp_path / "bad.nc")
    with pytest.raises(DataError, match="latitudes") as e:
        read_covariates(tmp_path / "bad.nc")
    assert e.value.column == "lat"
    xr.Dataset({"foo": (("lat", "lon"), np.zeros((1, 1)))},
               coords={"lat": [0.0], "lon": [0.0]}).to_netcdf(tmp_path / "none.nc")
    with pytest.raises(DataError, match="no recognised covariate"):
        read_covariates(tmp_path / "none.nc")

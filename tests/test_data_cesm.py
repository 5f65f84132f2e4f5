"""CLM5 history reader: climatology, sampling at sites, malformed files, writer round trip.

Small history files are built here with xarray in CLM5's h0 conventions (monthly files,
time stamped at the end of the month, ``levgrnd``/``levdcmp``/``levsoi``, longitudes
0-360, ``_FillValue`` over the sea), independently of the package's own writer.
"""

from __future__ import annotations

import cftime
import numpy as np
import pytest
import xarray as xr

import socmodels  # noqa: F401
from socmodels import layers
from socmodels.data import (
    DataError,
    climate_forcing,
    climatology_forcing,
    forcing_at_sites,
    read_clm5_history,
    write_clm5_history,
)

LAT = np.array([-10.0, 0.0, 10.0, 20.0])
LON = np.array([0.0, 90.0, 180.0, 270.0, 350.0])
LAND = np.array([[1, 1, 0, 1, 1], [1, 0, 0, 1, 1], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1]], bool)
A_CWD = 10.0  # gC m-2 per month in the column


def _month_file(path, year, month, *, drop=(), tsoi_units="K", w=0.5, input_units="gC/m^3",
                bounds=False):
    nlat, nlon = LAND.shape
    ocean = ~LAND
    end = cftime.DatetimeNoLeap(year + (month == 12), month % 12 + 1, 1)
    start = cftime.DatetimeNoLeap(year, month, 1)

    def field(value, nlev=None):
        shape = (1,) + ((nlev,) if nlev else ()) + (nlat, nlon)
        a = np.broadcast_to(np.asarray(value, np.float32).reshape(
            (1,) + ((-1,) if nlev else ()) + (1, 1)), shape).copy()
        a[..., ocean] = np.nan
        return a

    tsoi = 280.0 + month + 0.5 * (year - 1) + np.arange(25) * 0.01
    if tsoi_units == "degC":
        tsoi = tsoi - 273.15
    per_layer = A_CWD / layers.NLEV / np.concatenate([layers.dz, np.ones(5)])
    data = {
        "TSOI": (("time", "levgrnd", "lat", "lon"), field(tsoi, 25), {"units": tsoi_units}),
        "W_SCALAR": (("time", "levdcmp", "lat", "lon"), field(np.full(25, w), 25), {}),
        "O_SCALAR": (("time", "levdcmp", "lat", "lon"), field(np.ones(25), 25), {}),
        "FPI_vr": (("time", "levdcmp", "lat", "lon"), field(np.full(25, 0.7), 25), {}),
        "ALTMAX": (("time", "lat", "lon"), field(1.5), {"units": "m"}),
        "ALTMAX_LASTYEAR": (("time", "lat", "lon"), field(1.5), {"units": "m"}),
        "ZBEDROCK": (("lat", "lon"), field(0.4)[0], {"units": "m"}),
        "CELLSAND": (("levsoi", "lat", "lon"), field(np.full(20, 35.0), 20)[0], {}),
        "landfrac": (("lat", "lon"), np.where(LAND, 1.0, 0.0).astype(np.float32), {}),
    }
    for k, v in (("CWD", 1.0), ("LITR1", 2.0), ("LITR2", 3.0), ("LITR3", 4.0)):
        data[f"{k}_INPUT_ACC_VECTOR"] = (("time", "levdcmp", "lat", "lon"),
                                         field(per_layer * v, 25), {"units": input_units})
    if bounds:
        data["time_bounds"] = (("time", "hist_interval"), np.array([[start, end]]), {})
    for d in drop:
        data.pop(d)
    ds = xr.Dataset(data, coords={"time": ("time", [end], {"bounds": "time_bounds"}
                                           if bounds else {}),
                                  "lat": LAT, "lon": LON})
    enc = {"time": {"units": "days since 0001-01-01", "calendar": "noleap"}}
    if bounds:
        enc["time_bounds"] = {"units": "days since 0001-01-01", "calendar": "noleap"}
    ds.to_netcdf(path, encoding=enc)
    return path


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    d = tmp_path_factory.mktemp("hist")
    for year in (1, 2):
        for month in range(1, 13):
            _month_file(d / f"case.clm2.h0.{year:04d}-{month:02d}.nc", year, month)
    return d


def test_climatology_of_monthly_files(history):
    clim = read_clm5_history(history)
    assert clim.sizes == {"cell": int(LAND.sum()), "month": 12, "level": 20}
    assert "end of the month" in clim.attrs["month_assignment"]
    # January mean (stamped 1 February) -> month 1; average over years 1 and 2
    t = clim["tsoi"].isel(cell=0, level=0).values
    np.testing.assert_allclose(t, 280.0 + np.arange(1, 13) + 0.25, rtol=1e-6)
    clim2 = read_clm5_history(sorted(history.glob("*.nc")), years=(2, 2))
    np.testing.assert_allclose(clim2["tsoi"].isel(cell=0, level=0).values,
                               280.0 + np.arange(1, 13) + 0.5, rtol=1e-6)
    # per-month accumulations: annual = sum over 12 months and 20 layers of value x dz
    np.testing.assert_allclose(clim["input_cwd"].values, 12 * A_CWD, rtol=1e-5)
    np.testing.assert_allclose(clim["input_litr3"].values, 48 * A_CWD, rtol=1e-5)
    assert "per_month" in clim.attrs["input_units"]
    assert (clim["nbedrock"].values == 6).all()      # ZBEDROCK 0.4 m
    np.testing.assert_allclose(clim["cellsand"].values, 35.0)
    assert clim["lon"].min() >= -180 and clim["lon"].max() < 180
    f = climatology_forcing(clim)
    assert f.batch_shape == (int(LAND.sum()),)


def test_forcing_at_sites_nearest_land_cell(history):
    clim = read_clm5_history(history, years=(1, 2))
    # (1, 95) is next to the sea cell (0, 90): its nearest land cell is (10, 90);
    # lon -10 is the 350 degrees column.
    sf = forcing_at_sites(clim, [1.0, 19.0, -9.0], [95.0, -10.0, 1.0])
    np.testing.assert_allclose(sf.cell_lat, [10.0, 20.0, -10.0])
    np.testing.assert_allclose(sf.cell_lon, [90.0, -10.0, 0.0])
    assert sf.distance_km[1] == pytest.approx(111.2, abs=0.5)
    assert sf.forcing.batch_shape == (3,)
    with pytest.raises(DataError, match="km from the nearest land cell"):
        forcing_at_sites(clim, [0.0], [95.0], max_distance_km=100.0)


def test_unstructured_grid_with_time_bounds(tmp_path):
    files = [_month_file(tmp_path / f"m{m}.nc", 1, m, bounds=True) for m in range(1, 13)]
    ds = xr.open_mfdataset(files, combine="nested", concat_dim="time", data_vars="minimal",
                           coords="minimal", compat="override", decode_times=False)
    stacked = ds.stack(lndgrid=("lat", "lon"))
    keep = np.flatnonzero(LAND.ravel())
    lnd = stacked.isel(lndgrid=keep).reset_index("lndgrid")
    lnd = lnd.rename({"lat": "lat_", "lon": "lon_"}).drop_vars(["lat_", "lon_"])
    lnd["lat"] = ("lndgrid", np.repeat(LAT, 5)[keep])
    lnd["lon"] = ("lndgrid", np.tile(LON, 4)[keep])
    lnd.load().to_netcdf(tmp_path / "lnd.nc")
    ds.close()
    clim = read_clm5_history(tmp_path / "lnd.nc")
    assert clim.attrs["grid"] == "lndgrid" and clim.attrs["month_assignment"].startswith("mid")
    np.testing.assert_allclose(clim["tsoi"].isel(cell=3, level=0).values,
                               280.0 + np.arange(1, 13), rtol=1e-6)


def test_units_options_and_conversions(tmp_path):
    d1 = tmp_path / "degc"
    d1.mkdir()
    for m in range(1, 13):
        _month_file(d1 / f"{m}.nc", 1, m, tsoi_units="degC", input_units="gC/m^3/s")
    clim = read_clm5_history(d1)
    np.testing.assert_allclose(clim["tsoi"].isel(cell=0, level=0).values,
                               280.0 + np.arange(1, 13), rtol=1e-6)
    # a rate per second: annual = monthly mean x seconds per year
    np.testing.assert_allclose(clim["input_cwd"].values, A_CWD * 365 * 86400, rtol=1e-5)
    clim_m = read_clm5_history(d1, input_units="per_month")
    np.testing.assert_allclose(clim_m["input_cwd"].values, 12 * A_CWD, rtol=1e-5)
    with pytest.raises(ValueError):
        read_clm5_history(d1, input_units="monthly")


def test_malformed_history(tmp_path):
    d = tmp_path / "nowscalar"
    d.mkdir()
    for m in range(1, 13):
        _month_file(d / f"{m}.nc", 1, m, drop=("W_SCALAR",))
    with pytest.raises(DataError) as e:
        read_clm5_history(d)
    assert e.value.column == "W_SCALAR" and "nowscalar" in str(e.value)
    d2 = tmp_path / "elevenmonths"
    d2.mkdir()
    for m in range(1, 12):
        _month_file(d2 / f"{m}.nc", 1, m)
    with pytest.raises(DataError, match=r"lack month\(s\) \[12\]"):
        read_clm5_history(d2)
    d3 = tmp_path / "badw"
    d3.mkdir()
    for m in range(1, 13):
        _month_file(d3 / f"{m}.nc", 1, m, w=1.7)
    with pytest.raises(DataError, match="expected 0-1") as e:
        read_clm5_history(d3)
    assert e.value.column == "W_SCALAR"
    with pytest.raises(DataError, match="no NetCDF"):
        read_clm5_history(tmp_path / "empty*.nc")
    (tmp_path / "junk.nc").write_text("not netcdf")
    with pytest.raises(DataError, match="cannot open"):
        read_clm5_history(tmp_path / "junk.nc")


def test_writer_round_trip(tmp_path):
    lat = np.array([-30.0, 10.0, 65.0])
    lon = np.array([-150.0, 20.0])
    land = np.array([[True, False], [True, True], [False, True]])
    n = land.sum()
    f = climate_forcing(np.array([15.0, 26.0, 30.0, -8.0]), np.array([6.0, 1.5, 2.0, 18.0]),
                        np.array([0.4, 0.9, 0.2, 0.6]), np.array([400.0, 1200.0, 200.0, 150.0]),
                        np.array([np.nan, np.nan, 0.5, np.nan]),
                        np.array([np.nan, np.nan, np.nan, 0.7]),
                        latitude=np.array([-30.0, 10.0, 10.0, 65.0]),
                        sand=np.array([30.0, 60.0, 80.0, 40.0]))
    assert f.batch_shape == (n,)
    p = write_clm5_history(tmp_path / "h0.nc", f, lat, lon, land)
    back = climatology_forcing(read_clm5_history(p))
    for name in ("tsoi", "w_scalar", "o_scalar", "fpi_vr", "altmax", "altmax_lastyear",
                 "nbedrock", "cellsand", "input_cwd", "input_litr1", "input_litr2",
                 "input_litr3"):
        np.testing.assert_allclose(getattr(back, name), getattr(f, name), rtol=2e-6,
                                   atol=1e-5, err_msg=name)

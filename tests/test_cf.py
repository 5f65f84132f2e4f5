"""CF-1.10: every NetCDF file of the tiny pipeline passes the checker; figures and reports.

The tiny pipeline runs ONCE for this module (a few minutes on 2 cores).
"""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from socmodels import clm5, compas
from socmodels.netcdf import (
    add_lat_lon,
    add_parameter_units,
    cf_problems,
    describe,
    parameter_units_of,
    set_conventions,
)

ROOT = Path(__file__).resolve().parents[1]



@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from surrogate.pipeline import load_config, run_pipeline

    out = tmp_path_factory.mktemp("cf_tiny")
    cfg = load_config(preset="tiny", out=str(out))
    run_pipeline(cfg)
    return out, cfg


# ---------------------------------------------------------------------------------------
# the checker itself, on small datasets
# ---------------------------------------------------------------------------------------

def _grid() -> xr.Dataset:
    lat = np.arange(-85.0, 90.0, 10.0)
    lon = np.arange(-175.0, 180.0, 10.0)
    ds = xr.Dataset({"stock": (("lat", "lon"), np.ones((lat.size, lon.size)))},
                    coords={"lat": lat, "lon": lon})
    describe(ds["stock"], "g m-2", "SOC stock", standard_name="soil_mass_content_of_carbon")
    return set_conventions(add_lat_lon(ds), "test grid")


def test_checker_accepts_a_complete_grid_and_cf_xarray_finds_the_axes():
    import cf_xarray  # noqa: F401  (registers the .cf accessor)

    ds = _grid()
    assert cf_problems(ds) == []
    assert ds.cf.axes["X"] == ["lon"] and ds.cf.axes["Y"] == ["lat"]
    assert ds.cf.coordinates["latitude"] == ["lat"]
    assert ds.cf.bounds["lat"] == ["lat_bnds"]
    b = ds["lat_bnds"].values
    np.testing.assert_allclose(b[:, 0], ds["lat"].values - 5.0)
    np.testing.assert_allclose(b[1:, 0], b[:-1, 1])  # contiguous cells
    assert b[0, 0] == -90.0 and b[-1, 1] == 90.0


@pytest.mark.parametrize("breakage, message", [
    (lambda ds: ds.attrs.pop("Conventions"), "Conventions"),
    (lambda ds: ds["stock"].attrs.pop("units"), "stock: no units"),
    (lambda ds: ds["stock"].attrs.pop("long_name") and ds["stock"].attrs.pop("standard_name"),
     "stock: no long_name"),
    (lambda ds: ds["lat"].attrs.update(units="degrees"), "lat: units"),
    (lambda ds: ds["lon"].attrs.pop("bounds"), "lon: grid coordinate without a bounds"),
    (lambda ds: ds["stock"].attrs.update(standard_name="soil_carbon"), "not a known CF"),
])
def test_checker_finds_each_broken_rule(breakage, message):
    ds = _grid()
    breakage(ds)
    problems = cf_problems(ds)
    assert any(message in p for p in problems), problems


def test_site_positions_must_be_coordinates():
    ds = xr.Dataset({"nse": ("site", [0.5, 0.7]), "lat": ("site", [10.0, 20.0]),
                     "lon": ("site", [5.0, 6.0])})
    describe(ds["nse"], "1", "NSE")
    set_conventions(ds, "sites")
    assert any("lat: is a data variable" in p for p in cf_problems(ds))
    fixed = add_lat_lon(ds)
    assert cf_problems(fixed) == []
    assert "lat" in fixed.coords and "lat_bnds" not in fixed  # no bounds off a grid


def test_parameter_units_are_recorded_per_parameter(tmp_path):
    for mod in (clm5, compas):
        table = mod.PARAMETERS
        ds = xr.Dataset({"theta": ("parameter", table.defaults), "u": ("parameter",
                                                                        np.full(len(table), .5))},
                        coords={"parameter": list(table.names)})
        describe(ds["theta"], None, "parameters")
        describe(ds["u"], None, "parameters in the unit cube")
        ds = set_conventions(add_parameter_units(ds, table, unit_cube=["u"]), "params")
        assert cf_problems(ds) == []
        ds.to_netcdf(tmp_path / "p.nc")
        back = xr.load_dataset(tmp_path / "p.nc")
        units = parameter_units_of(back, "theta")
        assert back["u"].attrs["units"] == "1"
        assert "units" not in back["theta"].attrs
        assert units["q10"] == "1" and units["w_scaling"] == "1"
        assert all("gC" not in u and "(" not in u for u in units.values())
    assert parameter_units_of(back, "theta")["mm_const_decom"] == "g m-3"
    with pytest.raises(ValueError, match="differ"):
        add_parameter_units(ds.isel(parameter=slice(0, 3)), compas.PARAMETERS)


def test_parameter_table_views_and_errors():
    from socmodels.parameters import ParameterError

    df = clm5.PARAMETERS.to_dataframe()
    assert list(df.index) == list(clm5.PARAMETERS.names)
    outside = set(df.index[~df["default_in_prior"]])
    assert {"efolding", "fs1s2"} <= outside
    assert outside == {p.name for p in clm5.PARAMETERS if not
                       p.lower <= p.default <= p.upper}
    ds = compas.PARAMETERS.to_xarray()
    assert cf_problems(ds) == []
    np.testing.assert_array_equal(ds["lower"].values, compas.PARAMETERS.lower)
    for fn in (clm5.PARAMETERS.to_physical, clm5.PARAMETERS.to_unit):
        with pytest.raises(ParameterError, match=r"CLM5 .*21 entries.*got 20"):
            fn(np.full(20, 0.5))
        with pytest.raises(ParameterError, match="got a scalar"):
            fn(0.5)
    assert clm5.PARAMETERS.to_physical(np.full((3, 21), 0.5)).shape == (3, 21)
    assert "10 (outside the prior box)" in clm5.PARAMETERS.as_markdown()


# ---------------------------------------------------------------------------------------
# every file of the tiny pipeline
# ---------------------------------------------------------------------------------------

def _files(out: Path) -> list[Path]:
    return sorted(out.rglob("*.nc"))


def _groups(path: Path) -> dict[str, xr.Dataset]:
    """Every group of a file (the runner's chunk files are ArviZ DataTrees)."""
    tree = xr.open_datatree(path)
    try:
        return {node.path: node.to_dataset().load() for node in tree.subtree}
    finally:
        tree.close()


def test_every_pipeline_netcdf_follows_cf(tiny_run):
    import cf_xarray  # noqa: F401

    out, _ = tiny_run
    ours = _files(out)
    names = {str(p.relative_to(out)) for p in ours}
    assert {"maps/clm5.nc", "maps/compas.nc", "analyses_components.nc", "data/truth.nc",
            "data/covariates.nc", "network/clm5_sites.nc", "calibration/clm5/site_table.nc",
            "comparison/site_comparison.nc"} <= names, names
    chunks = [p for p in ours if p.parent.name == "chunks"]
    assert chunks, "the calibration stage wrote no chunk file"
    for p in chunks:  # every group of the posterior DataTrees
        for group, ds in _groups(p).items():
            where = f"{p.relative_to(out)}:{group}"
            if group == "/":
                assert ds.attrs.get("Conventions") == "CF-1.10", where
            else:
                assert cf_problems(ds.assign_attrs(Conventions="CF-1.10")) == [], (
                    where, cf_problems(ds))
    for p in ours:
        if p in chunks:
            continue
        with xr.open_dataset(p) as ds:
            assert cf_problems(ds) == [], (p.relative_to(out), cf_problems(ds))
            if "lat" in ds.dims and "lon" in ds.dims:
                assert ds.cf.axes["X"] == ["lon"] and ds.cf.axes["Y"] == ["lat"], p
                assert set(ds.cf.coordinates["latitude"]) == {"lat"}, p


def test_maps_carry_units_and_standard_names(tiny_run):
    out, _ = tiny_run
    ds = xr.load_dataset(out / "maps" / "compas.nc")
    assert ds["stock_1m"].attrs["units"] == "g m-2"
    assert ds["stock_1m"].attrs["standard_name"] == "soil_mass_content_of_carbon"
    assert parameter_units_of(ds, "theta")["mm_const_decom"] == "g m-3"
    assert ds.attrs["Conventions"] == "CF-1.10"
    comp = xr.load_dataset(out / "analyses_components.nc")
    assert comp["clm5_k"].attrs["units"] == "yr-1" and "long_name" in comp["clm5_k"].attrs


def test_figures_are_small_and_the_html_report_embeds_them(tiny_run):
    out, cfg = tiny_run
    figs = sorted((out / "figures").glob("*.png"))
    assert {"soc_maps.png", "components.png", "latitudinal.png", "diagnostics_clm5.png",
            "parameter_maps_compas.png", "recovery_clm5.png"} <= {p.name for p in figs}
    for p in figs:
        assert p.stat().st_size < 200 * 1024, (p.name, p.stat().st_size)
    html = (out / "report.html").read_text()
    assert "src=\"figures/" not in html and "http" not in html.split("<body>")[1]
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(embedded) == len(re.findall(r"!\[", (out / "report.md").read_text()))
    assert base64.b64decode(embedded[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<table>" in html
    md = (out / "report.md").read_text()
    # the diagnostics caption gives the run's own threshold (tiny preset: 10)
    assert f"R-hat <= {cfg['calibration']['rhat_max']}" in md


def test_readme_numbers_are_rendered_from_a_run(tiny_run, tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import readme_numbers
    finally:
        sys.path.pop(0)
    out, cfg = tiny_run
    import json

    res = json.loads((out / "analyses.json").read_text())
    block = readme_numbers.render_block(out)
    assert block.startswith(readme_numbers.START) and block.endswith(readme_numbers.END)
    r = res["log_soc_correlation"]
    assert f"r = {r['customary']:.2f} with customary" in block
    assert f"{res['models']['clm5']['heldout']['nse']:.2f}" in block
    b = res["models"]["compas"]["sites"]["by_generator"]["clm5"]
    assert "| … of the sites CLM5 generated |" in block and f"{b['kept']} / {b['n']}" in block
    readme = tmp_path / "README.md"
    readme.write_text("intro\n" + readme_numbers.START + "\nold\n" + readme_numbers.END + "\n")
    assert readme_numbers.main(["--run", str(out), "--readme", str(readme)]) == 0
    assert "old" not in readme.read_text() and block in readme.read_text()
    assert readme_numbers.main(["--run", str(out), "--readme", str(readme), "--check"]) == 0

    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import update_docs_figures
    finally:
        sys.path.pop(0)
    copied = update_docs_figures.copy_figures(out, tmp_path / "figs")
    assert {p.name for p in copied} >= {"run_soc_maps.png"}

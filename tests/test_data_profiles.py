"""Soil-profile readers: WoSIS layouts, the one-table CSV, screening, malformed input.

Fixtures (``tests/fixtures/data``, written by ``make_wosis_fixtures.py``) hold the same eight
profiles in the three WoSIS layouts; messy variants are derived from them in ``tmp_path``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import socmodels  # noqa: F401  (x64)
from socmodels.data import (
    DataError,
    DataWarning,
    ScreeningReport,
    pedotransfer_bd,
    read_profiles_csv,
    read_wosis,
    screening_report,
    soc_density,
    write_wosis,
)
from socmodels.data.profiles import normalize_licence

FIX = Path(__file__).parent / "fixtures" / "data"
LAYOUT_DIRS = ["wosis_2019", "wosis_webservice", "wosis_2023"]
KEPT = [101, 102, 105, 107, 108]
COMPARE = ["upper_depth", "lower_depth", "node_depth", "soc_content", "bulk_density",
           "bd_estimated", "coarse_fragments", "soc_density", "layer_mask", "licence", "clay",
           "sand", "silt"]


def _same(a, b) -> None:
    assert list(a["profile_id"].values) == list(b["profile_id"].values)
    np.testing.assert_allclose(a["lat"], b["lat"])
    np.testing.assert_allclose(a["lon"], b["lon"])
    for v in COMPARE:
        x, y = a[v].values, b[v].values
        if x.dtype.kind in "bOU":
            assert (x == y).all(), v
        else:
            np.testing.assert_allclose(x, y, rtol=1e-12, equal_nan=True, err_msg=v)


def _copy(name: str, tmp_path: Path) -> Path:
    dst = tmp_path / name
    shutil.copytree(FIX / name, dst)
    return dst


def _edit(path: Path, fn) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    path.write_text("\n".join(fn(lines)), encoding="utf-8")


def _cell(line: str, header: str, col: str, value: str, sep: str = "\t") -> str:
    names = [h.strip('"') for h in header.split(sep)]
    cells = line.split(sep)
    cells[names.index(col)] = value
    return sep.join(cells)


# -- physics ---------------------------------------------------------------------------

def test_pedotransfer_hand_computed():
    # 20 g/kg, the code's unit: OM = 34.48; exp(-0.0089 * 34.48) = exp(-0.306872) = 0.735745
    assert pedotransfer_bd(20.0) == pytest.approx(0.32 + 1.30 * 0.735745, rel=1e-6)
    assert pedotransfer_bd(20.0) == pytest.approx(1.276468, rel=1e-6)
    # the paper's unit (percent): SOC 2 % -> OM 3.448; exp(-0.0306872) = 0.969779
    assert pedotransfer_bd(20.0, soc_unit="%") == pytest.approx(1.580713, rel=1e-6)
    assert pedotransfer_bd(0.0) == pytest.approx(1.62)
    with pytest.raises(ValueError):
        pedotransfer_bd(1.0, soc_unit="mg/kg")


def test_soc_density_hand_computed():
    # 20 g/kg x 1.2 kg/dm3 x 1000 x (1 - 0.10) = 21 600 gC m-3
    assert soc_density(20.0, 1.2, 10.0) == pytest.approx(21600.0)
    assert soc_density(20.0, 1.2, np.nan) == pytest.approx(24000.0)  # missing CF = 0
    np.testing.assert_allclose(soc_density([10.0, 5.0], [1.0, 1.5]), [10000.0, 7500.0])


# -- the three WoSIS layouts and the one-table CSV --------------------------------------

@pytest.fixture(scope="module")
def wosis2019():
    return read_wosis(FIX / "wosis_2019")


def test_2019_snapshot_values(wosis2019):
    ds = wosis2019
    assert ds.sizes["profile"] == 5 and list(ds["profile_id"].values) == KEPT
    assert set(ds.dims) == {"profile", "layer"}
    p = ds.sel(profile=0)
    # layer 1: 30 g/kg, bdfiod 1.2, cfvo 5 -> 30 * 1.2 * 1000 * 0.95
    assert p["soc_density"].values[0] == pytest.approx(34200.0)
    # layer 2: bdfiod missing -> bdfi33 1.35 (measured), cfvo 10
    assert p["bulk_density"].values[1] == pytest.approx(1.35)
    assert not p["bd_estimated"].values[1]
    assert p["soc_density"].values[1] == pytest.approx(15 * 1.35 * 1000 * 0.9)
    # layer 3: no BD -> pedotransfer (g/kg), no CF -> 0
    bd = 0.32 + 1.30 * np.exp(-0.0089 * 1.724 * 8.0)
    assert p["bd_estimated"].values[2]
    assert p["bulk_density"].values[2] == pytest.approx(bd)
    assert p["soc_density"].values[2] == pytest.approx(8.0 * bd * 1000.0)
    assert np.isnan(p["coarse_fragments"].values[2])
    np.testing.assert_allclose(p["upper_depth"].values[:5], [0, 0.1, 0.3, 0.6, 1.0])
    np.testing.assert_allclose(p["node_depth"].values[:5], [0.05, 0.2, 0.45, 0.8, 1.25])
    # replicate-only carbon value {1:22.70,2:9.70} -> mean 16.2
    assert ds.sel(profile=1)["soc_content"].values[1] == pytest.approx(16.2)
    assert ds["licence"].values[1] == "CC-BY-NC"
    assert ds["layer_mask"].sum() == 18
    assert ds["soc_density"].attrs["units"] == "gC m-3"
    assert ds["upper_depth"].attrs["units"] == "m"
    assert ds["country_id"].values[3] == "CI"


def test_screening_report_accounts_for_everything(wosis2019):
    rep = screening_report(wosis2019)
    rep.check()
    assert rep.layout == "wosis-2019-snapshot"
    assert rep.layers_read == 30 and rep.layers_kept == 18
    assert rep.layers_dropped == {"litter": 1, "negative_depth": 1, "missing_soc": 1,
                                  "zero_soc": 1, "profile_not_found": 3, "too_few_layers": 2,
                                  "too_shallow": 3}
    assert rep.profiles_dropped == {"profile_not_found": 1, "too_few_layers": 1,
                                    "too_shallow": 1}
    assert rep.notes["value_from_replicates_orgc"] == 1
    assert rep.notes["bd_estimated"] == int(wosis2019["bd_estimated"].sum())
    roles = {Path(f["path"]).name: f["role"] for f in rep.files}
    assert roles["wosis_201909_attributes.tsv"] == "ignored"
    assert roles["wosis_201909_profiles.tsv"] == "profiles"
    # row-level detail: the negative-depth organic layer of profile 108 (line 28 of the file)
    neg = [i for i in rep.issues if i.reason == "negative_depth"]
    assert len(neg) == 1 and neg[0].line == 28 and neg[0].column == "upper_depth"
    assert "layers_chemical" in neg[0].file
    # the report survives JSON and is a structured object
    assert ScreeningReport.from_json(rep.to_json()) == rep
    assert "too_shallow" in rep.summary()
    assert len(rep.issues_frame()) == len(rep.issues)


@pytest.mark.parametrize("layout", LAYOUT_DIRS[1:])
def test_three_layouts_give_the_same_dataset(wosis2019, layout):
    ds = read_wosis(FIX / layout)
    _same(wosis2019, ds)
    rep = screening_report(ds)
    rep.check()
    assert rep.layout == {"wosis_webservice": "wosis-webservice",
                          "wosis_2023": "wosis-2023-snapshot"}[layout]


def test_one_table_csv(wosis2019):
    ds = read_profiles_csv(FIX / "profiles_simple.csv")
    rep = screening_report(ds)
    rep.check()
    # 106 has coordinates here, so it is kept; the others are as in WoSIS
    assert list(ds["profile_id"].values) == [101, 102, 105, 106, 107, 108]
    sub = ds.isel(profile=[0, 1, 2, 4, 5])
    for v in ("soc_content", "bulk_density", "soc_density", "coarse_fragments"):
        np.testing.assert_allclose(sub[v].values, wosis2019[v].values, equal_nan=True)


def test_wide_snapshot_is_read_by_name_not_position(tmp_path, wosis2019):
    """Reordering the columns of the 153/195-column tables changes nothing."""
    d = _copy("wosis_2019", tmp_path)
    for name in ("wosis_201909_layers_physical.tsv", "wosis_201909_layers_chemical.tsv"):
        df = pd.read_csv(d / name, sep="\t", dtype=str, keep_default_na=False)
        assert df.shape[1] == (195 if "physical" in name else 153)
        df[df.columns[::-1]].to_csv(d / name, sep="\t", index=False)
    _same(wosis2019, read_wosis(d))


@pytest.mark.parametrize("encoding,newline", [("cp1252", "\r\n"), ("latin-1", "\r"),
                                              ("utf-8-sig", "\n")])
def test_encodings_and_line_endings(tmp_path, wosis2019, encoding, newline):
    d = _copy("wosis_2019", tmp_path)
    for p in d.iterdir():
        text = p.read_text(encoding="utf-8")
        p.write_bytes(text.replace("\n", newline).encode(encoding))
    ds = read_wosis(d, on_error="raise")
    _same(wosis2019, ds)
    rep = screening_report(ds)
    prof = next(f for f in rep.files if f["role"] == "profiles")
    assert prof["line_ending"] == {"\r\n": "CRLF", "\r": "CR", "\n": "LF"}[newline]
    assert prof["encoding"] == {"cp1252": "cp1252", "latin-1": "cp1252",
                                "utf-8-sig": "utf-8-sig"}[encoding]
    # line numbers stay right with any line ending
    neg = [i for i in rep.issues if i.reason == "negative_depth"]
    assert neg[0].line == 28


def test_licence_filter():
    ds = read_wosis(FIX / "wosis_2019", licences="CC BY 4.0")
    assert 102 not in ds["profile_id"].values
    rep = screening_report(ds)
    assert rep.profiles_dropped["licence_excluded"] == 1
    rep.check()
    assert normalize_licence("CC BY-NC 4.0") == "CC-BY-NC"
    assert normalize_licence("cc_by") == "CC-BY"


def test_options_ptf_unit_min_layers_and_shift(wosis2019):
    pct = read_wosis(FIX / "wosis_2019", ptf_soc_unit="%")
    est = wosis2019["bd_estimated"].values
    assert (pct["bulk_density"].values[est] > wosis2019["bulk_density"].values[est]).all()
    two = read_wosis(FIX / "wosis_2019", min_layers=2)
    assert 104 in two["profile_id"].values
    shifted = read_wosis(FIX / "wosis_2019", negative_depths="shift")
    p108 = shifted.sel(profile=list(shifted["profile_id"].values).index(108))
    np.testing.assert_allclose(p108["upper_depth"].values[:4], [0.0, 0.1, 0.25, 0.55])
    with pytest.raises(ValueError, match="negative_depths"):
        read_wosis(FIX / "wosis_2019", negative_depths="keep")


def test_write_wosis_round_trip_all_layouts(tmp_path):
    rng = np.random.default_rng(3)
    rows = []
    for p in range(6):
        z = 0.0
        for q in range(4):
            th = float(rng.integers(10, 40))
            rows.append(dict(profile_id=500 + p, profile_layer_id=5000 + 10 * p + q,
                             upper_depth=z, lower_depth=z + th, layer_name=f"H{q}", litter=0,
                             orgc=float(rng.uniform(1, 40)),
                             bdfiod=float(rng.uniform(0.8, 1.6)) if q % 2 else np.nan,
                             bdfi33=np.nan, bdwsod=np.nan,
                             cfvo=float(rng.uniform(0, 30)) if q != 2 else np.nan,
                             clay=20.0, sand=40.0, silt=40.0))
            z += th
    layers = pd.DataFrame(rows)
    prof = pd.DataFrame({"profile_id": 500 + np.arange(6), "latitude": rng.uniform(-50, 60, 6),
                         "longitude": rng.uniform(-170, 170, 6), "dataset_id": "X",
                         "country_id": "NA", "licence": "CC-BY"})
    out = {lay: read_wosis(write_wosis(tmp_path / lay, prof, layers, layout=lay)[0].parent)
           for lay in ("2019", "webservice", "2023")}
    _same(out["2019"], out["webservice"])
    _same(out["2019"], out["2023"])
    ds = out["2019"]
    np.testing.assert_allclose(ds["soc_content"].values[ds["layer_mask"].values],
                               layers["orgc"].values, rtol=1e-9)
    assert (ds["country_id"].values == "NA").all()  # Namibia's ISO code is not "missing"


# -- malformed input -----------------------------------------------------------------------

def test_missing_column_names_file_line_and_column(tmp_path):
    d = _copy("wosis_2019", tmp_path)
    f = d / "wosis_201909_layers_chemical.tsv"
    _edit(f, lambda ls: [ls[0].replace('"upper_depth"', '"top"')] + ls[1:])
    with pytest.raises(DataError) as e:
        read_wosis(d, on_error="raise")
    assert e.value.line == 1 and e.value.column == "upper_depth"
    assert "wosis_201909_layers_chemical.tsv" in str(e.value)


def test_text_in_numeric_column(tmp_path):
    d = _copy("wosis_2019", tmp_path)
    f = d / "wosis_201909_layers_chemical.tsv"
    _edit(f, lambda ls: ls[:5] + [_cell(ls[5], ls[0], "orgc_value_avg", "n.d.x")] + ls[6:])
    with pytest.raises(DataError) as e:
        read_wosis(d, on_error="raise")
    err = e.value
    assert (err.line, err.column, err.reason) == (6, "orgc_value_avg", "invalid_value")
    assert "layers_chemical" in err.file and "n.d.x" in str(err)
    ds = read_wosis(d, on_error="drop")
    rep = screening_report(ds)
    rep.check()
    assert rep.layers_dropped["invalid_value"] == 1
    iss = [i for i in rep.issues if i.reason == "invalid_value"]
    assert iss[0].line == 6 and iss[0].column == "orgc_value_avg"


def test_lower_above_upper(tmp_path):
    d = _copy("wosis_2019", tmp_path)
    f = d / "wosis_201909_layers_chemical.tsv"
    _edit(f, lambda ls: ls[:3] + [_cell(ls[3], ls[0], "lower_depth", "5")] + ls[4:])
    with pytest.raises(DataError, match="shallower") as e:
        read_wosis(d, on_error="raise")
    assert e.value.line == 4 and e.value.column == "lower_depth"
    rep = screening_report(read_wosis(d, on_error="drop"))
    assert rep.layers_dropped["lower_above_upper"] == 1


def test_negative_and_zero_thickness_are_reported_not_errors(tmp_path):
    d = _copy("wosis_2019", tmp_path)
    f = d / "wosis_201909_layers_chemical.tsv"
    # profile 107's last layer 40-80 -> 40-40 (zero thickness)
    _edit(f, lambda ls: [(_cell(x, ls[0], "lower_depth", "40") if x.startswith("107\t7003")
                          else x) for x in ls])
    rep = screening_report(read_wosis(d))
    assert rep.layers_dropped["zero_thickness"] == 1
    assert rep.layers_dropped["negative_depth"] == 1
    zt = [i for i in rep.issues if i.reason == "zero_thickness"]
    assert zt[0].line == 27


def test_duplicates_exact_collapsed_conflicting_reported(tmp_path, wosis2019):
    d = _copy("wosis_2019", tmp_path)
    f = d / "wosis_201909_layers_chemical.tsv"
    _edit(f, lambda ls: ls[:3] + [ls[2]] + ls[3:])          # exact copy of line 3
    ds = read_wosis(d, on_error="raise")
    rep = screening_report(ds)
    assert rep.layers_dropped["exact_duplicate"] == 1
    _same(wosis2019, ds)
    # a conflicting copy: same profile_layer_id, different carbon
    _edit(f, lambda ls: ls[:3] + [_cell(ls[3], ls[0], "orgc_value_avg", "99")] + ls[4:])
    with pytest.raises(DataError, match="never averaged") as e:
        read_wosis(d, on_error="raise")
    assert e.value.line in (3, 4) and e.value.column == "orgc_value_avg"
    rep = screening_report(read_wosis(d, on_error="drop"))
    assert rep.layers_dropped["conflicting_duplicate"] == 2
    assert sorted(i.line for i in rep.issues if i.reason == "conflicting_duplicate") == [3, 4]


def test_coordinates_out_of_range(tmp_path):
    d = _copy("wosis_2019", tmp_path)
    f = d / "wosis_201909_profiles.tsv"
    _edit(f, lambda ls: ls[:2] + [_cell(ls[2], ls[0], "latitude", "120.5")] + ls[3:])
    with pytest.raises(DataError, match="latitude outside") as e:
        read_wosis(d, on_error="raise")
    assert e.value.line == 3 and e.value.column == "latitude"
    assert "profiles.tsv" in e.value.file
    ds = read_wosis(d, on_error="drop")
    rep = screening_report(ds)
    assert 102 not in ds["profile_id"].values
    assert rep.profiles_dropped["invalid_coordinates"] == 1
    rep.check()


def test_swapped_coordinates_hint(tmp_path):
    d = _copy("wosis_2019", tmp_path)
    f = d / "wosis_201909_profiles.tsv"
    _edit(f, lambda ls: ls[:4] + [_cell(_cell(ls[4], ls[0], "latitude", "-100.0"), ls[0],
                                        "longitude", "40.0")] + ls[5:])
    with pytest.raises(DataError, match="swapped"):
        read_wosis(d, on_error="raise")


def test_wrong_units(tmp_path):
    # bulk density in kg/m3
    d = _copy("wosis_2019", tmp_path)
    f = d / "wosis_201909_layers_physical.tsv"
    _edit(f, lambda ls: ls[:2] + [_cell(ls[2], ls[0], "bdfiod_value_avg", "1200")] + ls[3:])
    with pytest.raises(DataError, match="kg/m3") as e:
        read_wosis(d, on_error="raise")
    assert e.value.column == "bdfiod_value_avg" and e.value.line == 3
    # in drop mode the value is ignored and the pedotransfer function is used instead
    rep = screening_report(read_wosis(d, on_error="drop"))
    assert rep.notes["ignored_values_bdfiod"] == 1
    # carbon above 1000 g/kg
    d2 = _copy("wosis_2023", tmp_path)
    f2 = d2 / "wosis_202312_orgc.tsv"
    _edit(f2, lambda ls: ls[:3] + [_cell(ls[3], ls[0], "value_avg", "1523")] + ls[4:])
    with pytest.raises(DataError, match="g/kg") as e:
        read_wosis(d2, on_error="raise")
    assert e.value.line == 4 and e.value.column == "value_avg"


def test_percent_carbon_and_metre_depths_in_a_csv(tmp_path):
    src = pd.read_csv(FIX / "profiles_simple.csv")
    pct = src.assign(soc=src["soc"] / 10.0).rename(columns={"soc": "soc [%]"})
    pct.to_csv(tmp_path / "pct.csv", index=False)
    ref = read_profiles_csv(FIX / "profiles_simple.csv")
    ds = read_profiles_csv(tmp_path / "pct.csv")
    np.testing.assert_allclose(ds["soc_content"].values, ref["soc_content"].values,
                               equal_nan=True)
    with pytest.raises(DataError, match="header says") as e:
        read_profiles_csv(tmp_path / "pct.csv", soc_unit="g/kg")
    assert e.value.line == 1
    # percent values declared as g/kg: read, but the report warns
    src.assign(soc=src["soc"] / 10.0).to_csv(tmp_path / "unlabelled.csv", index=False)
    rep = screening_report(read_profiles_csv(tmp_path / "unlabelled.csv"))
    assert any("percent" in w for w in rep.warnings)
    # depths in metres: detected for the file (default depth_unit="auto"), and reported
    src.assign(upper_depth=src["upper_depth"] / 100, lower_depth=src["lower_depth"] / 100) \
        .to_csv(tmp_path / "metres.csv", sep=";", index=False)
    ds = read_profiles_csv(tmp_path / "metres.csv")
    rep = screening_report(ds)
    assert ds.sizes["profile"] == 6 and rep.files[0]["depth_unit"] == "m"
    assert any("metres" in w for w in rep.warnings)
    # forced to cm: everything is too shallow, and the report says why
    with pytest.warns(DataWarning, match="no profile is left"):
        ds = read_profiles_csv(tmp_path / "metres.csv", depth_unit="cm")
    rep = screening_report(ds)
    assert ds.sizes["profile"] == 0 and any("metres" in w for w in rep.warnings)


def test_csv_missing_required_column_and_multiline_quotes(tmp_path):
    src = pd.read_csv(FIX / "profiles_simple.csv")
    src.drop(columns=["lat"]).to_csv(tmp_path / "nolat.csv", index=False)
    with pytest.raises(DataError, match="latitude") as e:
        read_profiles_csv(tmp_path / "nolat.csv")
    assert e.value.line == 1
    # a quoted field spanning two lines shifts the line numbers of later rows
    bad = src.astype({"upper_depth": object})
    bad["note"] = ""
    bad.loc[0, "note"] = "two\nlines"
    bad.loc[4, "upper_depth"] = "x"
    bad.to_csv(tmp_path / "multi.csv", index=False)
    with pytest.raises(DataError) as e:
        read_profiles_csv(tmp_path / "multi.csv", on_error="raise")
    assert e.value.line == 7 and e.value.column == "upper_depth"


def test_not_a_wosis_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("hello\n")
    with pytest.raises(DataError, match="organic-carbon"):
        read_wosis(tmp_path)
    with pytest.raises(DataError, match="folder"):
        read_wosis(FIX / "profiles_simple.csv")


def test_unused_profiles_are_not_validated(tmp_path, wosis2019):
    """A bad row in the profiles table for a profile without carbon data is harmless."""
    d = _copy("wosis_2019", tmp_path)
    f = d / "wosis_201909_profiles.tsv"
    _edit(f, lambda ls: ls[:-1] + [ls[1].replace("101", "999", 1).replace("52.1", "abc"),
                                   ls[2], ls[-1]])
    ds = read_wosis(d)   # 999 has no layers; the duplicated row of 102 is collapsed
    _same(wosis2019, ds)
    assert screening_report(ds).notes["exact_duplicate_rows_profiles"] == 1
    _edit(f, lambda ls: ls[:2] + [_cell(ls[2], ls[0], "latitude", "north")] + ls[3:])
    with pytest.raises(DataError, match="not a number") as e:
        read_wosis(d, on_error="raise")
    assert e.value.line == 3 and e.value.column == "latitude"


def test_netcdf_round_trip_keeps_the_report(wosis2019, tmp_path):
    import xarray as xr

    wosis2019.to_netcdf(tmp_path / "p.nc")
    with xr.open_dataset(tmp_path / "p.nc") as back:
        back = back.load()
    assert back.identical(wosis2019)
    assert screening_report(back) == screening_report(wosis2019)

"""Hostile input to the profile readers: one case per problem, nothing silently dropped.

Table-driven: each case writes a small file (or uses the messy fixtures written by
``tests/fixtures/data/make_messy_fixtures.py``) and states where the problem is. By default
the row is excluded and the screening report has an entry naming file, line and column; in
strict mode (``on_error="raise"``) the error names them. Policies that are not errors
(interleaved horizons, overlaps) never raise and are always reported.
"""

from __future__ import annotations

import dataclasses
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import socmodels  # noqa: F401  (x64)
from socmodels.data import (
    DataError,
    DataWarning,
    combine_profiles,
    read_profiles_csv,
    read_wosis,
    screening_report,
)

FIX = Path(__file__).parent / "fixtures" / "data"
MESSY = FIX / "messy_webservice"
HEADER = "profile_id,lat,lon,upper_depth,lower_depth,soc,note"
GOOD = ["P1,50,10,0,10,30,a", "P1,50,10,10,30,20,b", "P1,50,10,30,60,10,c",
        "P1,50,10,60,100,5,d"]


def _csv(tmp: Path, lines: list[str], *, name: str = "t.csv", end: str = "\n",
         encoding: str = "utf-8") -> Path:
    p = tmp / name
    p.write_bytes(end.join([HEADER, *lines]).encode(encoding) + end.encode(encoding))
    return p


@dataclasses.dataclass
class Case:
    """A hostile file: where the problem is and what the reader must say."""

    name: str
    write: Callable[[Path], Path]
    reason: str
    line: int
    column: str | None      # column named in the report/error (None: not checked)
    strict_raises: bool = True
    file: str = "t.csv"


def _unterminated(tmp: Path) -> Path:
    return _csv(tmp, [GOOD[0], 'P1,50,10,10,30,20,"open quote', *GOOD[2:], "P2,1,1,0,5,1,x"])


def _truncated(tmp: Path) -> Path:
    p = _csv(tmp, GOOD)
    p.write_text(p.read_text() + "P1,50,10,100,1")            # no newline: cut mid-row
    return p


CASES = [
    Case("unterminated quote", _unterminated, "unterminated_quote", 3, "(quote)"),
    Case("ragged row (too many)", lambda t: _csv(t, [GOOD[0], GOOD[1] + ",extra", *GOOD[2:]]),
         "ragged_row", 3, "field 7"),
    Case("ragged row (too few)", lambda t: _csv(t, [*GOOD[:3], "P1,50,10,60,100", GOOD[3]]),
         "ragged_row", 5, "field 7"),
    Case("file cut mid-row", _truncated, "truncated_row", 6, "field 7"),
    Case("text in a number", lambda t: _csv(t, [GOOD[0], "P1,50,10,10,30,<0.1,b",
                                               *GOOD[2:]]), "invalid_value", 3, "soc"),
    Case("lower above upper", lambda t: _csv(t, [*GOOD[:2], "P1,50,10,60,30,10,c", GOOD[3]]),
         "lower_above_upper", 4, "lower_depth"),
    Case("out-of-range carbon", lambda t: _csv(t, [*GOOD[:3], "P1,50,10,60,100,5000,d"]),
         "invalid_value", 5, "soc"),
    Case("latitude out of range", lambda t: _csv(t, [g.replace("P1,50", "P1,95")
                                                     for g in GOOD]),
         "invalid_coordinates", 2, "latitude"),
    Case("interleaved horizons", lambda t: _csv(t, [*GOOD, "P1,50,10,30,60,4,E"]),
         "interleaved_horizon", 6, "soc", strict_raises=False),
    Case("overlap 20-60 next to 10-30",
         lambda t: _csv(t, ["P1,50,10,0,10,30,a", "P1,50,10,10,30,20,b",
                            "P1,50,10,20,60,10,c", "P1,50,10,60,100,5,d"]),
         "overlapping_layer", 4, "upper_depth", strict_raises=False),
    Case("0-100 over a whole profile", lambda t: _csv(t, [*GOOD, "P1,50,10,0,100,12,bulk"]),
         "overlapping_layer", 6, "upper_depth", strict_raises=False),
    Case("Latin-1 with CR line endings and text in a number",
         lambda t: _csv(t, ["P1,50,10,0,10,30,gleyé", "P1,50,10,10,30,n.d.,b", *GOOD[2:]],
                        end="\r", encoding="latin-1"), "invalid_value", 3, "soc"),
    Case("UTF-16 with a ragged row",
         lambda t: _csv(t, [GOOD[0], GOOD[1] + ",x", *GOOD[2:]], end="\r\n",
                        encoding="utf-16"), "ragged_row", 3, "field 7"),
    Case("messy web-service: unterminated quote", lambda t: MESSY, "unterminated_quote", 5,
         "(quote)", file="wosis_latest_orgc_ca.csv"),
    Case("messy web-service: ragged row", lambda t: MESSY, "ragged_row", 4, "field 14",
         file="wosis_latest_bdfiod_nl.csv"),
    Case("messy web-service: cut mid-row", lambda t: MESSY, "truncated_row", 16, "field 14",
         file="wosis_latest_orgc_nl.csv"),
    Case("messy web-service: text in a number", lambda t: MESSY, "invalid_value", 15,
         "orgc_value_avg", file="wosis_latest_orgc_nl.csv"),
    Case("messy web-service: interleaved Bt1 / E and E", lambda t: MESSY,
         "interleaved_horizon", 5, "orgc_value_avg", strict_raises=False,
         file="wosis_latest_orgc_nl.csv"),
    Case("messy web-service: 20-60 next to 10-30", lambda t: MESSY, "overlapping_layer", 9,
         "upper_depth", strict_raises=False, file="wosis_latest_orgc_nl.csv"),
    Case("messy web-service: 0-100 over the profile", lambda t: MESSY, "overlapping_layer",
         14, "upper_depth", strict_raises=False, file="wosis_latest_orgc_nl.csv"),
]


def _read(path: Path, **kw):
    return read_wosis(path, **kw) if path.is_dir() else read_profiles_csv(path, **kw)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_default_excludes_and_reports(case, tmp_path):
    path = case.write(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        ds = _read(path)
    rep = screening_report(ds)
    rep.check()
    hits = [i for i in rep.issues if i.reason == case.reason and i.line == case.line
            and Path(i.file).name == case.file]
    assert hits, f"no {case.reason} entry at {case.file}:{case.line}; issues: {rep.issues}"
    if case.column is not None:
        assert hits[0].column == case.column


@pytest.mark.parametrize("case", [c for c in CASES if c.strict_raises and "messy" not in c.name],
                         ids=lambda c: c.name)
def test_strict_mode_raises_naming_file_line_column(case, tmp_path):
    path = case.write(tmp_path)
    with pytest.raises(DataError) as e:
        _read(path, on_error="raise")
    assert Path(e.value.file).name == case.file and e.value.line == case.line
    assert e.value.reason == case.reason
    if case.column not in (None, "(quote)"):
        assert e.value.column == case.column
    assert case.file in str(e.value) and f"line {case.line}" in str(e.value)


@pytest.mark.parametrize("case", [c for c in CASES if not c.strict_raises
                                  and "messy" not in c.name], ids=lambda c: c.name)
def test_policies_never_raise_in_strict_mode(case, tmp_path):
    path = case.write(tmp_path)
    rep = screening_report(_read(path, on_error="raise"))
    assert any(i.reason == case.reason and i.line == case.line for i in rep.issues)


def test_one_summary_warning_for_excluded_rows():
    with pytest.warns(DataWarning) as rec:
        read_wosis(MESSY)
    summaries = [w for w in rec if "were excluded" in str(w.message)]
    assert len(summaries) == 1
    assert "wosis_latest_orgc_nl.csv" in str(summaries[0].message)


def test_messy_folder_merges_files_per_property():
    """Two countries' exports in one folder: every file read, duplicates across files
    treated as within one file, accounting balanced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        ds = read_wosis(MESSY)
    rep = screening_report(ds)
    rep.check()
    roles = {Path(f["path"]).name: f["role"] for f in rep.files}
    assert roles["wosis_latest_orgc_nl.csv"] == roles["wosis_latest_orgc_ca.csv"] == "property"
    assert roles["wosis_latest_profiles_nl.csv"] == roles["wosis_latest_profiles_ca.csv"] \
        == "profiles"
    assert list(ds["profile_id"].values) == [201, 202, 203, 301]
    # 202's first layer is in both orgc files: collapsed to one
    assert rep.layers_dropped["exact_duplicate"] == 1
    assert rep.notes["exact_duplicate_rows_profiles"] == 1       # 203 in both profiles tables
    # interleaved horizons 42-66: one layer with the mean carbon
    p201 = ds.sel(profile=0)
    k = int(np.flatnonzero(np.isclose(p201["upper_depth"].values, 0.42))[0])
    assert p201["soc_content"].values[k] == pytest.approx(4.5)
    # overlaps: 20-60 next to 10-30 and 0-100 over 203 dropped; the finer layers kept
    for pid, (up, lo) in ((1, (0.2, 0.6)), (2, (0.0, 1.0))):
        p = ds.isel(profile=pid)
        m = p["layer_mask"].values
        assert not np.any(np.isclose(p["upper_depth"].values[m], up)
                          & np.isclose(p["lower_depth"].values[m], lo))
    assert rep.layers_dropped["overlapping_layer"] == 2
    # the Latin-1/CR file was read (301 kept with its three layers)
    assert int(ds.isel(profile=3)["layer_mask"].sum()) == 3
    ca = [f for f in rep.files if Path(f["path"]).name in ("wosis_latest_orgc_ca.csv",
                                                          "wosis_latest_profiles_ca.csv")]
    assert {f["encoding"] for f in ca} == {"cp1252"}       # Latin-1 bytes decode as cp1252
    assert {f["line_ending"] for f in ca} == {"CR"}
    # the header-only file is named in a warning
    assert any("wosis_latest_clay.csv" in w and "only a header" in w for w in rep.warnings)


def test_policies_can_be_changed():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        keep = screening_report(read_wosis(MESSY, overlaps="keep", interleaved="drop"))
    assert "overlapping_layer" not in keep.layers_dropped
    assert keep.notes["profiles_with_overlaps"] == 2
    assert keep.layers_dropped["interleaved_horizon"] == 2


def test_header_only_and_zero_profiles_warn_naming_the_file(tmp_path):
    p = _csv(tmp_path, [])
    with pytest.warns(DataWarning) as rec:
        ds = read_profiles_csv(p)
    msgs = [str(w.message) for w in rec]
    assert ds.sizes["profile"] == 0
    assert any("t.csv" in m and "only a header" in m for m in msgs)
    assert any("no profile is left" in m and "t.csv" in m for m in msgs)
    q = _csv(tmp_path, GOOD[:2], name="shallow.csv")
    with pytest.warns(DataWarning, match="no profile is left.*shallow.csv"):
        read_profiles_csv(q)


def test_one_profile_extract(tmp_path):
    ds = read_profiles_csv(_csv(tmp_path, GOOD))
    assert ds.sizes["profile"] == 1 and int(ds["layer_mask"].sum()) == 4


def test_utf16_and_bom_read_like_utf8(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        a = read_profiles_csv(FIX / "messy_profiles.csv")
        b = read_profiles_csv(FIX / "messy_profiles_utf16.csv")
    assert screening_report(b).files[0]["encoding"] == "utf-16"
    np.testing.assert_array_equal(a["soc_density"].values, b["soc_density"].values)
    bom = FIX / "messy_profiles.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        c = read_profiles_csv(_bom_copy(bom, tmp_path / "bom.csv"))
    assert screening_report(c).files[0]["encoding"] == "utf-8-sig"
    np.testing.assert_array_equal(a["soc_density"].values, c["soc_density"].values)


def _bom_copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(b"\xef\xbb\xbf" + src.read_bytes())
    return dst


def test_site_column_is_not_a_profile_id(tmp_path):
    ds = read_profiles_csv(FIX / "messy_profiles.csv")
    assert list(ds["profile_id"].values) == ["P1", "P2", "P3"]     # P1, P2 share site S1
    src = pd.read_csv(FIX / "messy_profiles.csv").drop(columns=["profile_id"])
    src.to_csv(tmp_path / "sites.csv", index=False)
    with pytest.raises(DataError, match="'site' is not taken as the profile id") as e:
        read_profiles_csv(tmp_path / "sites.csv")
    assert e.value.line == 1 and e.value.column == "profile_id"


def test_cm_depths_that_fit_the_column_as_metres():
    """0-20-40-80-150-300 is judged for the file: cm, all five layers kept."""
    ds = read_profiles_csv(FIX / "messy_profiles.csv")
    rep = screening_report(ds)
    assert rep.files[0]["depth_unit"] == "cm" and "300" in rep.files[0]["depth_unit_reason"]
    p3 = ds.isel(profile=2)
    assert int(p3["layer_mask"].sum()) == 5
    assert p3["lower_depth"].values[4] == pytest.approx(3.0)


def test_soc_as_stock_and_density(tmp_path):
    ds = read_profiles_csv(FIX / "messy_stocks.csv")       # kgC m-2 per interval
    np.testing.assert_allclose(ds["soc_density"].values[0], [3e4, 2e4, 1e4])
    assert np.isnan(ds["soc_content"].values).all()
    dens = pd.DataFrame({"profile_id": "D", "lat": 1.0, "lon": 2.0, "upper": [0, 10, 30],
                         "lower": [10, 30, 60], "ocd": [30.0, 20.0, 10.0]})
    dens.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match="state the unit") as e:
        read_profiles_csv(tmp_path / "d.csv")
    assert e.value.column == "ocd"
    ds = read_profiles_csv(tmp_path / "d.csv", soc_unit="kg/m3")
    np.testing.assert_allclose(ds["soc_density"].values[0], [3e4, 2e4, 1e4])
    with pytest.raises(DataError, match="does not fit a density column"):
        read_profiles_csv(tmp_path / "d.csv", soc_unit="kg/m2")


def test_conflicting_cross_file_duplicate_is_reported(tmp_path):
    d = tmp_path / "w"
    shutil.copytree(MESSY, d)
    f = d / "wosis_latest_orgc_ca.csv"
    f.write_bytes(f.read_bytes().replace(b'2021,0,10,"A",0,"{1:30.0}",30.0',
                                         b'2021,0,10,"A",0,"{1:31.0}",31.0'))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        rep = screening_report(read_wosis(d))
    files = {Path(i.file).name for i in rep.issues if i.reason == "conflicting_duplicate"}
    assert files == {"wosis_latest_orgc_nl.csv", "wosis_latest_orgc_ca.csv"}


def test_several_folders_and_combined_datasets(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        both = read_wosis([FIX / "wosis_webservice", MESSY])
        one = read_wosis(FIX / "wosis_webservice")
        csv = read_profiles_csv(FIX / "messy_profiles.csv")
    assert set(one["profile_id"].values) < set(both["profile_id"].values)
    screening_report(both).check()
    comb = combine_profiles({"wosis": one, "mine": csv})
    assert comb.sizes["profile"] == one.sizes["profile"] + csv.sizes["profile"]
    assert "wosis:101" in comb["profile_id"].values and "mine:P1" in comb["profile_id"].values
    assert len(set(comb["profile_id"].values)) == comb.sizes["profile"]
    r = screening_report(comb)
    r.check()
    assert r.layers_read == screening_report(one).layers_read + screening_report(csv).layers_read
    m = comb["dataset"].values == "mine"
    np.testing.assert_array_equal(comb["soc_density"].values[m][:, :csv.sizes["layer"]],
                                  csv["soc_density"].values)


# ---------------------------------------------------------------------------------------
# Property: every data row is in the result or in the report
# ---------------------------------------------------------------------------------------

_row = st.fixed_dictionaries({
    "pid": st.sampled_from(["a", "b", "c"]),
    "upper": st.integers(0, 120),
    "thick": st.integers(0, 60),
    "soc": st.one_of(st.floats(0.1, 200, allow_nan=False).map(lambda v: f"{v:.2f}"),
                     st.sampled_from(["", "n.d.", "<0.1", "0", "-3", "1e9", "NA"])),
    "kind": st.sampled_from(["ok"] * 6 + ["extra", "short", "quote", "blank"]),
})


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_row, min_size=1, max_size=25), end=st.sampled_from(["\n", "\r\n", "\r"]))
def test_every_row_is_in_the_result_or_the_report(rows, end, tmp_path):
    lines, data_lines, junk_lines = [], [], []
    coords = {"a": "10,20", "b": "11,21", "c": "12,22"}
    for r in rows:
        if r["kind"] == "blank":
            lines.append("")
            continue
        text = f"{r['pid']},{coords[r['pid']]},{r['upper']},{r['upper'] + r['thick']},{r['soc']}"
        text += {"ok": ",x", "extra": ",x,y", "short": "", "quote": ',"x'}[r["kind"]]
        lines.append(text)
        data_lines.append(len(lines) + 1)
        if r["kind"] == "ok" and r["soc"] in ("n.d.", "<0.1"):
            junk_lines.append(len(lines) + 1)
    p = tmp_path / "prop.csv"
    p.write_bytes(end.join([HEADER, *lines]).encode() + end.encode())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        ds = read_profiles_csv(p, min_layers=1, min_max_depth_cm=0.0, depth_unit="cm")
    rep = screening_report(ds)
    rep.check()                                     # kept + every drop reason == read
    assert rep.layers_read == len(data_lines)       # every written row was counted
    assert rep.layers_kept == int(ds["layer_mask"].sum())
    malformed = {i.line for i in rep.issues if i.action == "dropped row"}
    assert malformed <= set(data_lines)
    assert len(malformed) == rep.layers_dropped.get("malformed_row", 0)
    # a row with text in a number is reported at its own line
    invalid = {i.line for i in rep.issues if i.reason == "invalid_value"}
    assert set(junk_lines) <= invalid | malformed


def test_strict_mode_on_the_messy_folder_names_the_first_problem():
    with pytest.raises(DataError) as e:
        read_wosis(MESSY, on_error="raise")
    assert Path(e.value.file).parent.name == "messy_webservice" and e.value.line is not None
    assert e.value.reason in {"unterminated_quote", "ragged_row", "truncated_row"}


def test_profiles_tables_that_disagree_across_files(tmp_path):
    d = tmp_path / "w"
    shutil.copytree(MESSY, d)
    f = d / "wosis_latest_profiles_ca.csv"
    f.write_bytes(f.read_bytes().replace(b"0.01,53.0,6.0", b"0.01,53.4,6.0"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        ds = read_wosis(d)
    rep = screening_report(ds)
    hits = {(Path(i.file).name, i.line) for i in rep.issues if i.reason == "invalid_coordinates"}
    assert hits == {("wosis_latest_profiles_nl.csv", 4), ("wosis_latest_profiles_ca.csv", 2)}
    assert 203 not in ds["profile_id"].values and rep.profiles_dropped["invalid_coordinates"] == 1


def test_depth_unit_stated_in_the_header(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("profile_id,lat,lon,top [m],bottom [m],soc\n"
                 "A,1,1,0,2,10\nA,1,1,2,4,5\nA,1,1,4,8,2\n")    # auto would say cm
    ds = read_profiles_csv(p)
    rep = screening_report(ds)
    assert rep.files[0]["depth_unit"] == "m" and float(ds["lower_depth"].max()) == 8.0
    assert rep.files[0]["depth_unit_reason"] == "stated in the header"
    with pytest.raises(DataError, match="header says depths"):
        read_profiles_csv(p, depth_unit="cm")

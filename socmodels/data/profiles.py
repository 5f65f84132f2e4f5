"""Soil profiles: WoSIS downloads and simple one-table CSVs -> a screened profiles Dataset.

Two public readers share one screening pipeline:

* :func:`read_wosis` reads a folder holding WoSIS tables as ISRIC distributes them: the
  September-2019 snapshot (``wosis_201909_profiles.tsv`` plus the wide
  ``wosis_201909_layers_chemical.tsv`` / ``..._physical.tsv``), the web-service (WFS) export
  (one CSV per property, ``gml_id`` first) or the December-2023 snapshot (one long TSV per
  property with a generic ``value_avg`` column and its own coordinates). Files are found by
  name and recognised by their header; columns are always addressed by name.
* :func:`read_profiles_csv` reads a user table with one row per layer.

Both return an :class:`xarray.Dataset` with dimensions ``(profile, layer)`` (layers padded,
``layer_mask`` True where real), coordinates ``profile_id``, ``lat``, ``lon`` and variables
``upper_depth``, ``lower_depth``, ``node_depth`` [m], ``soc_content`` [g kg-1],
``bulk_density`` [kg dm-3], ``bd_estimated``, ``coarse_fragments`` [%], ``soc_density``
[gC m-3], ``clay``/``sand``/``silt`` [%] and ``licence`` per profile. The
:class:`~socmodels.data.ScreeningReport` is stored as JSON in ``attrs['screening_report']``
(get it back with :func:`~socmodels.data.screening_report`).

SOC density (Tao et al. 2024, §2.1)::

    soc_density [gC m-3] = soc_content [g kg-1] x BD [kg dm-3] x 1000 x (1 - CF [%] / 100)

with the pedotransfer function of the paper where BD is missing::

    BD = alpha + beta exp(-gamma OM),  OM = 1.724 SOC,  alpha 0.32, beta 1.30, gamma 0.0089

The paper states SOC in percent; the authors' code (``pedo_transfer_uncertainty.R``,
``docs/original_code.md`` §4) feeds g kg-1. The unit is the ``ptf_soc_unit`` option, default
``"g/kg"`` (the code's choice).
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from socmodels import layers
from socmodels.data._report import DataError, DataWarning, Issue, ScreeningReport
from socmodels.data._text import (
    BadRow,
    TextFormat,
    line_numbers,
    read_columns,
    sniff,
    to_numeric,
)

__all__ = [
    "read_wosis",
    "read_profiles_csv",
    "combine_profiles",
    "pedotransfer_bd",
    "soc_density",
    "normalize_licence",
    "profiles_dataset",
    "PTF_ALPHA",
    "PTF_BETA",
    "PTF_GAMMA",
    "OM_PER_SOC",
    "SOC_CODE",
    "BD_CODES",
    "CF_CODE",
    "TEXTURE_CODES",
    "PLAUSIBLE_RANGES",
    "SOC_UNITS",
]

PTF_ALPHA = 0.32
"""Pedotransfer alpha [kg dm-3] (Tao et al. 2024, fitted to WoSIS)."""
PTF_BETA = 1.30
"""Pedotransfer beta [kg dm-3]."""
PTF_GAMMA = 0.0089
"""Pedotransfer gamma [per unit OM, in the unit of ``ptf_soc_unit``]."""
OM_PER_SOC = 1.724
"""Van Bemmelen factor: organic matter = 1.724 x organic carbon."""

SOC_CODE = "orgc"
"""WoSIS code of organic carbon [g kg-1]."""
BD_CODES = ("bdfiod", "bdfi33", "bdwsod")
"""WoSIS bulk-density codes [kg dm-3], in order of preference: fine earth oven-dry, fine earth
at 33 kPa, whole soil oven-dry (the last is only an approximation of fine-earth BD)."""
CF_CODE = "cfvo"
"""WoSIS code of coarse fragments [volume %]."""
TEXTURE_CODES = ("clay", "sand", "silt")
"""WoSIS texture codes [mass %]."""

PLAUSIBLE_RANGES: dict[str, tuple[float, float, str]] = {
    "orgc": (0.0, 1000.0, "organic carbon must be in g/kg (0-1000); values above 1000 look"
                          " like mg/kg or per-mille x 10"),
    "bd": (0.01, 2.7, "bulk density must be in kg/dm3 (= g/cm3, 0.01-2.7); values near 1000"
                      " look like kg/m3 (divide by 1000)"),
    "soc_density": (0.0, 1.0e6, "organic carbon density must be in gC m-3 (a peat holds"
                                " about 5e4); check the stated unit"),
    "cfvo": (0.0, 100.0, "coarse fragments must be in volume percent (0-100)"),
    "clay": (0.0, 100.0, "clay must be in percent (0-100)"),
    "sand": (0.0, 100.0, "sand must be in percent (0-100)"),
    "silt": (0.0, 100.0, "silt must be in percent (0-100)"),
}
"""Per property: (lowest, highest, hint). Values outside are an ``invalid_value``."""

_ERROR_REASONS = {"invalid_value", "lower_above_upper", "conflicting_duplicate",
                  "invalid_coordinates"}
"""Row-level problems: raise in strict mode (``on_error="raise"``), else excluded and
reported (together with malformed records) in one summary warning."""
_WARN_REASONS = _ERROR_REASONS | {"unterminated_quote", "ragged_row", "truncated_row"}


# ---------------------------------------------------------------------------------------
# Physics: pedotransfer and density
# ---------------------------------------------------------------------------------------

def pedotransfer_bd(soc: Any, *, soc_unit: str = "g/kg", alpha: float = PTF_ALPHA,
                    beta: float = PTF_BETA, gamma: float = PTF_GAMMA,
                    om_factor: float = OM_PER_SOC) -> np.ndarray:
    r"""Bulk density [kg dm-3] from organic carbon with the paper's pedotransfer function.

    .. math:: BD = \alpha + \beta \exp(-\gamma \cdot 1.724 \cdot SOC)

    Args:
        soc (array_like):
            Organic carbon content in **g kg-1** (always; the readers standardise to g kg-1).
        soc_unit ({"g/kg", "%"}):
            The unit in which the formula takes SOC. ``"g/kg"`` (default) is what the authors'
            code does (``docs/original_code.md`` §4); ``"%"`` is what the paper's text says
            (SOC in percent = g kg-1 / 10). With g kg-1 the function is much flatter: 20 g kg-1
            gives 1.277 (g/kg) vs 1.581 (%).
        alpha, beta, gamma, om_factor (float):
            Coefficients (defaults: Tao et al. 2024, α = 0.32, β = 1.30, γ = 0.0089, 1.724).

    Returns:
        ndarray: Bulk density, kg dm-3.

    References:
        Tao et al. (2024) Glob. Change Biol., doi:10.1111/gcb.17297, §2.1; Yigini et al. (2018);
        Grigal et al. (1989).
    """
    x = np.asarray(soc, dtype=np.float64)
    if soc_unit == "%":
        x = x / 10.0
    elif soc_unit != "g/kg":
        raise ValueError(f"soc_unit must be 'g/kg' or '%', got {soc_unit!r}")
    return alpha + beta * np.exp(-gamma * om_factor * x)


def soc_density(soc_content: Any, bulk_density: Any, coarse_fragments: Any = 0.0
                ) -> np.ndarray:
    r"""SOC density [gC m-3] of a layer.

    .. math:: \rho_{SOC} = SOC \cdot BD \cdot 1000 \cdot (1 - CF/100)

    Args:
        soc_content (array_like): Organic carbon of the fine earth, g kg-1.
        bulk_density (array_like): Fine-earth bulk density, kg dm-3 (g cm-3).
        coarse_fragments (array_like): Coarse fragments, volume %. NaN counts as 0.

    Returns:
        ndarray: gC m-3 (g kg-1 x kg dm-3 = g dm-3 = 1000 g m-3).
    """
    cf = np.nan_to_num(np.asarray(coarse_fragments, dtype=np.float64), nan=0.0)
    return (np.asarray(soc_content, dtype=np.float64) * np.asarray(bulk_density, np.float64)
            * 1000.0 * (1.0 - cf / 100.0))


def normalize_licence(licence: str) -> str:
    """Canonical form of a licence string: ``"CC BY-NC 4.0"`` -> ``"CC-BY-NC"``.

    Upper case, spaces/underscores to hyphens, version numbers removed. ``""`` stays ``""``
    (unknown).
    """
    s = str(licence).strip().upper().replace("_", "-").replace(" ", "-")
    s = re.sub(r"-?V?\d+(\.\d+)*$", "", s)
    s = re.sub(r"-+", "-", s).strip("-")
    return s


# ---------------------------------------------------------------------------------------
# Options and problem collection
# ---------------------------------------------------------------------------------------

SOC_UNITS: dict[str, tuple[str, float]] = {
    "g/kg": ("content", 1.0), "%": ("content", 10.0),
    "g/m3": ("density", 1.0), "kg/m3": ("density", 1000.0),
    "g/m2": ("stock", 1.0), "kg/m2": ("stock", 1000.0), "t/ha": ("stock", 100.0),
}
"""Accepted organic-carbon units -> (quantity, factor to g kg-1, gC m-3 or gC m-2).

``content`` is mass per mass of fine earth, ``density`` carbon mass per volume of soil,
``stock`` carbon mass per area of the layer's depth interval (divided by the thickness to
give a density)."""

_UNIT_WORDS = {"percent": "%", "pct": "%", "g kg-1": "g/kg", "gkg": "g/kg", "g_kg": "g/kg",
               "gc/kg": "g/kg", "gc m-3": "g/m3", "g m-3": "g/m3", "gc/m3": "g/m3",
               "kgc m-3": "kg/m3", "kg m-3": "kg/m3", "kgc/m3": "kg/m3", "gc m-2": "g/m2",
               "g m-2": "g/m2", "gc/m2": "g/m2", "kgc m-2": "kg/m2", "kg m-2": "kg/m2",
               "kgc/m2": "kg/m2", "mg/ha": "t/ha", "tc/ha": "t/ha", "t ha-1": "t/ha"}


def _canonical_unit(unit: str | None) -> str | None:
    if unit is None:
        return None
    u = unit.strip().lower()
    return _UNIT_WORDS.get(u, _UNIT_WORDS.get(u.replace(" ", ""), u))


@dataclasses.dataclass(frozen=True)
class _Options:
    soc_unit: str = "g/kg"
    depth_unit: str = "cm"
    ptf_soc_unit: str = "g/kg"
    bd_codes: tuple[str, ...] = BD_CODES
    licences: tuple[str, ...] | None = None
    min_layers: int = 3
    min_max_depth_cm: float = 50.0
    max_node_depth_m: float = layers.COLUMN_DEPTH
    negative_depths: str = "drop"
    zero_thickness: str = "drop"
    on_error: str = "drop"
    interleaved: str = "mean"
    overlaps: str = "finest"

    @property
    def soc_quantity(self) -> str:
        """``"content"`` (g kg-1) or ``"density"`` (gC m-3; stocks are converted)."""
        return "content" if SOC_UNITS[self.soc_unit][0] == "content" else "density"

    def __post_init__(self) -> None:
        if self.on_error == "report":
            object.__setattr__(self, "on_error", "drop")
        for name, allowed in (("soc_unit", tuple(SOC_UNITS)),
                              ("depth_unit", ("cm", "m", "auto")),
                              ("interleaved", ("mean", "drop")),
                              ("overlaps", ("finest", "keep")),
                              ("ptf_soc_unit", ("g/kg", "%")),
                              ("negative_depths", ("drop", "shift")),
                              ("zero_thickness", ("drop", "keep")),
                              ("on_error", ("raise", "drop"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got"
                                 f" {getattr(self, name)!r}")
        if self.min_layers < 1:
            raise ValueError("min_layers must be >= 1")


class _Problems:
    """Raise or record row-level problems, naming file, line and column."""

    def __init__(self, report: ScreeningReport, on_error: str):
        self.report = report
        self.on_error = on_error
        self.files: list[TextFormat] = []
        self.pending: list[tuple[int, int | None, str, str, str, str]] = []
        self.malformed_soc = 0

    def add_file(self, fmt: TextFormat) -> int:
        self.files.append(fmt)
        return len(self.files) - 1

    @property
    def collect_rows(self) -> list[BadRow] | None:
        """A list for :func:`read_columns` to fill (None in strict mode: it raises)."""
        return None if self.on_error == "raise" else []

    def bad_rows(self, fmt: TextFormat, rows: list[BadRow] | None, soc: bool) -> None:
        """Malformed records of a file: excluded, reported (counted as layers for SOC)."""
        for b in rows or ():
            self.report.issues.append(Issue(str(fmt.path), b.line, f"field {len(fmt.header)}"
                                            if b.reason != "unterminated_quote" else "(quote)",
                                            b.reason, b.text, "dropped row"))
        if rows:
            if soc:
                self.malformed_soc += len(rows)
            else:
                self.report.note("malformed_rows_in_other_tables", len(rows))

    def __call__(self, fidx: np.ndarray | int, recs: Any, column: str, reason: str,
                 values: Any, action: str, message: str = "") -> None:
        """Problem at records ``recs`` of files ``fidx``; raises in 'raise' mode for errors."""
        recs = np.atleast_1d(np.asarray(recs))
        if recs.size == 0:
            return
        fidx_arr = np.broadcast_to(np.atleast_1d(np.asarray(fidx)), recs.shape)
        vals = np.broadcast_to(np.atleast_1d(np.asarray(values, dtype=object)), recs.shape)
        if self.on_error == "raise" and reason in _ERROR_REASONS:
            fmt = self.files[int(fidx_arr[0])]
            rec = recs[0]
            line = None
            if rec is not None and rec >= 0:
                line = line_numbers(fmt, [int(rec)]).get(int(rec))
            more = f" ({recs.size - 1} more like it)" if recs.size > 1 else ""
            raise DataError(f"{message} (value {vals[0]!r}){more}. Fix the file, or pass"
                            " on_error='drop' to drop such rows and count them in the"
                            " screening report.", file=fmt.path, line=line, column=column,
                            reason=reason)
        for f, r, v in zip(fidx_arr, recs, vals, strict=True):
            self.pending.append((int(f), None if r is None or r < 0 else int(r), column,
                                 reason, str(v), action))

    def finalize(self) -> None:
        by_file: dict[int, list[int]] = {}
        for f, r, *_ in self.pending:
            if r is not None:
                by_file.setdefault(f, []).append(r)
        lines = {f: line_numbers(self.files[f], rs) for f, rs in by_file.items()}
        for f, r, col, reason, val, action in self.pending:
            line = None if r is None else lines[f].get(r)
            self.report.issues.append(Issue(str(self.files[f].path), line, col, reason, val,
                                            action))
        self.pending.clear()


# ---------------------------------------------------------------------------------------
# Discovery of WoSIS files
# ---------------------------------------------------------------------------------------

_TEXT_SUFFIXES = {".tsv", ".csv", ".txt"}
_LAYER_KEYS = ("profile_layer_id", "layer_id")
_LICENCE_COLS = ("licence", "license")


@dataclasses.dataclass
class _PropertyTable:
    fmt: TextFormat
    layout: str  # "wide" or "long"
    codes: list[str]


def _discover(folders: Sequence[Path], codes: Sequence[str], report: ScreeningReport
              ) -> tuple[list[TextFormat], dict[str, list[_PropertyTable]]]:
    """Recognise the files of one or more folders: profiles tables and property tables.

    Any number of files may provide the same property (e.g. one web-service export per
    country): they are all read and merged; duplicates across files are treated exactly as
    duplicates within one file. Several profiles tables are merged the same way.
    """
    files: list[Path] = []
    for folder in folders:
        files += sorted(p for p in folder.iterdir()
                        if p.is_file() and p.suffix.lower() in _TEXT_SUFFIXES)
    if not files:
        raise DataError("no .tsv/.csv/.txt files in this folder; point read_wosis at the"
                        " unpacked WoSIS download", file=folders[0], reason="no_files")
    profiles: list[TextFormat] = []
    tables: dict[str, list[_PropertyTable]] = {}
    layouts: set[str] = set()
    for path in files:
        fmt = sniff(path)
        hdr = set(fmt.header)
        entry: dict[str, Any] = {"path": str(path), **fmt.describe()}
        wide_codes = [c for c in codes if f"{c}_value_avg" in hdr]
        if wide_codes and "profile_id" in hdr:
            layout = "wosis-webservice" if fmt.header[0] == "gml_id" else "wosis-2019-snapshot"
            layouts.add(layout)
            entry.update(role="property", layout=layout, properties=wide_codes)
            tab = _PropertyTable(fmt, "wide", wide_codes)
            for c in wide_codes:
                tables.setdefault(c, []).append(tab)
        elif "value_avg" in hdr and "profile_id" in hdr:
            tokens = path.stem.lower().split("_")
            code = next((t for t in reversed(tokens) if t in codes), None)
            if code is None:
                entry.update(role="ignored", layout="wosis-2023-snapshot",
                             why="property code in the file name is not one this reader uses")
            else:
                layouts.add("wosis-2023-snapshot")
                entry.update(role="property", layout="wosis-2023-snapshot", properties=[code])
                tables.setdefault(code, []).append(_PropertyTable(fmt, "long", [code]))
        elif {"profile_id", "latitude", "longitude"} <= hdr:
            entry.update(role="profiles")
            profiles.append(fmt)
        else:
            entry.update(role="ignored", why="neither a profiles table nor a property table"
                         " this reader uses")
        report.files.append(entry)
    if SOC_CODE not in tables:
        raise DataError(f"no organic-carbon table found: expected a column '{SOC_CODE}_value_avg'"
                        f" (2019 snapshot / web service) or a file named '*_{SOC_CODE}.tsv' with a"
                        f" 'value_avg' column (2023 snapshot); files seen:"
                        f" {[p.name for p in files]}", file=folders[0],
                        column=f"{SOC_CODE}_value_avg", reason="missing_table")
    if len(profiles) > 1:
        # Tables with coordinates that are not named like a profiles table (e.g. the 2023
        # snapshot's sites table) are set aside when a real profiles table exists.
        named = [f for f in profiles if "profile" in f.path.name.lower()]
        if named:
            for e in report.files:
                if e.get("role") == "profiles" and e["path"] not in {str(f.path) for f in named}:
                    e["role"] = "ignored"
                    e["why"] = "a table with coordinates not named like a profiles table"
            profiles = named
    report.layout = "+".join(sorted(layouts))
    return profiles, tables


# ---------------------------------------------------------------------------------------
# Reading tables into standard frames
# ---------------------------------------------------------------------------------------

def _parse_replicates(text: Any) -> float:
    """Mean of a WoSIS replicate array ``{1:22.70,2:9.70}`` (NaN if unparsable/empty)."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return np.nan
    s = str(text).strip().strip("{}").strip()
    if not s:
        return np.nan
    vals = []
    for part in s.split(","):
        v = part.split(":")[-1].strip().strip('"')
        try:
            vals.append(float(v))
        except ValueError:
            return np.nan
    return float(np.mean(vals)) if vals else np.nan


def _first_present(header: Iterable[str], names: Sequence[str]) -> str | None:
    hdr = set(header)
    return next((n for n in names if n in hdr), None)


def _numeric(df: pd.DataFrame, col: str, fidx: int, problems: _Problems, what: str,
             keep: np.ndarray) -> np.ndarray:
    """Numeric column; text entries are reported (raise) or set NaN and marked in ``keep``."""
    vals, bad = to_numeric(df, col)
    if bad.any():
        recs = df.index.to_numpy()[bad]
        problems(fidx, recs, col, "invalid_value", df[col].to_numpy()[bad],
                 "dropped layer" if what == "layer" else "value ignored",
                 f"'{col}' holds text that is not a number")
        if what == "layer":
            keep &= ~bad
    return vals


def _file_index(problems: _Problems, fmt: TextFormat) -> int:
    for i, f in enumerate(problems.files):
        if f.path == fmt.path:
            return i
    return problems.add_file(fmt)


def _litter(df: pd.DataFrame, col: str) -> np.ndarray:
    """The litter flag as 0/1: numbers, or true/false/yes/no/t/f text; missing = 0."""
    lit, _ = to_numeric(df, col)
    txt = df[col].astype("string").str.strip().str.lower()
    lit = np.where(txt.isin(["true", "t", "yes", "y"]).fillna(False).to_numpy(bool), 1.0, lit)
    lit = np.where(txt.isin(["false", "f", "no", "n"]).fillna(False).to_numpy(bool), 0.0, lit)
    return np.nan_to_num(lit, nan=0.0)


def _file_entry(report: ScreeningReport, fmt: TextFormat) -> dict[str, Any]:
    for e in report.files:
        if e["path"] == str(fmt.path):
            return e
    e = {"path": str(fmt.path), **fmt.describe()}
    report.files.append(e)
    return e


def _warn_if_empty(fmt: TextFormat, df: pd.DataFrame, report: ScreeningReport,
                   bad_rows: list[BadRow] | None) -> None:
    if len(df) == 0:
        msg = (f"file '{fmt.path}' holds no data rows"
               f"{' that could be read' if bad_rows else ' (only a header)'}")
        report.warnings.append(msg)
        warnings.warn(msg, DataWarning, stacklevel=4)


def _depth_factor(upper: np.ndarray, lower: np.ndarray, stated: str, header_unit: str | None,
                  entry: dict[str, Any], report: ScreeningReport) -> float:
    """Factor to centimetres for one file's depth columns; the decision goes in the report.

    ``stated`` ``"cm"``/``"m"`` (an option) or a unit in the header wins. ``"auto"`` judges
    the file as a whole, never layer by layer: metres if the deepest lower depth is at most
    10 and some depths are fractional (0.35), or if it is at most 3.5 (integer depths that
    shallow make no sense in cm); centimetres otherwise. A profile 0-20-40-80-150-300 is cm
    even though some of its layers would fit the 8.6 m column as metres.
    """
    if header_unit in ("cm", "m"):
        unit, why = header_unit, "stated in the header"
        if stated in ("cm", "m") and stated != header_unit:
            raise DataError(f"the header says depths are in {header_unit} but depth_unit="
                            f"{stated!r} was passed", file=entry["path"], line=1,
                            column="upper_depth", reason="unit")
    elif stated in ("cm", "m"):
        unit, why = stated, "given by the depth_unit option"
    else:
        v = np.concatenate([upper[np.isfinite(upper)], lower[np.isfinite(lower)]])
        if v.size == 0:
            unit, why = "cm", "no depths to judge from; WoSIS convention (cm)"
        else:
            deepest = float(np.max(np.abs(v)))
            fractional = bool(np.any(np.abs(v - np.round(v)) > 1e-9))
            if deepest <= 10.0 and fractional:
                unit = "m"
                why = f"deepest depth {deepest:g} <= 10 with fractional depths: metres"
            elif deepest <= 3.5:
                unit, why = "m", f"deepest depth {deepest:g} <= 3.5: metres"
            else:
                unit, why = "cm", f"deepest depth {deepest:g}: centimetres"
            if unit == "m":
                report.warnings.append(f"file '{entry['path']}': depths read as metres"
                                       f" ({why}); pass depth_unit='cm' if that is wrong")
    entry["depth_unit"] = unit
    entry["depth_unit_reason"] = why
    return 100.0 if unit == "m" else 1.0


def _read_table(fmt: TextFormat, layout: str, codes: Sequence[str], problems: _Problems,
                opts: _Options, report: ScreeningReport) -> dict[str, pd.DataFrame]:
    """Read the needed columns of one property table (once) -> a standard frame per code.

    Frame columns: pid, key, upper, lower, litter, value, licence, lat, lon, _f, _rec, _bad
    (text in a numeric column of a layer), _col (the value column's header name). Organic
    carbon is converted to g/kg and depths to cm.
    """
    hdr = fmt.header
    key_col = _first_present(hdr, _LAYER_KEYS)
    lat_col = "latitude" if "latitude" in hdr else None
    lon_col = "longitude" if "longitude" in hdr else None
    has_soc = SOC_CODE in codes
    need_depths = has_soc or key_col is None
    spec: dict[str, tuple[str, str | None, str | None]] = {}
    for code in codes:
        if layout == "wide":
            vcol, rcol = f"{code}_value_avg", f"{code}_value"
            lic = _first_present(hdr, [f"{code}_{c}" for c in _LICENCE_COLS])
        else:
            vcol, rcol = "value_avg", "value"
            lic = _first_present(hdr, _LICENCE_COLS)
        spec[code] = (vcol, rcol if rcol in hdr else None, lic)
    cols = ["profile_id"] + [c for c in (key_col, lat_col, lon_col) if c]
    if need_depths:
        cols += ["upper_depth", "lower_depth"]
    if has_soc and "litter" in hdr:
        cols.append("litter")
    for vcol, rcol, lic in spec.values():
        cols += [c for c in (vcol, rcol, lic) if c]
    numeric = [c for c in cols if c in ("upper_depth", "lower_depth", "litter", lat_col,
                                         lon_col) or c.endswith("value_avg")]
    bad_rows = problems.collect_rows
    df = read_columns(fmt, cols, numeric=numeric, bad_rows=bad_rows)
    problems.bad_rows(fmt, bad_rows, has_soc)
    fidx = _file_index(problems, fmt)
    entry = _file_entry(report, fmt)
    entry["records"] = int(len(df))
    _warn_if_empty(fmt, df, report, bad_rows)
    n = len(df)
    base = pd.DataFrame(index=df.index)
    base["pid"] = df["profile_id"].fillna("").astype(str).str.strip().to_numpy()
    base["key"] = (df[key_col].fillna("").astype(str).str.strip().to_numpy() if key_col
                   else np.full(n, "", object))
    keep = np.ones(n, bool)  # rows whose depths are readable
    if need_depths:
        upper = _numeric(df, "upper_depth", fidx, problems, "layer", keep)
        lower = _numeric(df, "lower_depth", fidx, problems, "layer", keep)
        f = _depth_factor(upper, lower, opts.depth_unit, None, entry, report)
        base["upper"] = upper * f
        base["lower"] = lower * f
    else:
        base["upper"] = np.nan
        base["lower"] = np.nan
    if has_soc and "litter" in df.columns:
        base["litter"] = _litter(df, "litter")
    else:
        base["litter"] = 0.0
    ok = np.ones(n, bool)
    base["lat"] = _numeric(df, lat_col, fidx, problems, "value", ok) if lat_col else np.nan
    base["lon"] = _numeric(df, lon_col, fidx, problems, "value", ok) if lon_col else np.nan
    base["_f"] = fidx
    base["_rec"] = df.index.to_numpy()
    out: dict[str, pd.DataFrame] = {}
    for code, (vcol, rcol, lic) in spec.items():
        soc = code == SOC_CODE
        k = keep.copy() if soc else np.ones(n, bool)
        value = _numeric(df, vcol, fidx, problems, "layer" if soc else "value", k)
        if rcol is not None:
            from_rep = np.isnan(value) & df[rcol].notna().to_numpy() & k
            if from_rep.any():
                rep = np.array([_parse_replicates(t) for t in df[rcol].to_numpy()[from_rep]])
                value[np.flatnonzero(from_rep)] = rep
                report.note(f"value_from_replicates_{code}", int(np.isfinite(rep).sum()))
        fr = base.copy()
        fr["value"] = value * (SOC_UNITS[opts.soc_unit][1] if soc else 1.0)
        fr["licence"] = (df[lic].fillna("").astype(str).str.strip().to_numpy() if lic
                         else np.full(n, "", object))
        fr["_bad"] = ~k
        fr["_col"] = vcol
        out[code] = fr.reset_index(drop=True)
    return out


# ---------------------------------------------------------------------------------------
# The shared screening pipeline
# ---------------------------------------------------------------------------------------

class _Layers:
    """The SOC layer frame with drop accounting (each dropped row counted once)."""

    _PROFILE_RULES = ("profile_not_found", "invalid_coordinates", "licence_excluded",
                      "too_few_layers", "too_shallow")

    def __init__(self, df: pd.DataFrame, report: ScreeningReport, problems: _Problems):
        self.df = df
        self.report = report
        self.problems = problems
        self.profile_fate: dict[str, str] = {}

    def drop(self, mask: np.ndarray, reason: str, column: str = "value", values: Any = None,
             message: str = "", detail: bool = True) -> None:
        """Drop the rows in ``mask`` for ``reason``; ``detail`` lists them as issues."""
        mask = np.asarray(mask, bool)
        if not mask.any():
            return
        sub = self.df[mask]
        if detail:
            vals = sub[column].to_numpy() if values is None and column in sub else values
            self.problems(sub["_f"].to_numpy(), sub["_rec"].to_numpy(),
                          str(sub["_col"].iloc[0]) if column == "value" else column, reason,
                          "" if vals is None else vals, "dropped layer", message)
        if reason in self._PROFILE_RULES:
            for p in pd.unique(sub["pid"]):
                self.profile_fate[p] = reason
        self.report.drop_layers(reason, int(mask.sum()))
        self.df = self.df[~mask].reset_index(drop=True)


def _dedupe_property(p: pd.DataFrame, code: str, problems: _Problems, report: ScreeningReport,
                     by: list[str]) -> pd.DataFrame:
    """Collapse exact duplicates; conflicting duplicates -> raise or value ignored."""
    p = p[~p["_bad"] & p["value"].notna()]
    cols = by + ["value"]
    exact = p.duplicated(subset=cols, keep="first")
    report.note(f"exact_duplicate_rows_{code}", int(exact.sum()))
    p = p[~exact]
    conflict = p.duplicated(subset=by, keep=False)
    if conflict.any():
        sub = p[conflict]
        problems(sub["_f"].to_numpy(), sub["_rec"].to_numpy(), sub["_col"].iloc[0],
                 "conflicting_duplicate", sub["value"].to_numpy(), "value ignored",
                 f"{code} is reported more than once for the same layer with different values;"
                 " duplicates are never averaged")
        report.note(f"conflicting_duplicate_values_ignored_{code}", int(conflict.sum()))
        p = p[~conflict]
    return p


def _check_range(p: pd.DataFrame, rng_key: str, code: str, problems: _Problems,
                 report: ScreeningReport) -> pd.DataFrame:
    lo, hi, hint = PLAUSIBLE_RANGES[rng_key]
    v = p["value"].to_numpy()
    bad = np.isfinite(v) & ((v < lo) | (v > hi))
    if rng_key == "bd":
        bad = np.isfinite(v) & ((v <= 0) | (v > hi))
    if bad.any():
        sub = p[bad]
        problems(sub["_f"].to_numpy(), sub["_rec"].to_numpy(), sub["_col"].iloc[0],
                 "invalid_value", sub["value"].to_numpy(), "value ignored",
                 f"{code} value outside [{lo}, {hi}]: {hint}")
        report.note(f"ignored_values_{code}", int(bad.sum()))
        p = p.assign(value=np.where(bad, np.nan, v))
    return p


def _screen(soc: pd.DataFrame, props: dict[str, pd.DataFrame], coords: pd.DataFrame | None,
            report: ScreeningReport, problems: _Problems, opts: _Options,
            profile_extra: pd.DataFrame | None = None) -> xr.Dataset:
    """Validate, join, screen and assemble the Dataset (all readers end here)."""
    report.layers_read = int(len(soc)) + problems.malformed_soc
    report.drop_layers("malformed_row", problems.malformed_soc)
    report.profiles_read = int(soc["pid"].nunique())
    pids_read = set(soc["pid"])
    L = _Layers(soc, report, problems)
    d = L.df

    # 1. rows with text in a numeric column
    L.drop(d["_bad"].to_numpy(), "invalid_value", detail=False)
    # 2. exact duplicates of the whole record
    sig = ["pid", "key", "upper", "lower", "litter", "value", "licence", "lat", "lon"]
    L.drop(L.df.duplicated(subset=sig, keep="first").to_numpy(), "exact_duplicate",
           detail=False)
    # 3. same layer id, different content
    if (L.df["key"] != "").any():
        keyed = L.df["key"] != ""
        dup = L.df[keyed].duplicated(subset=["pid", "key"], keep=False)
        mask = np.zeros(len(L.df), bool)
        mask[np.flatnonzero(keyed.to_numpy())[dup.to_numpy()]] = True
        L.drop(mask, "conflicting_duplicate",
               message="the same layer id is reported more than once with different values;"
                       " duplicates are never averaged")
    d = L.df
    # 4. litter
    L.drop(d["litter"].to_numpy() == 1, "litter", detail=False)
    d = L.df
    # 5. depths
    L.drop((d["upper"].isna() | d["lower"].isna()).to_numpy(), "missing_depth",
           "upper_depth", values="")
    d = L.df
    neg = ((d["upper"] < 0) | (d["lower"] < 0)).to_numpy()
    if opts.negative_depths == "shift" and neg.any():
        top = d.groupby("pid")["upper"].transform("min")
        shift = np.where(top < 0, -top, 0.0)
        report.note("profiles_shifted_for_negative_depths",
                    int(d.loc[top < 0, "pid"].nunique()))
        L.df = d.assign(upper=d["upper"] + shift, lower=d["lower"] + shift)
    else:
        L.drop(neg, "negative_depth", "upper_depth", values=d.loc[neg, "upper"].to_numpy())
    d = L.df
    bad = (d["lower"] < d["upper"]).to_numpy()
    L.drop(bad, "lower_above_upper", "lower_depth",
           values=("upper " + d.loc[bad, "upper"].astype(str) + ", lower "
                   + d.loc[bad, "lower"].astype(str)).to_numpy(),
           message="lower_depth is shallower than upper_depth")
    d = L.df
    if opts.zero_thickness == "drop":
        L.drop((d["lower"] == d["upper"]).to_numpy(), "zero_thickness", "lower_depth",
               values=d.loc[(d["lower"] == d["upper"]).to_numpy(), "lower"].to_numpy())
    # 6. SOC value
    d = L.df
    L.drop(d["value"].isna().to_numpy(), "missing_soc", detail=False)
    d = L.df
    L.drop((d["value"] <= 0).to_numpy(), "zero_soc")
    d = L.df
    rng = "orgc" if opts.soc_quantity == "content" else "soc_density"
    lo, hi, hint = PLAUSIBLE_RANGES[rng]
    L.drop((d["value"] > hi).to_numpy(), "invalid_value",
           message=f"organic carbon ({'g/kg' if rng == 'orgc' else 'gC m-3'}) above {hi}:"
                   f" {hint}")
    # 7. the same depth interval twice in a profile
    d = L.df
    same = d.duplicated(subset=["pid", "upper", "lower", "value"], keep="first")
    L.drop(same.to_numpy(), "duplicate_layer")
    _interleaved_horizons(L, opts, report)
    # 8. model column
    d = L.df
    node_m = 0.5 * (d["upper"] + d["lower"]) / 100.0
    L.drop((node_m > opts.max_node_depth_m).to_numpy(), "below_model_column",
           "lower_depth", values=d.loc[(node_m > opts.max_node_depth_m).to_numpy(), "lower"]
           .to_numpy())
    _overlapping_layers(L, opts, report)

    # 9. coordinates
    d = L.df
    if coords is None:
        cd = d[["pid", "lat", "lon", "_f", "_rec"]]
        cd = cd.drop_duplicates(subset=["pid", "lat", "lon"])
        clash = cd.duplicated(subset=["pid"], keep=False)
        if clash.any():
            sub = cd[clash]
            problems(sub["_f"].to_numpy(), sub["_rec"].to_numpy(), "latitude",
                     "invalid_coordinates", (sub["lat"].astype(str) + ", "
                                             + sub["lon"].astype(str)).to_numpy(),
                     "dropped profile",
                     "a profile has rows with different coordinates")
            bad_p = set(sub["pid"])
            cd = cd[~cd["pid"].isin(bad_p)]
            cd = pd.concat([cd, pd.DataFrame({"pid": sorted(bad_p), "lat": np.nan,
                                              "lon": np.nan, "_f": -1, "_rec": -1})])
        coords = cd
    else:
        coords = _check_profiles_table(coords, set(d["pid"]), problems, report)
        own = d[d["lat"].notna() & d["lon"].notna()].drop_duplicates("pid")
        if len(own):
            m = own.merge(coords[["pid", "lat", "lon"]], on="pid", suffixes=("", "_p"))
            differ = (np.abs(m["lat"] - m["lat_p"]) > 1e-6) | (np.abs(m["lon"] - m["lon_p"])
                                                                 > 1e-6)
            if differ.any():
                report.warnings.append(f"{int(differ.sum())} profiles have coordinates in the"
                                       " property table that differ from the profiles table;"
                                       " the profiles table was used")
    coords = _validate_coords(coords, problems, report)
    d = L.df
    known = d["pid"].isin(coords["pid"])
    L.drop(~known.to_numpy(), "profile_not_found", "profile_id",
           values=d.loc[~known, "pid"].to_numpy())
    d = L.df
    cmap = coords.set_index("pid")
    d = d.assign(lat=cmap.loc[d["pid"], "lat"].to_numpy(), lon=cmap.loc[d["pid"], "lon"].to_numpy())
    L.df = d
    L.drop((d["lat"].isna() | d["lon"].isna()).to_numpy(), "invalid_coordinates",
           detail=False)

    # 10. licences
    d = L.df
    lic = d.groupby("pid")["licence"].agg(lambda s: "; ".join(sorted(set(x for x in s if x))))
    if opts.licences is not None:
        allowed = {normalize_licence(x) for x in opts.licences}
        ok_p = {p for p, s in lic.items()
                if s and all(normalize_licence(x) in allowed for x in s.split("; "))}
        L.drop(~d["pid"].isin(ok_p).to_numpy(), "licence_excluded", detail=False)

    # 11. join the other properties
    d = L.df.copy()
    have_key = (d["key"] != "").all() and len(d) > 0
    for code, p in props.items():
        by = ["pid", "key"] if have_key and (p["key"] != "").all() else ["pid", "upper", "lower"]
        p = _dedupe_property(p, code, problems, report, by)
        rkey = "bd" if code in opts.bd_codes else code
        if rkey in PLAUSIBLE_RANGES:
            p = _check_range(p, rkey, code, problems, report)
        m = d[by].merge(p[by + ["value"]], on=by, how="left")
        d[code] = m["value"].to_numpy()
        unmatched = len(p) - int(p.set_index(by).index.isin(d.set_index(by).index).sum())
        report.note(f"{code}_rows_without_soc_layer", unmatched)
    bd = np.full(len(d), np.nan)
    for code in opts.bd_codes:
        if code in d:
            bd = np.where(np.isnan(bd), d[code].to_numpy(), bd)
    if opts.soc_quantity == "content":
        est = np.isnan(bd)
        bd = np.where(est, pedotransfer_bd(d["value"].to_numpy(), soc_unit=opts.ptf_soc_unit),
                      bd)
    else:                       # a density or stock needs no bulk density
        est = np.zeros(len(d), bool)
    cf = d[CF_CODE].to_numpy() if CF_CODE in d else np.full(len(d), np.nan)
    d = d.assign(bd=bd, bd_est=est, cf=cf)
    L.df = d

    # 12. profile rules
    d = L.df
    few = (d.groupby("pid")["value"].transform("size") < opts.min_layers).to_numpy()
    L.drop(few, "too_few_layers", detail=False)
    d = L.df
    shallow = (d.groupby("pid")["lower"].transform("max") <= opts.min_max_depth_cm).to_numpy()
    L.drop(shallow, "too_shallow", detail=False)

    _account_profiles(report, pids_read, L)
    # what was estimated or assumed for the layers kept
    report.note("bd_measured", int((~L.df["bd_est"]).sum()))
    report.note("bd_estimated", int(L.df["bd_est"].sum()))
    report.note("cf_missing_assumed_zero", int(L.df["cf"].isna().sum()))
    if opts.soc_quantity == "content":
        _unit_warnings(soc, report, opts)
    problems.finalize()
    out = profiles_dataset(L.df, lic, report, opts, profile_extra=profile_extra)
    report.layers_kept = int(out["layer_mask"].sum())
    report.profiles_kept = int(out.sizes["profile"])
    report.check()
    _summary_warnings(report)
    out.attrs["screening_report"] = report.to_json()
    return out


def _summary_warnings(report: ScreeningReport) -> None:
    """One warning for the rows excluded, one if no profile is left (both name files)."""
    excluded = [i for i in report.issues if i.reason in _WARN_REASONS]
    if excluded:
        counts = pd.Series([i.reason for i in excluded]).value_counts()
        files = sorted({i.file for i in excluded})
        msg = (f"{len(excluded)} rows or values were excluded ("
               + ", ".join(f"{n} {r}" for r, n in counts.items())
               + f") in {', '.join(files[:3])}{' ...' if len(files) > 3 else ''}; each is"
               " listed with file, line and column in screening_report(ds).issues_frame();"
               " pass on_error='raise' to stop at the first")
        report.warnings.append(msg)
        warnings.warn(msg, DataWarning, stacklevel=4)
    if report.profiles_kept == 0:
        why = sorted(report.profiles_dropped.items(), key=lambda kv: -kv[1])
        msg = (f"no profile is left from {report.source} ({report.profiles_read} read"
               + (", dropped: " + ", ".join(f"{n} {r}" for r, n in why) if why else "")
               + "); see screening_report(ds).summary()")
        report.warnings.append(msg)
        warnings.warn(msg, DataWarning, stacklevel=4)


def _interleaved_horizons(L: _Layers, opts: _Options, report: ScreeningReport) -> None:
    """Horizons of a profile with the same depths and different carbon.

    Real profiles have them (tongued horizons such as ``Bt1 / E`` and ``E`` at 42-66 cm,
    both sampled). Policy ``"mean"``: one layer with the arithmetic mean of their carbon (the
    volume shares are unknown; the other properties are those of the first listed), the
    others counted as ``interleaved_horizon``; ``"drop"``: all of them dropped under that
    reason. Listed in ``report.issues`` either way; never an error.
    """
    d = L.df
    clash = d.duplicated(subset=["pid", "upper", "lower"], keep=False).to_numpy()
    if not clash.any():
        return
    groups = d[clash].groupby(["pid", "upper", "lower"], sort=False)
    report.note("interleaved_horizon_groups", groups.ngroups)
    if opts.interleaved == "drop":
        L.drop(clash, "interleaved_horizon",
               message="interleaved horizons (same depths, different carbon)")
        return
    mean = groups["value"].transform("mean")
    first = ~d[clash].duplicated(subset=["pid", "upper", "lower"], keep="first").to_numpy()
    idx = np.flatnonzero(clash)
    values = d["value"].to_numpy().copy()
    # issues for every horizon of a merged group (what each held, and what became of it)
    sub = d.iloc[idx]
    for col, part in sub.groupby("_col", sort=False):
        L.problems(part["_f"].to_numpy(), part["_rec"].to_numpy(), str(col),
                   "interleaved_horizon", part["value"].to_numpy(), "merged (mean)")
    values[idx[first]] = mean.to_numpy()[first]
    L.df = d.assign(value=values)
    drop = np.zeros(len(d), bool)
    drop[idx[~first]] = True
    L.drop(drop, "interleaved_horizon", detail=False)


def _overlapping_layers(L: _Layers, opts: _Options, report: ScreeningReport) -> None:
    """Layers of a profile whose depth intervals overlap (touching is not overlapping).

    Policy ``"finest"``: per profile, layers are taken from the thinnest up (ties: the
    shallower first) and a layer is kept only if it overlaps none kept so far; so 20-60 cm
    next to 10-30 cm is dropped and 0-100 cm over a whole profile is dropped. ``"keep"``:
    all are kept and the profiles are counted in ``notes['profiles_with_overlaps']``.
    """
    d = L.df
    if not len(d):
        return
    order = d.sort_values(["pid", "upper", "lower"], kind="stable")
    prev_lower = order.groupby("pid")["lower"].transform(
        lambda s: s.cummax().shift(fill_value=-np.inf))
    hit = order["upper"].to_numpy() < prev_lower.to_numpy() - 1e-9
    if not hit.any():
        return
    pids = set(order.loc[hit, "pid"])
    report.note("profiles_with_overlaps", len(pids))
    if opts.overlaps == "keep":
        report.warnings.append(f"{len(pids)} profiles have overlapping layers, kept as they"
                               " are (overlaps='keep')")
        return
    drop = np.zeros(len(d), bool)
    sel = d[d["pid"].isin(pids)]
    for _pid, g in sel.groupby("pid", sort=False):
        thick = (g["lower"] - g["upper"]).to_numpy()
        up, lo = g["upper"].to_numpy(), g["lower"].to_numpy()
        kept: list[tuple[float, float]] = []
        for k in np.lexsort((up, thick)):
            if any(up[k] < b - 1e-9 and lo[k] > a + 1e-9 for a, b in kept):
                drop[d.index.get_loc(g.index[k])] = True
            else:
                kept.append((up[k], lo[k]))
    L.drop(drop, "overlapping_layer", "upper_depth",
           values=(d.loc[drop, "upper"].map("{:g}".format) + "-"
                   + d.loc[drop, "lower"].map("{:g}".format) + " cm").to_numpy(),
           message="the layer overlaps a thinner layer of the same profile")


def _validate_coords(coords: pd.DataFrame, problems: _Problems, report: ScreeningReport
                     ) -> pd.DataFrame:
    c = coords.copy()
    lat, lon = c["lat"].to_numpy(float), c["lon"].to_numpy(float)
    bad_lat = np.isfinite(lat) & ((lat < -90) | (lat > 90))
    bad_lon = np.isfinite(lon) & ((lon < -180) | (lon > 360))
    for bad, col, rng in ((bad_lat, "latitude", "[-90, 90]"), (bad_lon, "longitude",
                                                              "[-180, 360]")):
        if bad.any():
            sub = c[bad]
            hint = ""
            if col == "latitude" and np.all(np.abs(sub["lon"]) <= 90):
                hint = "; are latitude and longitude swapped?"
            problems(sub["_f"].to_numpy(), sub["_rec"].to_numpy(), col, "invalid_coordinates",
                     sub["lat" if col == "latitude" else "lon"].to_numpy(), "dropped profile",
                     f"{col} outside {rng} degrees{hint}")
    bad = bad_lat | bad_lon
    c.loc[bad, ["lat", "lon"]] = np.nan
    lon = c["lon"].to_numpy(float)
    c["lon"] = np.where(lon >= 180.0, lon - 360.0, lon)
    return c


def _account_profiles(report: ScreeningReport, pids_read: set[str], L: _Layers) -> None:
    """Assign exactly one reason to each dropped profile."""
    dropped = pids_read - set(L.df["pid"])
    counts: dict[str, int] = {}
    for p in dropped:
        r = L.profile_fate.get(p, "no_valid_layers")
        counts[r] = counts.get(r, 0) + 1
    for r, n in counts.items():
        report.drop_profiles(r, n)


def _unit_warnings(soc: pd.DataFrame, report: ScreeningReport, opts: _Options) -> None:
    v = soc["value"].to_numpy(float)
    top = (soc["upper"].to_numpy(float) < 15) & np.isfinite(v) & (v > 0)
    if top.sum() >= 5:
        med = float(np.median(v[top]))
        if med < 3.0:
            report.warnings.append(
                f"the median organic carbon of topsoil layers is {med:.3g} g/kg, unusually low:"
                " are the values in percent? If so pass soc_unit='%'")
    low = soc["lower"].to_numpy(float)
    if np.isfinite(low).sum() >= 3 and np.nanmax(low) < 5.0 and opts.depth_unit == "cm":
        report.warnings.append(
            f"the deepest layer ends at {np.nanmax(low):.3g} cm: are the depths in metres?"
            " If so pass depth_unit='m'")


def profiles_dataset(layer_frame: pd.DataFrame, licences: pd.Series | None = None,
                     report: ScreeningReport | None = None, opts: _Options | None = None, *,
                     profile_extra: pd.DataFrame | None = None) -> xr.Dataset:
    """Assemble the padded ``(profile, layer)`` Dataset from a screened layer frame.

    Internal building block of the readers (exposed for tests and for the virtual world);
    ``layer_frame`` has columns ``pid, upper, lower (cm), value (g/kg), bd, bd_est, cf, lat,
    lon`` and optionally ``clay, sand, silt``.
    """
    opts = opts or _Options()
    d = layer_frame.copy()
    pids = pd.unique(d["pid"])
    as_int = len(pids) > 0 and all(re.fullmatch(r"-?[1-9]\d{0,17}|0", p or "") for p in pids)
    order_key = (pd.Series(pids).astype(np.int64) if as_int else pd.Series(pids))
    pids = pids[np.argsort(order_key.to_numpy(), kind="stable")]
    pos = {p: i for i, p in enumerate(pids)}
    d["_p"] = d["pid"].map(pos)
    d = d.sort_values(["_p", "upper", "lower"], kind="stable").reset_index(drop=True)
    d["_l"] = d.groupby("_p").cumcount()
    n_p = len(pids)
    n_l = int(d["_l"].max()) + 1 if len(d) else 0

    def grid(col: str, fill: Any = np.nan, dtype: Any = np.float64) -> np.ndarray:
        a = np.full((n_p, n_l), fill, dtype=dtype)
        if col in d and len(d):
            a[d["_p"].to_numpy(), d["_l"].to_numpy()] = d[col].to_numpy()
        return a

    upper = grid("upper") / 100.0
    lower = grid("lower") / 100.0
    soc = grid("value")
    bd = grid("bd")
    cf = grid("cf")
    mask = np.zeros((n_p, n_l), bool)
    if len(d):
        mask[d["_p"].to_numpy(), d["_l"].to_numpy()] = True
    if opts.soc_quantity == "content":
        density = np.where(mask, soc_density(soc, bd, cf), np.nan)
    else:           # given as a density or a stock per interval: whole-soil values, no CF
        density, soc = np.where(mask, soc, np.nan), np.full_like(soc, np.nan)
    est = grid("bd_est", False, bool)
    first = d.drop_duplicates("_p").set_index("_p").reindex(range(n_p))
    lic = (licences.reindex(pids).fillna("").to_numpy(dtype=object) if licences is not None
           else np.full(n_p, "", object))
    pid_vals = np.asarray([int(p) for p in pids], np.int64) if as_int else pids.astype(str)
    dims = ("profile", "layer")
    ds = xr.Dataset(
        {
            "upper_depth": (dims, upper, {"units": "m", "long_name": "upper depth of layer"}),
            "lower_depth": (dims, lower, {"units": "m", "long_name": "lower depth of layer"}),
            "node_depth": (dims, 0.5 * (upper + lower),
                           {"units": "m", "long_name": "layer mid-point depth"}),
            "soc_content": (dims, soc, {"units": "g kg-1",
                                        "long_name": "organic carbon of the fine earth"}),
            "bulk_density": (dims, bd, {"units": "kg dm-3", "long_name":
                                        "fine-earth bulk density (measured or pedotransfer)"}),
            "bd_estimated": (dims, est, {"long_name": "bulk density from the pedotransfer"
                                         " function (True) or measured (False)"}),
            "coarse_fragments": (dims, cf, {"units": "%", "long_name":
                                            "coarse fragments, volume percent (NaN: missing,"
                                            " counted as 0 in soc_density)"}),
            "soc_density": (dims, density,
                            {"units": "gC m-3", "long_name": "SOC density = soc_content x"
                             " bulk_density x 1000 x (1 - coarse_fragments/100)"}),
            "layer_mask": (dims, mask, {"long_name": "True where a real layer (layers are"
                                        " padded)"}),
            "licence": ("profile", lic, {"long_name": "licence(s) of the profile's carbon"
                                         " data, '; '-separated"}),
        },
        coords={
            "profile_id": ("profile", pid_vals),
            "lat": ("profile", first["lat"].to_numpy(np.float64),
                    {"units": "degrees_north"}),
            "lon": ("profile", first["lon"].to_numpy(np.float64),
                    {"units": "degrees_east"}),
        },
    )
    for code in TEXTURE_CODES:
        if code in d:
            ds[code] = (dims, grid(code), {"units": "%", "long_name": f"{code} content"})
    if profile_extra is not None and len(profile_extra):
        ex = profile_extra.drop_duplicates("pid").set_index("pid").reindex(pids)
        for col in ex.columns:
            vals = ex[col].to_numpy()
            if vals.dtype == object:
                vals = np.asarray(pd.Series(vals).fillna("").astype(str), dtype=object)
            ds[col] = ("profile", vals)
    ds.attrs.update({
        "title": "soil organic carbon profiles (socmodels.data)",
        "pedotransfer": (f"BD = {PTF_ALPHA} + {PTF_BETA} exp(-{PTF_GAMMA} x {OM_PER_SOC} x SOC),"
                         f" SOC in {opts.ptf_soc_unit}"),
        "soc_density": "soc_content x bulk_density x 1000 x (1 - coarse_fragments/100)",
    })
    if report is not None:
        ds.attrs["source"] = report.source
        ds.attrs["layout"] = report.layout
    return ds


# ---------------------------------------------------------------------------------------
# Public readers
# ---------------------------------------------------------------------------------------

def _options(kwargs: dict[str, Any]) -> _Options:
    if "licences" in kwargs and kwargs["licences"] is not None:
        lic = kwargs["licences"]
        kwargs["licences"] = (lic,) if isinstance(lic, str) else tuple(lic)
    if "bd_codes" in kwargs:
        kwargs["bd_codes"] = tuple(kwargs["bd_codes"])
    return _Options(**kwargs)


def read_wosis(path: str | Path | Sequence[str | Path], *, soc_unit: str = "g/kg",
               ptf_soc_unit: str = "g/kg", bd_codes: Sequence[str] = BD_CODES,
               licences: Iterable[str] | str | None = None, min_layers: int = 3,
               min_max_depth_cm: float = 50.0, max_node_depth_m: float = layers.COLUMN_DEPTH,
               negative_depths: str = "drop", zero_thickness: str = "drop",
               on_error: str = "drop", depth_unit: str = "cm", interleaved: str = "mean",
               overlaps: str = "finest") -> xr.Dataset:
    """Read a WoSIS download folder (or several) into a screened profiles Dataset.

    Any number of files may provide the same property (one web-service export per country,
    say, all in one folder, or ``path`` a list of folders): they are merged, and a row
    repeated across files is treated exactly as a row repeated within one file (exact copies
    collapsed, conflicting copies reported). WoSIS profile ids are global, so exports of
    different countries do not collide; to combine other datasets use
    :func:`combine_profiles`.

    The folder may hold any of the three layouts ISRIC distributes (recognised by file name
    and header, never by column position): the 2019 snapshot (``*_profiles.tsv`` and the wide
    ``*_layers_chemical.tsv`` / ``*_layers_physical.tsv``), the web-service export (one CSV
    per property, ``gml_id`` first, ``<code>_value_avg`` columns) or the 2023 snapshot (one long
    TSV per property, ``*_<code>.tsv`` with ``value_avg``, ``latitude``, ``longitude``). Files
    may be UTF-8, Windows-1252 or Latin-1 with LF, CRLF or CR line endings. Only the needed
    columns are read (``profile_id``, ``profile_layer_id``, depths, ``litter``, and for
    ``orgc``, the bulk-density codes, ``cfvo``, ``clay``, ``sand``, ``silt``: ``_value_avg``,
    ``_value`` and ``_licence``).

    Properties are joined on ``profile_layer_id`` (on profile and depths where a table has no
    layer id) and coordinates on ``profile_id``. Bulk density is the first available of
    ``bd_codes``, else the pedotransfer function (:func:`pedotransfer_bd`); ``bd_estimated``
    records which.

    Screening (paper §2.1; every drop is counted in the report): litter layers, missing or
    negative depths, lower < upper, zero thickness, missing or non-positive carbon,
    duplicates (exact copies collapsed; conflicting copies dropped, never averaged), layers
    below the model column; then profiles with fewer than ``min_layers`` layers or a maximum
    depth not deeper than ``min_max_depth_cm``.

    Row-level problems (see ``docs/data.md``): by default (``on_error="drop"``) a malformed
    record (unterminated quote, wrong number of fields, file cut mid-row), text in a numeric
    column, an out-of-range value, lower above upper depth or a conflicting duplicate is
    excluded and listed in the report with file, line and column, and one summary
    :class:`~socmodels.data.DataWarning` is issued; ``on_error="raise"`` (strict mode) raises
    :class:`DataError` at the first. Interleaved horizons (same depths, different carbon) and
    overlapping layers are resolved by the ``interleaved`` and ``overlaps`` policies and
    reported, never raised.

    Args:
        path (str, Path or sequence of them): Folder(s) with the WoSIS files.
        soc_unit ({"g/kg", "%"}): Unit of organic carbon in the files (WoSIS standard: g/kg).
        ptf_soc_unit ({"g/kg", "%"}):
            Unit in which the pedotransfer function takes SOC (code: g/kg; paper text: %).
        bd_codes (sequence of str): Bulk-density property codes in order of preference.
        licences (str or iterable of str, optional):
            Keep only profiles whose licence(s) are all in this set (compared after
            :func:`normalize_licence`, e.g. ``"CC-BY"`` keeps CC BY 4.0 but not CC BY-NC).
        min_layers (int): Minimum number of layers per profile (paper: 3).
        min_max_depth_cm (float): The deepest layer must end below this depth (paper: 50 cm).
        max_node_depth_m (float):
            Layers with a mid-point below this depth (the 8.6 m model column) are dropped.
        negative_depths ({"drop", "shift"}):
            Organic horizons given negative depths (pre-1993 convention): drop those layers, or
            shift the profile so that its top is at 0.
        zero_thickness ({"drop", "keep"}): Samples with upper == lower depth.
        on_error ({"drop", "raise"}):
            ``"drop"`` (default; ``"report"`` is a synonym): exclude rows with problems and list
            them in the report. ``"raise"``: strict mode, the first problem raises
            :class:`DataError` naming file, line and column.
        depth_unit ({"cm", "m", "auto"}):
            Unit of depths in the files (WoSIS: cm). ``"auto"`` decides per file (see
            ``docs/data.md``) and records the decision in ``report.files``.
        interleaved ({"mean", "drop"}):
            Horizons of a profile with the same depths and different carbon: merged into one
            layer with the mean carbon (default) or all dropped. Reported either way.
        overlaps ({"finest", "keep"}):
            Overlapping layers of a profile: keep the finest non-overlapping set, dropping the
            coarser layers (default), or keep them all (noted in the report).

    Returns:
        xarray.Dataset: See the module docstring; ``attrs['screening_report']`` holds the report.

    Raises:
        DataError:
            For a missing table or column, an unreadable file, or (``on_error="raise"``) a
            malformed value.
    """
    opts = _options(dict(soc_unit=soc_unit, ptf_soc_unit=ptf_soc_unit, bd_codes=bd_codes,
                         licences=licences, min_layers=min_layers,
                         min_max_depth_cm=min_max_depth_cm, max_node_depth_m=max_node_depth_m,
                         negative_depths=negative_depths, zero_thickness=zero_thickness,
                         on_error=on_error, depth_unit=depth_unit, interleaved=interleaved,
                         overlaps=overlaps))
    if opts.soc_quantity != "content":
        raise ValueError("read_wosis: WoSIS gives organic carbon as a content; soc_unit must"
                         f" be 'g/kg' or '%', got {soc_unit!r}")
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    if not paths:
        raise ValueError("read_wosis: no folder given")
    for folder in paths:
        if not folder.exists():
            raise DataError("no such folder", file=folder, reason="not_found")
        if folder.is_file():
            raise DataError("read_wosis takes the folder holding the WoSIS tables; for a"
                            " single one-row-per-layer table use read_profiles_csv",
                            file=folder, reason="not_a_folder")
    folder = paths[0]
    report = ScreeningReport(source="; ".join(str(p) for p in paths),
                             options=dataclasses.asdict(opts))
    problems = _Problems(report, opts.on_error)
    codes = [SOC_CODE, *opts.bd_codes, CF_CODE, *TEXTURE_CODES]
    prof_fmts, tables = _discover(paths, codes, report)
    parts: dict[str, list[pd.DataFrame]] = {}
    by_file: dict[Path, tuple[_PropertyTable, list[str]]] = {}
    for code in codes:
        for tab in tables.get(code, []):
            by_file.setdefault(tab.fmt.path, (tab, []))[1].append(code)
    for tab, fcodes in by_file.values():
        for code, fr in _read_table(tab.fmt, tab.layout, fcodes, problems, opts,
                                    report).items():
            parts.setdefault(code, []).append(fr)
    frames = {c: pd.concat(v, ignore_index=True) for c, v in parts.items()}
    soc = frames.pop(SOC_CODE)
    props = {c: frames[c] for c in codes[1:] if c in frames}
    coords = extra = None
    if prof_fmts:
        read = [_read_profiles_table(f, problems, report) for f in prof_fmts]
        coords = pd.concat([r[0] for r in read], ignore_index=True)
        extra = pd.concat([r[1] for r in read], ignore_index=True).drop_duplicates("pid")
    elif soc["lat"].isna().all():
        raise DataError("no profiles table (with profile_id, latitude, longitude) in the folder"
                        " and the organic-carbon table has no coordinates",
                        file=folder, column="latitude", reason="missing_table")
    return _screen(soc, props, coords, report, problems, opts, profile_extra=extra)


def _read_profiles_table(fmt: TextFormat, problems: _Problems, report: ScreeningReport
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The profiles table, parsed but not yet validated (only used profiles are checked)."""
    extra_cols = [c for c in ("dataset_id", "country_id", "geom_accuracy") if c in fmt.header]
    bad_rows = problems.collect_rows
    df = read_columns(fmt, ["profile_id", "latitude", "longitude", *extra_cols],
                      numeric=["latitude", "longitude", "geom_accuracy"], bad_rows=bad_rows)
    problems.bad_rows(fmt, bad_rows, soc=False)
    _file_entry(report, fmt)["records"] = int(len(df))
    _warn_if_empty(fmt, df, report, bad_rows)
    fidx = problems.add_file(fmt)
    c = pd.DataFrame({"pid": df["profile_id"].fillna("").astype(str).str.strip().to_numpy()})
    for col, short in (("latitude", "lat"), ("longitude", "lon")):
        vals, bad = to_numeric(df, col)
        c[short] = vals
        c[f"_bad_{short}"] = bad
        c[f"_raw_{short}"] = df[col].to_numpy()
    c["_f"] = fidx
    c["_rec"] = df.index.to_numpy()
    extra = pd.DataFrame({"pid": c["pid"]})
    for col in extra_cols:
        extra[col] = df[col].to_numpy()
    extra = extra.drop_duplicates("pid")
    return c.reset_index(drop=True), extra


def _check_profiles_table(c: pd.DataFrame, used: set[str], problems: _Problems,
                          report: ScreeningReport) -> pd.DataFrame:
    """Text, duplicates and conflicts in the profiles table, for the profiles used."""
    c = c[c["pid"].isin(used)].copy()
    for short, col in (("lat", "latitude"), ("lon", "longitude")):
        bad = c[f"_bad_{short}"].to_numpy()
        if bad.any():
            sub = c[bad]
            problems(sub["_f"].to_numpy(), sub["_rec"].to_numpy(), col, "invalid_coordinates",
                     sub[f"_raw_{short}"].to_numpy(), "dropped profile",
                     f"'{col}' holds text that is not a number")
    exact = c.duplicated(subset=["pid", "lat", "lon"], keep="first")
    report.note("exact_duplicate_rows_profiles", int(exact.sum()))
    c = c[~exact.to_numpy()]
    clash = c.duplicated(subset=["pid"], keep=False)
    if clash.any():
        sub = c[clash]
        problems(sub["_f"].to_numpy(), sub["_rec"].to_numpy(), "latitude",
                 "invalid_coordinates", (sub["lat"].astype(str) + ", "
                                         + sub["lon"].astype(str)).to_numpy(),
                 "dropped profile", "the profiles table lists this profile_id more than once"
                                    " with different coordinates")
        bad_p = sub["pid"].unique()
        c = c.drop_duplicates("pid")
        c.loc[c["pid"].isin(bad_p), ["lat", "lon"]] = np.nan
    return c[["pid", "lat", "lon", "_f", "_rec"]].reset_index(drop=True)


_CSV_ALIASES: dict[str, tuple[str, ...]] = {
    # Only a real profile identifier: a "site" or "id" column may be shared by several
    # profiles (a database with 73 site names over many pedons) and would merge them.
    "profile_id": ("profile_id", "profile", "pedon_id", "profile_code"),
    "layer_id": ("profile_layer_id", "layer_id"),
    "latitude": ("latitude", "lat"),
    "longitude": ("longitude", "lon", "long", "lng"),
    "upper_depth": ("upper_depth", "upper", "top", "depth_top", "top_depth", "hzn_top"),
    "lower_depth": ("lower_depth", "lower", "bottom", "depth_bottom", "bottom_depth",
                    "hzn_bot"),
    "soc": ("orgc", "soc", "soc_content", "organic_carbon", "oc", "orgc_value_avg"),
    "soc_density": ("soc_density", "ocd", "carbon_density", "soc_dens"),
    "soc_stock": ("soc_stock", "ocs", "carbon_stock", "soc_stock_interval"),
    "bd": ("bulk_density", "bd", "bdfiod", "bdfi33", "bdwsod", "bdod"),
    "cf": ("coarse_fragments", "cfvo", "cf", "gravel"),
    "clay": ("clay",),
    "sand": ("sand",),
    "silt": ("silt",),
    "licence": ("licence", "license"),
    "litter": ("litter",),
}
_NOT_PROFILE_IDS = ("site", "site_id", "site_name", "id", "name")

_UNIT_RE = re.compile(r"^(.*?)\s*[\[(]\s*([^\])]*)\s*[\])]\s*$")
_SUFFIX_UNITS = (("_percent", "%"), ("_pct", "%"), ("_g_kg", "g/kg"), ("_gkg", "g/kg"),
                 ("_kg_m2", "kg/m2"), ("_g_m2", "g/m2"), ("_kg_m3", "kg/m3"),
                 ("_g_m3", "g/m3"), ("_cm", "cm"), ("_m", "m"))


def _csv_columns(fmt: TextFormat) -> tuple[dict[str, str], dict[str, str]]:
    """Map standard names -> header names, and standard name -> unit found in the header."""
    found: dict[str, str] = {}
    units: dict[str, str] = {}
    norm: dict[str, tuple[str, str | None]] = {}
    for h in fmt.header:
        name, unit = h, None
        m = _UNIT_RE.match(h)
        if m:
            name, unit = m.group(1), m.group(2).strip().lower()
        base = name.strip().lower().replace(" ", "_")
        for suffix, u in _SUFFIX_UNITS:
            if base.endswith(suffix) and base[: -len(suffix)] in _ALL_ALIASES:
                base, unit = base[: -len(suffix)], u
        norm[h] = (base, unit)
    for std, aliases in _CSV_ALIASES.items():
        for a in aliases:
            hit = [h for h, (b, _) in norm.items() if b == a]
            if hit:
                found[std] = hit[0]
                if norm[hit[0]][1]:
                    units[std] = norm[hit[0]][1]
                break
    return found, units


_ALL_ALIASES = {a for v in _CSV_ALIASES.values() for a in v}


def _soc_column(path: Path, cols: dict[str, str], units: dict[str, str],
                soc_unit: str | None) -> tuple[str, str]:
    """Which carbon column to read and its unit (content, density or stock)."""
    given = [k for k in ("soc", "soc_density", "soc_stock") if k in cols]
    if not given:
        raise DataError("no organic-carbon column: expected one of"
                        f" {_CSV_ALIASES['soc']} (content), {_CSV_ALIASES['soc_density']}"
                        f" (density) or {_CSV_ALIASES['soc_stock']} (stock per interval);"
                        f" the header has {list(cols.values())}", file=path, line=1,
                        column="soc", reason="missing_column")
    if len(given) > 1:
        raise DataError(f"several organic-carbon columns {[cols[g] for g in given]}; keep"
                        " one", file=path, line=1, column=cols[given[0]], reason="ambiguous")
    std = given[0]
    header_unit = _canonical_unit(units.get(std))
    unit = _canonical_unit(soc_unit) or header_unit
    if header_unit is not None and unit != header_unit:
        raise DataError(f"the header says organic carbon is in {header_unit} but"
                        f" soc_unit={soc_unit!r} was passed", file=path, line=1,
                        column=cols[std], reason="unit")
    want = {"soc": "content", "soc_density": "density", "soc_stock": "stock"}[std]
    if unit is None:
        if want != "content":
            raise DataError(f"state the unit of the {want} column, in the header"
                            f" ('{cols[std]} [kg/m2]') or with soc_unit=; accepted:"
                            f" {[u for u, (q, _) in SOC_UNITS.items() if q == want]}",
                            file=path, line=1, column=cols[std], reason="unit")
        unit = "g/kg"
    if unit not in SOC_UNITS or SOC_UNITS[unit][0] != want:
        raise DataError(f"unit {unit!r} does not fit a {want} column; accepted:"
                        f" {[u for u, (q, _) in SOC_UNITS.items() if q == want]}", file=path,
                        line=1, column=cols[std], reason="unit")
    return std, unit


def read_profiles_csv(path: str | Path, *, soc_unit: str | None = None,
                      depth_unit: str = "auto", ptf_soc_unit: str = "g/kg",
                      licences: Iterable[str] | str | None = None, min_layers: int = 3,
                      min_max_depth_cm: float = 50.0,
                      max_node_depth_m: float = layers.COLUMN_DEPTH,
                      negative_depths: str = "drop", zero_thickness: str = "drop",
                      on_error: str = "drop", interleaved: str = "mean",
                      overlaps: str = "finest") -> xr.Dataset:
    """Read a simple one-table CSV/TSV (one row per layer) into a screened profiles Dataset.

    Columns are found by name, case-insensitively, with common aliases:

    ========================  =====================================================
    required                  ``profile_id`` (or ``profile``, ``pedon_id``),
                              ``latitude``/``lat``, ``longitude``/``lon``,
                              ``upper_depth``/``top``, ``lower_depth``/``bottom``, and
                              one carbon column: content ``soc``/``orgc``, density
                              ``soc_density``/``ocd`` or stock per interval
                              ``soc_stock``/``ocs``
    optional                  ``bulk_density``/``bd`` [kg dm-3],
                              ``coarse_fragments``/``cfvo`` [%], ``clay``, ``sand``,
                              ``silt`` [%], ``licence``, ``litter`` (0/1), ``layer_id``
    ========================  =====================================================

    A column named ``site``, ``site_id`` or ``id`` is never taken as the profile id (several
    profiles may share a site); rename it ``profile_id`` if each value is one profile.

    A unit may be written in the header, ``soc [%]``, ``soc (g/kg)``, ``soc_percent``,
    ``soc_stock [kg/m2]``, ``upper_depth [m]``; it must agree with ``soc_unit`` /
    ``depth_unit`` when both are given. Content: g/kg or %; density: g/m3 or kg/m3 (carbon
    per volume of whole soil); stock per depth interval: g/m2, kg/m2 or t/ha (divided by the
    layer thickness). Density and stock need their unit stated; they need no bulk density
    and get no coarse-fragment correction.

    Args:
        path (str or Path):
            The table (comma, tab or semicolon separated; any of the encodings and line endings
            :func:`read_wosis` accepts).
        soc_unit (str, optional):
            Unit of organic carbon, one of :data:`SOC_UNITS` (default: from the header, else
            g/kg for a content column).
        depth_unit ({"auto", "cm", "m"}):
            Unit of the depth columns; ``"auto"`` (default) decides for the whole file (see
            ``docs/data.md``) and records the decision in ``report.files``.
        ptf_soc_unit, licences, min_layers, min_max_depth_cm, max_node_depth_m, negative_depths,
            zero_thickness, on_error, interleaved, overlaps: As in :func:`read_wosis`.

    Returns:
        xarray.Dataset: As :func:`read_wosis`.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("no such file", file=path, reason="not_found")
    fmt = sniff(path)
    cols, units = _csv_columns(fmt)
    if "profile_id" not in cols:
        lower = {h.strip().lower(): h for h in fmt.header}
        shared = [lower[n] for n in _NOT_PROFILE_IDS if n in lower]
        hint = (f"; a column {shared[0]!r} is not taken as the profile id because several"
                " profiles may share it; rename it 'profile_id' if each value is one profile"
                if shared else "")
        raise DataError(f"required column 'profile_id' not found (aliases:"
                        f" {_CSV_ALIASES['profile_id']}){hint}; the header has"
                        f" {list(fmt.header)}", file=path, line=1, column="profile_id",
                        reason="missing_column")
    soc_std, unit = _soc_column(path, cols, units, soc_unit)
    opts = _options(dict(soc_unit=unit, depth_unit=depth_unit,
                         ptf_soc_unit=ptf_soc_unit, licences=licences, min_layers=min_layers,
                         min_max_depth_cm=min_max_depth_cm, max_node_depth_m=max_node_depth_m,
                         negative_depths=negative_depths, zero_thickness=zero_thickness,
                         on_error=on_error, bd_codes=("bd",), interleaved=interleaved,
                         overlaps=overlaps))
    required = ["profile_id", "latitude", "longitude", "upper_depth", "lower_depth"]
    missing = [r for r in required if r not in cols]
    if missing:
        raise DataError(f"required column(s) {missing} not found (aliases:"
                        f" { {m: _CSV_ALIASES[m] for m in missing} }); the header has"
                        f" {list(fmt.header)}", file=path, line=1, column=missing[0],
                        reason="missing_column")
    report = ScreeningReport(source=str(path), layout="profiles-csv",
                             options=dataclasses.asdict(opts))
    report.files.append({"path": str(path), "role": "profiles+property",
                         "layout": "profiles-csv", **fmt.describe(),
                         "soc_column": cols[soc_std], "soc_unit": unit})
    problems = _Problems(report, opts.on_error)
    fidx = problems.add_file(fmt)
    numeric_std = ["latitude", "longitude", "upper_depth", "lower_depth", soc_std, "bd", "cf",
                   "clay", "sand", "silt", "litter"]
    use = {k: v for k, v in cols.items()
           if k not in ("soc", "soc_density", "soc_stock") or k == soc_std}
    bad_rows = problems.collect_rows
    df = read_columns(fmt, use.values(), numeric=[use[s] for s in numeric_std if s in use],
                      bad_rows=bad_rows)
    problems.bad_rows(fmt, bad_rows, soc=True)
    report.files[0]["records"] = int(len(df))
    _warn_if_empty(fmt, df, report, bad_rows)
    keep = np.ones(len(df), bool)
    n = len(df)
    soc = pd.DataFrame({"pid": df[cols["profile_id"]].fillna("").astype(str).str.strip()
                        .to_numpy()})
    soc["key"] = (df[cols["layer_id"]].fillna("").astype(str).str.strip().to_numpy()
                  if "layer_id" in cols else df.index.to_numpy().astype(str))
    upper = _numeric(df, cols["upper_depth"], fidx, problems, "layer", keep)
    lower = _numeric(df, cols["lower_depth"], fidx, problems, "layer", keep)
    header_depth = _canonical_unit(units.get("upper_depth") or units.get("lower_depth"))
    f = _depth_factor(upper, lower, opts.depth_unit, header_depth, report.files[0], report)
    soc["upper"] = upper * f
    soc["lower"] = lower * f
    value = _numeric(df, cols[soc_std], fidx, problems, "layer", keep) * SOC_UNITS[unit][1]
    if SOC_UNITS[unit][0] == "stock":         # gC m-2 over the interval -> gC m-3
        thick_m = (soc["lower"] - soc["upper"]).to_numpy() / 100.0
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(thick_m > 0, value / thick_m, np.nan)
        report.note("soc_stock_converted_to_density", int(np.isfinite(value).sum()))
    soc["value"] = value
    soc["litter"] = _litter(df, cols["litter"]) if "litter" in cols else 0.0
    soc["licence"] = (df[cols["licence"]].fillna("").astype(str).str.strip().to_numpy()
                      if "licence" in cols else "")
    soc["lat"] = _numeric(df, cols["latitude"], fidx, problems, "layer", keep)
    soc["lon"] = _numeric(df, cols["longitude"], fidx, problems, "layer", keep)
    soc["_f"] = fidx
    soc["_rec"] = df.index.to_numpy()
    soc["_bad"] = ~keep
    soc["_col"] = cols[soc_std]
    props: dict[str, pd.DataFrame] = {}
    for std, code in (("bd", "bd"), ("cf", CF_CODE), ("clay", "clay"), ("sand", "sand"),
                      ("silt", "silt")):
        if std in cols:
            k2 = np.ones(n, bool)
            vals = _numeric(df, cols[std], fidx, problems, "value", k2)
            props[code] = pd.DataFrame({"pid": soc["pid"], "key": soc["key"],
                                        "upper": soc["upper"], "lower": soc["lower"],
                                        "value": vals, "_f": fidx, "_rec": soc["_rec"],
                                        "_bad": ~k2, "_col": cols[std]})
    return _screen(soc, props, None, report, problems, opts)


def combine_profiles(datasets: dict[str, xr.Dataset] | Sequence[xr.Dataset]) -> xr.Dataset:
    """Combine profile Datasets of different sources without profile-id collisions.

    Each profile id becomes ``"<name>:<id>"`` (``name`` the key of ``datasets``, or ``d0``,
    ``d1``, ... for a list); the original id is kept in ``source_profile_id`` and the name
    in ``dataset``. Layers are padded to the deepest profile. The screening reports are
    summed into one (files, counts, issues and warnings of every source; the accounting
    still balances).

    Args:
        datasets (dict of name -> Dataset, or sequence of Datasets):
            Outputs of :func:`read_wosis` / :func:`read_profiles_csv`.

    Returns:
        xarray.Dataset: Same variables as the inputs; ``profile_id`` is a string.
    """
    named = (dict(datasets) if isinstance(datasets, dict)
             else {f"d{i}": ds for i, ds in enumerate(datasets)})
    if not named:
        raise ValueError("combine_profiles: no datasets given")
    bad = [k for k in named if not isinstance(k, str) or ":" in k or not k]
    if bad:
        raise ValueError(f"combine_profiles: dataset names must be non-empty strings without"
                         f" ':', got {bad}")
    n_l = max(int(ds.sizes.get("layer", 0)) for ds in named.values())
    parts = []
    for name, ds in named.items():
        pad = n_l - int(ds.sizes.get("layer", 0))
        out = {}
        for v, da in ds.data_vars.items():
            a = da.values
            if "layer" in da.dims and pad:
                fill: Any = False if a.dtype == bool else ("" if a.dtype == object else np.nan)
                a = np.concatenate([a, np.full(a.shape[:-1] + (pad,), fill, a.dtype)], axis=-1)
            out[v] = (da.dims, a, da.attrs)
        pid = np.asarray([f"{name}:{p}" for p in ds["profile_id"].values], dtype=object)
        out["dataset"] = ("profile", np.full(pid.size, name, dtype=object))
        out["source_profile_id"] = ("profile", np.asarray(
            [str(p) for p in ds["profile_id"].values], dtype=object))
        parts.append(xr.Dataset(out, coords={"profile_id": ("profile", pid),
                                             "lat": ("profile", ds["lat"].values,
                                                     ds["lat"].attrs),
                                             "lon": ("profile", ds["lon"].values,
                                                     ds["lon"].attrs)}))
    combined = xr.concat(parts, dim="profile", data_vars="all", coords="all",
                         join="outer", fill_value={"licence": ""})
    reports = {k: ScreeningReport.from_json(ds.attrs["screening_report"])
               for k, ds in named.items() if "screening_report" in ds.attrs}
    rep = ScreeningReport(source="; ".join(f"{k}={r.source}" for k, r in reports.items()),
                          layout="combined: " + ", ".join(f"{k}={r.layout}"
                                                          for k, r in reports.items()))
    for k, r in reports.items():
        rep.files += [{**f, "dataset": k} for f in r.files]
        rep.layers_read += r.layers_read
        rep.layers_kept += r.layers_kept
        rep.profiles_read += r.profiles_read
        rep.profiles_kept += r.profiles_kept
        for src, dst in ((r.layers_dropped, rep.layers_dropped),
                         (r.profiles_dropped, rep.profiles_dropped), (r.notes, rep.notes)):
            for key, n in src.items():
                dst[key] = dst.get(key, 0) + n
        rep.warnings += [f"{k}: {w}" for w in r.warnings]
        rep.issues += r.issues
        rep.options[k] = r.options
    rep.check()
    combined.attrs = {**parts[0].attrs, **next(iter(named.values())).attrs,
                      "source": rep.source, "layout": rep.layout,
                      "screening_report": rep.to_json()}
    return combined

"""Reading delimited text tables as real downloads come: any encoding, line ending, delimiter.

:func:`sniff` detects the encoding (UTF-8, with or without BOM; else Windows-1252; else
Latin-1), the line ending (LF, CRLF, CR) and the delimiter (tab, comma, semicolon) and parses
the header. :func:`read_columns` reads only the requested columns with pandas
(``usecols``), so a 0.9 GB, 195-column WoSIS table costs only the columns needed.
:func:`line_numbers` maps pandas record indices back to 1-based line numbers in the file
(exact also for quoted fields that span lines); it is called only when there is something to
report, so the fast path never scans the file twice.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from socmodels.data._report import DataError

__all__ = ["TextFormat", "sniff", "read_columns", "line_numbers", "to_numeric",
           "NA_STRINGS"]

NA_STRINGS = ["", "NA", "N/A", "n/a", "NaN", "nan", "NAN", "null", "NULL", "None", "-",
              "#N/A", "-999", "-9999"]
"""Text read as missing in numeric columns (text columns: only the empty string)."""

_CHUNK = 1 << 24
_ENCODINGS = ("utf-8", "cp1252", "latin-1")


@dataclasses.dataclass(frozen=True)
class TextFormat:
    """How a delimited text file is written.

    Attributes
    ----------
    path : Path
        The file.
    encoding : str
        Python codec that decodes the whole file (``utf-8-sig`` when it starts with a BOM).
    delimiter : str
        Field separator.
    line_ending : str
        ``"LF"``, ``"CRLF"``, ``"CR"`` or ``"mixed"``.
    header : tuple of str
        Column names as written (surrounding spaces stripped).
    """

    path: Path
    encoding: str
    delimiter: str
    line_ending: str
    header: tuple[str, ...]

    def describe(self) -> dict[str, str]:
        """The format as a plain dict (for the screening report)."""
        names = {"\t": "tab", ",": "comma", ";": "semicolon"}
        return {"encoding": self.encoding, "delimiter": names.get(self.delimiter, self.delimiter),
                "line_ending": self.line_ending}


def _detect_encoding(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(3)
    if head.startswith(codecs.BOM_UTF8):
        candidates: Sequence[str] = ("utf-8-sig",) + _ENCODINGS[1:]
    else:
        candidates = _ENCODINGS
    for enc in candidates:
        dec = codecs.getincrementaldecoder(enc)()
        try:
            with open(path, "rb") as fh:
                while chunk := fh.read(_CHUNK):
                    dec.decode(chunk)
                dec.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return enc
    return "latin-1"  # pragma: no cover  (latin-1 decodes any byte)


def _detect_line_ending(sample: bytes) -> str:
    crlf = sample.count(b"\r\n")
    cr = sample.count(b"\r") - crlf
    lf = sample.count(b"\n") - crlf
    kinds = [k for k, n in (("CRLF", crlf), ("CR", cr), ("LF", lf)) if n]
    if not kinds:
        return "LF"
    return kinds[0] if len(kinds) == 1 else "mixed"


def sniff(path: str | Path) -> TextFormat:
    """Detect encoding, line ending and delimiter of a text table and read its header.

    Parameters
    ----------
    path : str or Path
        A delimited text file (``.csv``, ``.tsv``, ``.txt``).

    Returns
    -------
    TextFormat

    Raises
    ------
    DataError
        If the file is empty or its header has duplicated column names.
    """
    path = Path(path)
    encoding = _detect_encoding(path)
    with open(path, "rb") as fh:
        sample = fh.read(1 << 16)
    line_ending = _detect_line_ending(sample)
    with open(path, encoding=encoding, newline="") as fh:
        first = fh.readline()
    first = first.rstrip("\r\n")
    if not first.strip():
        raise DataError("the file is empty or its first line (the header) is blank",
                        file=path, line=1, reason="empty")
    counts = {d: _count_outside_quotes(first, d) for d in ("\t", ",", ";")}
    delimiter = max(counts, key=lambda d: counts[d])
    if counts[delimiter] == 0:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    header = next(csv.reader([first], delimiter=delimiter, quotechar='"'))
    header = tuple(h.strip() for h in header)
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise DataError(f"duplicated column name(s) {dup} in the header", file=path, line=1,
                        column=dup[0], reason="duplicate_column")
    return TextFormat(path, encoding, delimiter, line_ending, header)


def _count_outside_quotes(line: str, ch: str) -> int:
    n, inside = 0, False
    for c in line:
        if c == '"':
            inside = not inside
        elif c == ch and not inside:
            n += 1
    return n


def read_columns(fmt: TextFormat, columns: Iterable[str], *, numeric: Iterable[str] = (),
                 ) -> pd.DataFrame:
    """Read the given columns of a table (by header name) as text or numbers.

    Numeric columns are parsed by pandas' C parser; a column holding text is returned as
    text (pandas falls back to strings) and must be converted with :func:`to_numeric`,
    which names the offending line. Text columns keep every string except the empty one
    (so the ISO code ``NA`` of Namibia stays a string).

    Parameters
    ----------
    fmt : TextFormat
        From :func:`sniff`.
    columns : iterable of str
        Header names to read (all must exist).
    numeric : iterable of str
        The subset of ``columns`` expected to hold numbers.

    Returns
    -------
    pandas.DataFrame
        One row per record, index = record number (0 = first record after the header).
    """
    columns = list(dict.fromkeys(columns))
    missing = [c for c in columns if c not in fmt.header]
    if missing:
        raise DataError(f"required column(s) {missing} not found; the header has"
                        f" {list(fmt.header)[:30]}{' ...' if len(fmt.header) > 30 else ''}",
                        file=fmt.path, line=1, column=missing[0], reason="missing_column")
    numeric = set(numeric)
    na = {c: (NA_STRINGS if c in numeric else [""]) for c in columns}
    dtype = {c: str for c in columns if c not in numeric}
    try:
        df = pd.read_csv(fmt.path, sep=fmt.delimiter, encoding=fmt.encoding, quotechar='"',
                         usecols=lambda c: c.strip() in columns, dtype=dtype,
                         keep_default_na=False, na_values=na, low_memory=False,
                         skipinitialspace=False)
    except pd.errors.ParserError as exc:
        raise DataError(f"the table cannot be parsed ({exc}); check the delimiter and quoting",
                        file=fmt.path, reason="parse_error") from exc
    df.columns = [c.strip() for c in df.columns]
    # A line holding only delimiters or spaces is not a record.
    empty = df.isna().all(axis=1)
    if empty.any():
        df = df[~empty]
    return df


def line_numbers(fmt: TextFormat, records: Iterable[int]) -> dict[int, int]:
    """1-based line numbers in the file of the given record indices (0 = first data record).

    Blank lines are skipped exactly as pandas skips them; quoted fields spanning several
    lines are handled (the line where the record starts is returned).
    """
    wanted = set(int(r) for r in records)
    out: dict[int, int] = {}
    if not wanted:
        return out
    last = max(wanted)
    with open(fmt.path, encoding=fmt.encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=fmt.delimiter, quotechar='"')
        prev = 0
        rec = -2  # header is record -1
        for row in reader:
            start = prev + 1
            prev = reader.line_num
            if not row:
                continue
            rec += 1
            if rec in wanted:
                out[rec] = start
                if rec >= last:
                    break
    return out


def to_numeric(df: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Column as float64, plus a mask of entries that held text that is not a number.

    Returns
    -------
    values : ndarray
        float64, NaN where missing or not a number.
    bad : ndarray of bool
        True where the entry was present but not a number.
    """
    s = df[column]
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return (np.array(s.to_numpy(dtype=np.float64, na_value=np.nan), copy=True),
                np.zeros(len(s), bool))
    txt = s.astype("string").str.strip()
    txt = txt.where(~txt.isin(NA_STRINGS))
    vals = pd.to_numeric(txt, errors="coerce")
    bad = (txt.notna() & vals.isna()).to_numpy(dtype=bool)
    return np.array(vals.to_numpy(dtype=np.float64, na_value=np.nan), copy=True), bad

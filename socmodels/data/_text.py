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
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from socmodels.data._report import DataError

__all__ = ["TextFormat", "BadRow", "RowScan", "sniff", "scan_rows", "read_columns",
           "line_numbers", "to_numeric", "NA_STRINGS"]

NA_STRINGS = ["", "NA", "N/A", "n/a", "NaN", "nan", "NAN", "null", "NULL", "None", "-",
              "#N/A", "-999", "-9999"]
"""Text read as missing in numeric columns (text columns: only the empty string)."""

_CHUNK = 1 << 24
_ENCODINGS = ("utf-8", "cp1252", "latin-1")


@dataclasses.dataclass(frozen=True)
class TextFormat:
    """How a delimited text file is written.

    Attributes:
        path (Path): The file.
        encoding (str):
            Python codec that decodes the whole file (``utf-8-sig`` when it starts with a BOM).
        delimiter (str): Field separator.
        line_ending (str): ``"LF"``, ``"CRLF"``, ``"CR"`` or ``"mixed"``.
        header (tuple of str): Column names as written (surrounding spaces stripped).
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
        head = fh.read(4096)
    # UTF-32/UTF-16 byte-order marks, then UTF-16 without a BOM (every other byte NUL in
    # ASCII text, which no 8-bit text table has).
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(head) >= 4 and head.count(b"\x00") > len(head) // 4:
        even, odd = head[0::2].count(0), head[1::2].count(0)
        return "utf-16-le" if odd > even else "utf-16-be"
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


def _detect_line_ending(sample: str) -> str:
    crlf = sample.count("\r\n")
    cr = sample.count("\r") - crlf
    lf = sample.count("\n") - crlf
    kinds = [k for k, n in (("CRLF", crlf), ("CR", cr), ("LF", lf)) if n]
    if not kinds:
        return "LF"
    return kinds[0] if len(kinds) == 1 else "mixed"


def sniff(path: str | Path) -> TextFormat:
    """Detect encoding, line ending and delimiter of a text table and read its header.

    Args:
        path (str or Path): A delimited text file (``.csv``, ``.tsv``, ``.txt``).

    Returns:
        TextFormat

    Raises:
        DataError: If the file is empty or its header has duplicated column names.
    """
    path = Path(path)
    encoding = _detect_encoding(path)
    with open(path, encoding=encoding, newline="", errors="replace") as fh:
        sample = fh.read(1 << 16)
    line_ending = _detect_line_ending(sample)
    with open(path, encoding=encoding, newline="") as fh:
        first = fh.readline()
        if line_ending == "CR" and "\r" in first:   # readline does not split at a lone CR
            first = first.split("\r", 1)[0]
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


@dataclasses.dataclass(frozen=True)
class BadRow:
    """A record that cannot be split into the header's columns.

    Attributes:
        record (int): Record index (0 = first data record; blank lines are not records).
        line (int): 1-based line in the file where the record starts.
        reason (str): ``"unterminated_quote"``, ``"ragged_row"`` or ``"truncated_row"``.
        message (str): What is wrong, in words (field counts).
        text (str): The start of the offending line (at most 80 characters).
    """

    record: int
    line: int
    reason: str
    message: str
    text: str


@dataclasses.dataclass(frozen=True)
class RowScan:
    """Result of :func:`scan_rows`: start line of every record and the malformed ones."""

    starts: np.ndarray
    bad: tuple[BadRow, ...]
    lenient: bool = False   # some rows had extra, empty trailing fields (tolerated)


_SCANS: dict[tuple[str, int, int, str, str], RowScan] = {}


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 4))
        tail = fh.read()
    return b"\n" in tail or b"\r" in tail


def _records(fmt: TextFormat, keep: Sequence[int] | None = None):
    """Yield ``(record, start_line, row, bad)`` for every non-blank record after the header.

    ``bad`` is None or a :class:`BadRow`; after an unterminated quote, reading resumes on the
    line after the one where the quote was opened. ``row`` holds only the fields at
    positions ``keep`` (all when None). The last record is checked for a quote left open
    at the end of the file (which :mod:`csv` accepts silently).
    """
    held = None
    for item in _raw_records(fmt):
        if held is not None:
            yield _keep(held, keep)
        held = item
    if held is None:
        return
    rec, start, raw, row, bad = held
    if bad is None:
        try:
            list(csv.reader(io.StringIO(raw), strict=True, delimiter=fmt.delimiter,
                            quotechar='"'))
        except csv.Error:
            bad = BadRow(rec, start, "unterminated_quote", "a quoted field opened on this"
                         " line is still open at the end of the file", _first_line(raw))
    yield _keep((rec, start, raw, row, bad), keep)


def _keep(item: tuple, keep: Sequence[int] | None) -> tuple:
    rec, start, _raw, row, bad = item
    if bad is not None:
        return rec, start, None, bad
    return rec, start, (row if keep is None else [row[k] for k in keep]), None


def _first_line(raw: str) -> str:
    return raw.replace("\r\n", "\n").replace("\r", "\n").split("\n", 1)[0][:80]


def _raw_records(fmt: TextFormat):
    """The records as :mod:`csv` splits them: ``(record, start, raw_text, row, bad)``."""
    ncol = len(fmt.header)
    last_line_complete = _ends_with_newline(fmt.path)
    skip = 1                                    # physical lines consumed before the reader
    rec = 0
    while True:
        restart = None
        with open(fmt.path, encoding=fmt.encoding, newline="") as fh:
            it = iter(fh)
            for _ in range(skip):
                if next(it, None) is None:
                    break
            lines: list[str] = []               # the physical lines of the current record

            def tap(source=it, lines=lines):
                for text in source:
                    lines.append(text)
                    yield text

            reader = csv.reader(tap(), delimiter=fmt.delimiter, quotechar='"')
            prev = 0
            nxt: Any = None
            while True:
                start = skip + prev + 1
                if nxt is None:
                    lines.clear()
                try:
                    row = nxt if nxt is not None else next(reader)
                    nxt = None
                except StopIteration:
                    break
                except csv.Error as exc:            # e.g. a field over the csv field limit
                    raw = "".join(lines)
                    yield rec, start, raw, None, BadRow(
                        rec, start, "unterminated_quote",
                        f"the record cannot be split ({exc}): an unterminated quote?",
                        _first_line(raw))
                    rec += 1
                    restart = start
                    break
                end = skip + reader.line_num
                prev = reader.line_num
                if not row:
                    continue
                raw = "".join(lines)
                n = len(row)
                if end > start and n >= ncol and _swallowed(row, fmt.delimiter, ncol):
                    n = -1       # a quote swallowed whole records: report as unterminated
                if n == ncol or (n > ncol and not any(x.strip() for x in row[ncol:])):
                    yield rec, start, raw, row, None
                    rec += 1
                    continue
                if end > start:
                    what = (f"with {n} fields instead of {ncol}" if n >= 0 else
                            "and swallows lines that look like whole records")
                    yield rec, start, raw, None, BadRow(
                        rec, start, "unterminated_quote",
                        f"a quoted field opened on this line is not closed (the record runs"
                        f" to line {end} {what}); only this line is dropped",
                        _first_line(raw))
                    rec += 1
                    restart = start
                    break
                reason, what = "ragged_row", f"{n} fields instead of the header's {ncol}"
                if n < ncol and not last_line_complete:
                    lines.clear()
                    try:
                        nxt = next(reader, None)
                    except csv.Error:
                        nxt = None
                    if nxt is None:
                        reason = "truncated_row"
                        what = f"the file ends inside this row ({what})"
                yield rec, start, raw, None, BadRow(rec, start, reason, what, _first_line(raw))
                rec += 1
                if nxt is None and reason == "truncated_row":
                    break
        if restart is None:
            return
        skip = restart


def _swallowed(row: list[str], delimiter: str, ncol: int) -> bool:
    """True if a multi-line field holds a line that looks like a record (half its delimiters)."""
    for field in row:
        if "\n" in field or "\r" in field:
            for part in field.replace("\r\n", "\n").replace("\r", "\n").split("\n")[1:]:
                if part.count(delimiter) >= max(ncol // 2, 1):
                    return True
    return False


def scan_rows(fmt: TextFormat) -> RowScan:
    """Split every record with Python's :mod:`csv` and check its number of fields.

    Pandas' fast parser pads short rows with missing values, accepts a file cut in the middle
    of a row and lets an unterminated quote swallow the following rows, all silently; this
    pass finds those records (with their line numbers) before pandas reads the columns. A
    record that spans several lines and has the wrong number of fields is an unterminated
    quote: it is reported and reading resumes on the next line, so only that row is lost.
    A short last row in a file that does not end with a newline is a truncated row. Rows with
    extra fields that are all empty (a trailing delimiter) are tolerated.

    The result is cached per file (path, size, modification time).
    """
    st = fmt.path.stat()
    key = (str(fmt.path), st.st_size, st.st_mtime_ns, fmt.encoding, fmt.delimiter)
    if key in _SCANS:
        return _SCANS[key]
    ncol = len(fmt.header)
    starts: list[int] = []
    bad: list[BadRow] = []
    lenient = False
    for _rec, start, row, problem in _records(fmt):
        starts.append(start)
        if problem is not None:
            bad.append(problem)
        elif len(row) != ncol:
            lenient = True
    scan = RowScan(np.asarray(starts, np.int64), tuple(bad), lenient)
    _SCANS[key] = scan
    return scan


def read_columns(fmt: TextFormat, columns: Iterable[str], *, numeric: Iterable[str] = (),
                 bad_rows: list[BadRow] | None = None) -> pd.DataFrame:
    """Read the given columns of a table (by header name) as text or numbers.

    Numeric columns are parsed by pandas' C parser; a column holding text is returned as
    text (pandas falls back to strings) and must be converted with :func:`to_numeric`,
    which names the offending line. Text columns keep every string except the empty one
    (so the ISO code ``NA`` of Namibia stays a string).

    Every record is first checked by :func:`scan_rows`. Malformed records (unterminated
    quote, wrong number of fields, file cut mid-row) are left out of the result and appended
    to ``bad_rows``; when ``bad_rows`` is None the first one raises :class:`DataError`.

    Args:
        fmt (TextFormat): From :func:`sniff`.
        columns (iterable of str): Header names to read (all must exist).
        numeric (iterable of str): The subset of ``columns`` expected to hold numbers.
        bad_rows (list, optional): Collects the :class:`BadRow` records left out.

    Returns:
        pandas.DataFrame:
            One row per record, index = record number (0 = first record after the header).
    """
    columns = list(dict.fromkeys(columns))
    missing = [c for c in columns if c not in fmt.header]
    if missing:
        raise DataError(f"required column(s) {missing} not found; the header has"
                        f" {list(fmt.header)[:30]}{' ...' if len(fmt.header) > 30 else ''}",
                        file=fmt.path, line=1, column=missing[0], reason="missing_column")
    scan = scan_rows(fmt)
    if scan.bad:
        if bad_rows is None:
            b = scan.bad[0]
            raise DataError(f"{b.message} ({len(scan.bad) - 1} more malformed rows); line"
                            f" starts {b.text!r}", file=fmt.path, line=b.line,
                            column=f"field {len(fmt.header)}" if b.reason != "unterminated_quote"
                            else None, reason=b.reason)
        bad_rows.extend(scan.bad)
    if scan.bad or scan.lenient:
        df = _read_with_csv(fmt, columns)
    else:
        df = _read_with_pandas(fmt, columns, set(numeric))
        if len(df) != len(scan.starts):     # pandas split the records differently
            df = _read_with_csv(fmt, columns)
    # A line holding only delimiters or spaces is not a record.
    empty = df.isna().all(axis=1)
    if empty.any():
        df = df[~empty]
    return df


def _read_with_pandas(fmt: TextFormat, columns: list[str], numeric: set[str]) -> pd.DataFrame:
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
    return df


def _read_with_csv(fmt: TextFormat, columns: list[str]) -> pd.DataFrame:
    """Slow path for files with malformed rows: the good records, split by :mod:`csv`.

    Values stay text (the empty string -> missing); :func:`to_numeric` converts them.
    """
    pos = [fmt.header.index(c) for c in columns]
    data: list[list[str]] = []
    index: list[int] = []
    for rec, _start, row, problem in _records(fmt, keep=pos):
        if problem is None:
            data.append(row)
            index.append(rec)
    df = pd.DataFrame(data, columns=columns, index=pd.Index(index, dtype=np.int64),
                      dtype=object)
    return df.replace("", np.nan).astype(object)


def line_numbers(fmt: TextFormat, records: Iterable[int]) -> dict[int, int]:
    """1-based line numbers in the file of the given record indices (0 = first data record).

    Blank lines are skipped exactly as pandas skips them; quoted fields spanning several
    lines are handled (the line where the record starts is returned).
    """
    starts = scan_rows(fmt).starts
    return {int(r): int(starts[int(r)]) for r in records if 0 <= int(r) < len(starts)}


def to_numeric(df: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Column as float64, plus a mask of entries that held text that is not a number.

    Returns:
        values (ndarray): float64, NaN where missing or not a number.
        bad (ndarray of bool): True where the entry was present but not a number.
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

"""Errors and the screening report shared by every reader in :mod:`socmodels.data`.

Every reader either raises :class:`DataError` (naming the file, the 1-based line number in
that file and the column) or records what it dropped, collapsed or estimated in a
:class:`ScreeningReport`. Nothing is dropped silently: each dropped layer is counted under
exactly one reason, so ``layers_read == layers_kept + sum(layers_dropped.values())`` and the
same for profiles (checked by :meth:`ScreeningReport.check`).
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["DataError", "DataWarning", "Issue", "ScreeningReport", "screening_report",
           "LAYER_REASONS", "PROFILE_REASONS"]


class DataError(ValueError):
    """A data file cannot be used as it is.

    The message names the file, the 1-based line number in that file (where one applies)
    and the column, says what is wrong and how to fix it. The same facts are available as
    attributes.

    Attributes:
        file (str or None): Path of the offending file.
        line (int or None): 1-based line number in the file (the header is line 1).
        column (str or None): Column (or NetCDF variable) name.
        reason (str): Short machine-readable reason (e.g. ``"non_numeric"``, ``"missing_column"``).
    """

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None,
                 column: str | None = None, reason: str = "invalid"):
        self.file = None if file is None else str(file)
        self.line = line
        self.column = column
        self.reason = reason
        where = []
        if file is not None:
            where.append(f"file '{file}'")
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column '{column}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class DataWarning(UserWarning):
    """Something in the data needs a look, but reading went on (details in the report).

    Raised through :func:`warnings.warn`: once per read for rows that were excluded (a
    summary; the rows are in :meth:`ScreeningReport.issues_frame`), for files holding only a
    header, and when no profile is left.
    """


@dataclasses.dataclass(frozen=True)
class Issue:
    """One problem found in a file and what was done about it.

    Attributes:
        file (str): The file.
        line (int or None):
            1-based line number (None for problems that concern a whole profile or file).
        column (str): The column.
        reason (str): Reason key (see :data:`LAYER_REASONS`).
        value (str): The offending value as text.
        action (str):
            What the reader did: ``"dropped layer"``, ``"dropped profile"``, ``"value ignored"``,
            ``"dropped row"`` (a malformed record), ``"merged (mean)"`` (interleaved horizons)
            or ``"collapsed"``.
    """

    file: str
    line: int | None
    column: str
    reason: str
    value: str
    action: str


LAYER_REASONS: dict[str, str] = {
    "malformed_row": "the record cannot be split into the header's columns (unterminated"
                     " quote, wrong number of fields, file cut mid-row)",
    "exact_duplicate": "exact duplicate of another row (collapsed to one)",
    "duplicate_layer": "same profile and depths as another layer with identical values"
                       " (collapsed to one)",
    "conflicting_duplicate": "same layer reported more than once with different values"
                             " (all copies dropped, never averaged)",
    "litter": "surface litter layer (litter flag = 1)",
    "negative_depth": "negative depth (organic layer above the mineral surface, pre-1993"
                      " convention)",
    "lower_above_upper": "lower depth shallower than upper depth",
    "zero_thickness": "zero-thickness sample (upper depth == lower depth)",
    "invalid_value": "a value could not be read as a number or is outside its plausible range",
    "missing_depth": "upper or lower depth missing",
    "missing_soc": "organic carbon missing",
    "zero_soc": "organic carbon <= 0",
    "interleaved_horizon": "another horizon of the profile has the same depths and different"
                           " carbon (interleaved horizons, e.g. 'Bt1 / E' and 'E'): merged"
                           " into one layer with the mean carbon (or dropped: interleaved="
                           "'drop')",
    "overlapping_layer": "overlaps a thinner layer of the same profile (e.g. 20-60 next to"
                         " 10-30 cm, or 0-100 cm over a whole profile): the finest"
                         " non-overlapping set of layers is kept",
    "below_model_column": "layer mid-point below the 8.6 m model column",
    "profile_not_found": "profile_id not in the profiles table",
    "invalid_coordinates": "profile has missing or out-of-range coordinates",
    "licence_excluded": "profile's licence excluded by the licence filter",
    "too_few_layers": "profile has fewer than the minimum number of layers (paper: 3)",
    "too_shallow": "profile's maximum depth not deeper than the minimum (paper: 50 cm)",
}
"""Reasons for which a layer can be dropped (keys of ``ScreeningReport.layers_dropped``)."""

PROFILE_REASONS: dict[str, str] = {
    "no_valid_layers": "every layer was dropped by a layer rule",
    "profile_not_found": "profile_id not in the profiles table",
    "invalid_coordinates": "missing or out-of-range latitude/longitude",
    "licence_excluded": "licence excluded by the licence filter",
    "too_few_layers": "fewer than the minimum number of layers (paper: 3)",
    "too_shallow": "maximum depth not deeper than the minimum (paper: 50 cm)",
}
"""Reasons for which a profile can be dropped (keys of ``ScreeningReport.profiles_dropped``)."""


@dataclasses.dataclass
class ScreeningReport:
    """What a reader read, kept, dropped (per reason), collapsed and estimated.

    Attributes:
        source (str): The folder or file read.
        layout (str):
            The recognised layout (``"wosis-2019-snapshot"``, ``"wosis-webservice"``,
            ``"wosis-2023-snapshot"``, ``"profiles-csv"``).
        files (list of dict):
            One entry per file looked at: ``path``, ``role`` (``profiles``, ``property``,
            ``ignored``), ``layout``, ``properties``, ``encoding``, ``delimiter``,
            ``line_ending``, ``records`` and, for tables with depths, ``depth_unit`` and
            ``depth_unit_reason`` (the per-file unit decision).
        layers_read, layers_kept (int): Organic-carbon layer records read and kept.
        layers_dropped (dict):
            Reason -> number of layer records dropped (see :data:`LAYER_REASONS`).
        profiles_read, profiles_kept (int):
            Distinct profiles among the layer records read, and kept.
        profiles_dropped (dict): Reason -> number of profiles dropped (see :data:`PROFILE_REASONS`).
        notes (dict):
            Counts of things done without dropping data: ``bd_estimated`` (pedotransfer used),
            ``bd_measured``, ``cf_missing_assumed_zero``, ``value_from_replicates``,
            ``ignored_values_<code>`` (a property value ignored, the layer kept), ``property
            rows without a SOC layer``, ...
        warnings (list of str):
            Suspicions that need a human (e.g. carbon values that look like percent).
        issues (list of Issue):
            Row-level detail of every dropped or ignored value (file, line, column).
        options (dict): The reader options used.
    """

    source: str = ""
    layout: str = ""
    files: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    layers_read: int = 0
    layers_kept: int = 0
    layers_dropped: dict[str, int] = dataclasses.field(default_factory=dict)
    profiles_read: int = 0
    profiles_kept: int = 0
    profiles_dropped: dict[str, int] = dataclasses.field(default_factory=dict)
    notes: dict[str, int] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)
    issues: list[Issue] = dataclasses.field(default_factory=list)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    # -- accumulation ------------------------------------------------------------------
    def drop_layers(self, reason: str, n: int) -> None:
        """Count ``n`` layer records dropped for ``reason``."""
        if reason not in LAYER_REASONS:
            raise KeyError(f"unknown layer drop reason {reason!r}")
        if n:
            self.layers_dropped[reason] = self.layers_dropped.get(reason, 0) + int(n)

    def drop_profiles(self, reason: str, n: int) -> None:
        """Count ``n`` profiles dropped for ``reason``."""
        if reason not in PROFILE_REASONS:
            raise KeyError(f"unknown profile drop reason {reason!r}")
        if n:
            self.profiles_dropped[reason] = self.profiles_dropped.get(reason, 0) + int(n)

    def note(self, key: str, n: int) -> None:
        """Count ``n`` occurrences of a non-dropping event ``key``."""
        if n:
            self.notes[key] = self.notes.get(key, 0) + int(n)

    # -- checks and views --------------------------------------------------------------
    def check(self) -> None:
        """Assert the accounting: every layer and profile read is kept or counted once."""
        dl = sum(self.layers_dropped.values())
        dp = sum(self.profiles_dropped.values())
        if self.layers_read != self.layers_kept + dl:
            raise AssertionError(f"layer accounting broken: read {self.layers_read} != kept"
                                 f" {self.layers_kept} + dropped {dl}")
        if self.profiles_read != self.profiles_kept + dp:
            raise AssertionError(f"profile accounting broken: read {self.profiles_read} !="
                                 f" kept {self.profiles_kept} + dropped {dp}")

    def issues_frame(self) -> pd.DataFrame:
        """The row-level issues as a DataFrame (file, line, column, reason, value, action)."""
        cols = [f.name for f in dataclasses.fields(Issue)]
        return pd.DataFrame([dataclasses.astuple(i) for i in self.issues], columns=cols)

    def issue_counts(self) -> dict[str, int]:
        """Number of row-level issues per reason."""
        return dict(Counter(i.reason for i in self.issues))

    def summary(self) -> str:
        """A short human-readable summary."""
        lines = [f"Screening report for {self.source} ({self.layout})",
                 f"  layers:   read {self.layers_read}, kept {self.layers_kept}",
                 f"  profiles: read {self.profiles_read}, kept {self.profiles_kept}"]
        for title, d, expl in (("layers dropped", self.layers_dropped, LAYER_REASONS),
                               ("profiles dropped", self.profiles_dropped, PROFILE_REASONS)):
            if d:
                lines.append(f"  {title}:")
                for k, v in sorted(d.items(), key=lambda kv: -kv[1]):
                    lines.append(f"    {v:8d}  {k}: {expl.get(k, '')}")
        if self.notes:
            lines.append("  notes:")
            for k, v in sorted(self.notes.items()):
                lines.append(f"    {v:8d}  {k}")
        for w in self.warnings:
            lines.append(f"  WARNING: {w}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON serialisable)."""
        d = dataclasses.asdict(self)
        d["issues"] = [dataclasses.asdict(i) for i in self.issues]
        return d

    def to_json(self) -> str:
        """JSON form (stored in ``Dataset.attrs['screening_report']``)."""
        return json.dumps(self.to_dict(), default=_json_default)

    @classmethod
    def from_json(cls, text: str) -> "ScreeningReport":
        """Rebuild a report from :meth:`to_json` output."""
        d = json.loads(text)
        d["issues"] = [Issue(**i) for i in d.get("issues", [])]
        return cls(**d)


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def screening_report(ds: Any) -> ScreeningReport:
    """The :class:`ScreeningReport` stored in a profiles Dataset's attributes.

    Args:
        ds (xarray.Dataset):
            A Dataset returned by :func:`~socmodels.data.read_wosis` or
            :func:`~socmodels.data.read_profiles_csv` (also after a NetCDF round trip).

    Returns:
        ScreeningReport
    """
    text = ds.attrs.get("screening_report")
    if text is None:
        raise KeyError("this Dataset carries no 'screening_report' attribute")
    return ScreeningReport.from_json(text)

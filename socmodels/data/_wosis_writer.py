"""Write layer tables in the three WoSIS layouts (used by the virtual world and tests).

The writers take one standard layer frame and write it as ISRIC does: the 2019 snapshot
(profiles TSV + wide chemical/physical TSVs), the web-service export (one CSV per property,
``gml_id`` first) or the 2023 snapshot (one long TSV per property with ``value_avg`` and
coordinates). :func:`~socmodels.data.read_wosis` reads all three back to the same arrays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_wosis", "LAYOUTS", "WOSIS_SUFFIXES"]

LAYOUTS = ("2019", "webservice", "2023")
"""Layouts :func:`write_wosis` can write."""

WOSIS_SUFFIXES = ("value", "value_avg", "method", "date", "dataset_id", "profile_code",
                  "licence")
"""Per-property columns of the wide WoSIS tables, in order."""

_CHEMICAL = ("orgc",)
_PHYSICAL = ("bdfi33", "bdfiod", "bdwsod", "cfvo", "clay", "sand", "silt")


def _num(v: np.ndarray) -> np.ndarray:
    """Numbers as text with 10 significant digits, '' for NaN."""
    out = np.array([f"{x:.10g}" if np.isfinite(x) else "" for x in np.asarray(v, float)],
                   dtype=object)
    return out


def _replicates(v: np.ndarray) -> np.ndarray:
    return np.array(["{1:" + f"{x:.10g}" + "}" if np.isfinite(x) else "" for x in v],
                    dtype=object)


def write_wosis(folder: str | Path, profiles: pd.DataFrame, layers: pd.DataFrame, *,
                layout: str = "2019") -> list[Path]:
    """Write profiles and layers as a WoSIS download.

    Args:
        folder (str or Path): Output folder (created).
        profiles (pandas.DataFrame):
            Columns ``profile_id``, ``latitude``, ``longitude``, ``dataset_id``, ``country_id``,
            ``licence``.
        layers (pandas.DataFrame):
            Columns ``profile_id``, ``profile_layer_id``, ``upper_depth``, ``lower_depth`` (cm),
            ``layer_name``, ``litter`` and property columns named by WoSIS code (``orgc`` g/kg,
            ``bdfiod``/``bdfi33``/``bdwsod`` kg/dm3, ``cfvo``/``clay``/``sand``/``silt`` %),
            NaN where not measured.
        layout ({"2019", "webservice", "2023"}): Which ISRIC layout to write.

    Returns:
        list of Path: The files written.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lic = dict(zip(profiles["profile_id"], profiles["licence"], strict=True))
    written: list[Path] = []
    base = pd.DataFrame({
        "profile_id": layers["profile_id"].to_numpy(),
        "profile_layer_id": layers["profile_layer_id"].to_numpy(),
        "upper_depth": _num(layers["upper_depth"]),
        "lower_depth": _num(layers["lower_depth"]),
        "layer_name": layers["layer_name"].to_numpy(),
        "litter": layers["litter"].astype(int).to_numpy(),
    })
    layer_lic = layers["profile_id"].map(lic).to_numpy()
    codes = [c for c in (*_CHEMICAL, *_PHYSICAL) if c in layers]

    def prop_cols(code: str, prefix: str) -> dict[str, np.ndarray]:
        v = layers[code].to_numpy(float)
        has = np.isfinite(v)
        return {
            f"{prefix}value": _replicates(v),
            f"{prefix}value_avg": _num(v),
            f"{prefix}method": np.where(has, "{1:virtual world}", ""),
            f"{prefix}date": np.where(has, "{1:2000-01-01}", ""),
            f"{prefix}dataset_id": np.where(has, "VW", ""),
            f"{prefix}profile_code": np.where(has, layers["profile_id"].astype(str), ""),
            f"{prefix}licence": np.where(has, layer_lic, ""),
        }

    kw = {"index": False, "lineterminator": "\n"}
    if layout == "2019":
        prof = pd.DataFrame({
            "profile_id": profiles["profile_id"], "dataset_id": profiles["dataset_id"],
            "country_id": profiles["country_id"], "country_name": profiles["country_id"],
            "geom_accuracy": 0.01, "latitude": _num(profiles["latitude"]),
            "longitude": _num(profiles["longitude"]), "dsds": "",
        })
        p = folder / "wosis_201909_profiles.tsv"
        prof.to_csv(p, sep="\t", **kw)
        written.append(p)
        for name, group in (("chemical", _CHEMICAL), ("physical", _PHYSICAL)):
            t = base.copy()
            for c in group:
                if c in layers:
                    for k, v in prop_cols(c, f"{c}_").items():
                        t[k] = v
            p = folder / f"wosis_201909_layers_{name}.tsv"
            t.to_csv(p, sep="\t", **kw)
            written.append(p)
    elif layout == "webservice":
        prof = pd.DataFrame({
            "gml_id": [f"wosis_latest_profiles.{i + 1}" for i in range(len(profiles))],
            "profile_id": profiles["profile_id"], "dataset_id": profiles["dataset_id"],
            "country_id": profiles["country_id"], "geom_accuracy": 0.01,
            "latitude": _num(profiles["latitude"]), "longitude": _num(profiles["longitude"]),
        })
        p = folder / "wosis_latest_profiles.csv"
        prof.to_csv(p, sep=",", **kw)
        written.append(p)
        for c in codes:
            has = np.isfinite(layers[c].to_numpy(float))
            t = base[has].copy()
            for k, v in prop_cols(c, f"{c}_").items():
                t[k] = v[has]
            t.insert(0, "gml_id", [f"wosis_latest_{c}.{i + 1}" for i in range(len(t))])
            p = folder / f"wosis_latest_{c}.csv"
            t.to_csv(p, sep=",", **kw)
            written.append(p)
    else:
        prof = pd.DataFrame({
            "profile_id": profiles["profile_id"], "dataset_id": profiles["dataset_id"],
            "country_name": profiles["country_id"], "latitude": _num(profiles["latitude"]),
            "longitude": _num(profiles["longitude"]),
            "positional_uncertainty": "Circa 100 m",
        })
        p = folder / "wosis_202312_profiles.tsv"
        prof.to_csv(p, sep="\t", **kw)
        written.append(p)
        coords = profiles.set_index("profile_id")
        for c in codes:
            v = layers[c].to_numpy(float)
            has = np.isfinite(v)
            sub = layers[has]
            t = pd.DataFrame({
                "profile_id": sub["profile_id"].to_numpy(),
                "dataset_id": "VW",
                "latitude": _num(coords.loc[sub["profile_id"], "latitude"]),
                "longitude": _num(coords.loc[sub["profile_id"], "longitude"]),
                "upper_depth": _num(sub["upper_depth"]),
                "lower_depth": _num(sub["lower_depth"]),
                "layer_id": sub["profile_layer_id"].to_numpy(),
                "layer_name": sub["layer_name"].to_numpy(),
                "litter": sub["litter"].astype(int).to_numpy(),
                "date": "2000-01-01",
                "value": _replicates(v[has]),
                "value_avg": _num(v[has]),
                "licence": sub["profile_id"].map(lic).to_numpy(),
            })
            p = folder / f"wosis_202312_{c}.tsv"
            t.to_csv(p, sep="\t", **kw)
            written.append(p)
    return written

"""The ``socmc run`` configuration schema: every invalid value names its dotted key."""

from __future__ import annotations

import json

import pytest
import yaml

from surrogate.config import PRESETS, ConfigError, PipelineConfig, load_config, validate_config

# (YAML override, text the one-line error must contain)
INVALID = [
    ({"calibration": {"num_chains": 0}}, "calibration.num_chains: must be >= 1 (got 0)"),
    ({"calibration": {"chunk_size": -5}}, "calibration.chunk_size: must be >= 1 (got -5)"),
    ({"calibration": {"num_warmup": "lots"}}, "calibration.num_warmup: must be a valid integer"),
    ({"calibration": {"num_samples": 0}}, "calibration.num_samples: must be >= 1 (got 0)"),
    ({"calibration": {"num_draws": 2.5}}, "calibration.num_draws: must be a valid integer"),
    ({"calibration": {"num_chains": True}}, "calibration.num_chains: must be a valid integer"),
    ({"calibration": {"rhat_max": 0.9}}, "calibration.rhat_max: must be >= 1"),
    ({"calibration": {"nse_min": 2}}, "calibration.nse_min: must be <= 1"),
    ({"calibration": {"sampler": "mala"}}, "calibration.sampler: unknown sampler 'mala'"),
    ({"calibration": {"likelihood": "t"}}, "calibration.likelihood: unknown likelihood 't'"),
    ({"calibration": {"num_warmpu": 10}}, "calibration.num_warmpu: unknown key"),
    ({"calibration": {"sampler": "nuts", "num_warmup": 0}}, "num_warmup"),
    ({"calibration": 5}, "calibration: must be a valid dictionary"),
    ({"calibration": {"space": {"clm5": "feasible"}}},
     "calibration.space.clm5: space: model CLM5 has no 'feasible_parameters' capability"),
    ({"calibration": {"space": {"clm6": "logit"}}}, "calibration.space.clm6: unknown model"),
    ({"calibration": {"space": {"compas": "box"}}}, "calibration.space.compas: space must be"),
    ({"calibration": {"sampler": "proda_compat", "space": {"compas": "feasible"}}},
     "calibration.space.compas: space 'feasible' needs a sampler"),
    ({"network": {"n_members": 0}}, "network.n_members: must be >= 1 (got 0)"),
    ({"network": {"dropout": 1.0}}, "network.dropout: must be < 1"),
    ({"network": {"heldout_fraction": 0}}, "network.heldout_fraction: must be > 0"),
    ({"network": {"hidden": []}}, "network.hidden: must have at least 1 item"),
    ({"network": {"hidden": [32, 0]}}, "network.hidden: layer widths must be >= 1"),
    ({"network": {"hidden": [32, "x"]}}, "network.hidden.1: must be a valid integer"),
    ({"network": {"loss": "mae"}}, "network.loss: unknown loss 'mae'"),
    ({"data": {"resolution": 0}}, "data.resolution: must be > 0"),
    ({"data": {"n_profiles": 0}}, "data.n_profiles: must be >= 1"),
    ({"data": {"noise_sd": -1}}, "data.noise_sd: must be >= 0"),
    ({"data": {"size": "huge"}}, "data.size:"),
    ({"data": {"source": "s3"}}, "data.source:"),
    ({"data": {"generators": ["clm6"]}}, "data.generators: unknown generating model(s)"),
    ({"data": {"generators": ["compas", "COMPAS"]}}, "data.generators: a generating model is"),
    ({"data": {"generators": []}}, "data.generators: must have at least 1 item"),
    ({"models": []}, "models: must have at least 1 item"),
    ({"models": ["clm5", "clm6"]}, "models: unknown model(s) ['clm6']"),
    ({"models": ["clm5", "clm5"]}, "models: a model is listed twice"),
    ({"seed": -1}, "seed: must be >= 0"),
    ({"seed": "0"}, "seed: must be a valid integer"),
    ({"outt": "x"}, "outt: unknown key"),
]


@pytest.mark.parametrize(("override", "expected"), INVALID,
                         ids=[json.dumps(o, separators=(",", ":")) for o, _ in INVALID])
def test_invalid_config_names_the_key(tmp_path, override, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(override))
    with pytest.raises(ConfigError) as info:
        load_config(str(path), preset="tiny")
    msg = str(info.value)
    assert expected in msg
    assert msg.startswith(f"{path}: ")
    assert "\n" not in msg


def test_several_problems_are_reported_together(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("calibration: {num_chains: 0, chunk_size: -5}\nnetwork: {hiden: 3}\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    msg = str(info.value)
    for key in ("calibration.num_chains", "calibration.chunk_size", "network.hiden"):
        assert key in msg
    assert "known keys here: ['dropout'" in msg  # the unknown key's section's keys


@pytest.mark.parametrize(("text", "expected"), [
    ("- a\n- b\n", "must be a YAML mapping"),
    ("calibration: [\n", "not valid YAML"),
])
def test_unreadable_files(tmp_path, text, expected):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_config(str(path))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path / "missing.yaml"))


def test_unknown_preset_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="preset: unknown preset 'huge'"):
        load_config(preset="huge")
    path = tmp_path / "c.yaml"
    path.write_text("preset: huge\n")
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        load_config(str(path))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_are_valid_and_complete(preset):
    cfg = load_config(preset=preset, out="somewhere")
    assert cfg["preset"] == preset and cfg["out"] == "somewhere"
    assert set(cfg) == set(PipelineConfig.model_fields)
    # every preset value is applied, nothing else differs from the schema defaults
    for section, values in PRESETS[preset].items():
        for key, value in values.items():
            assert cfg[section][key] == value
    assert validate_config(cfg) == cfg  # a validated config is a fixed point
    json.dumps(cfg)  # and JSON-able (written to config.json)


def test_file_overrides_preset_and_keeps_other_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("preset: tiny\ncalibration: {num_samples: 123}\nnetwork: {hidden: [8]}\n")
    cfg = load_config(str(path))
    tiny = load_config(preset="tiny")
    assert cfg["preset"] == "tiny" and cfg["calibration"]["num_samples"] == 123
    assert cfg["network"]["hidden"] == [8]
    assert cfg["calibration"]["num_warmup"] == tiny["calibration"]["num_warmup"]
    # the preset argument wins over the file's
    assert load_config(str(path), preset="paper")["calibration"]["num_warmup"] == 35000


def test_one_generating_model_may_be_named_without_a_list(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {generators: COMPAS}\n")
    assert load_config(str(path))["data"]["generators"] == ["compas"]


def test_ints_are_accepted_for_floats_but_strings_are_not(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("calibration: {rhat_max: 2}\ndata: {resolution: 10}\n")
    cfg = load_config(str(path))
    assert cfg["calibration"]["rhat_max"] == 2.0 and cfg["data"]["resolution"] == 10.0
    path.write_text("data: {resolution: '10'}\n")
    with pytest.raises(ConfigError, match="data.resolution"):
        load_config(str(path))


def test_pipeline_module_keeps_its_names():
    from surrogate import pipeline

    assert pipeline.load_config is load_config and pipeline.PRESETS is PRESETS
    assert pipeline.ConfigError is ConfigError


def test_the_documented_config_is_valid_and_complete(tmp_path):
    """The YAML block of docs/pipeline.md is a valid config naming every key."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "pipeline.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "doc.yaml"
    path.write_text(block)
    cfg = load_config(str(path))
    assert cfg == load_config(preset="default")  # the block shows the defaults
    documented = yaml.safe_load(block)
    for section in ("data", "calibration", "network"):
        assert set(documented[section]) == set(cfg[section]), section
    assert set(documented) == set(cfg)


_CLIM = {"kind": "sites", "path": "c.csv"}


@pytest.mark.parametrize(("data", "expected"), [
    ({"source": "csv", "climate": _CLIM}, "data.path: required"),
    ({"source": "csv", "path": "p.csv"}, "data.climate: required"),
    ({"source": "csv", "path": "nope.csv", "climate": _CLIM},
     "data.path: no such file or folder"),
    ({"source": "csv", "path": ["p.csv", "p.csv"], "climate": _CLIM},
     "data.path: one file expected (got 2)"),
    ({"source": "wosis", "path": "p.csv", "climate": _CLIM}, "data.path: a WoSIS download"),
    ({"source": "wosis", "path": [".", "p.csv"], "climate": _CLIM},
     "data.path: a WoSIS download is a folder"),
    ({"source": "csv", "path": ".", "climate": _CLIM}, "data.path: a file expected"),
    ({"path": "p.csv"}, "data.path: only used with source wosis or csv"),
    ({"reader": {"on_error": "drop"}}, "data.reader: only used with source wosis or csv"),
    ({"source": "csv", "path": "p.csv", "climate": _CLIM, "generators": ["clm5"]},
     "data.generators: only used with source virtual_world"),
    ({"source": "csv", "path": "p.csv", "climate": _CLIM, "reader": {"on_eror": "drop"}},
     "data.reader.on_eror: unknown option of the csv reader"),
    ({"source": "csv", "path": "p.csv", "climate": "c.csv"},
     "data.climate: must be a mapping with kind (table | cesm | sites) and path"),
    ({"source": "csv", "path": "p.csv", "climate": {"path": "c.csv"}}, "data.climate.kind:"),
    ({"source": "csv", "path": "p.csv", "climate": {"kind": "era5", "path": "c.csv"}},
     "data.climate.kind:"),
    ({"source": "csv", "path": "p.csv", "climate": {"kind": "table"}}, "data.climate.path:"),
    ({"source": "csv", "path": "p.csv", "climate": {"kind": "table", "path": "no.csv"}},
     "data.climate.path: no such file or folder"),
    ({"source": "csv", "path": "p.csv", "climate": {"kind": "cesm", "path": "h0.*.nc"}},
     "data.climate.path: no file matches"),
    ({"source": "csv", "path": "p.csv", "climate": {**_CLIM, "years": [1, 2]}},
     "data.climate.years: not used with kind 'sites'"),
    ({"source": "csv", "path": "p.csv", "climate": {"kind": "cesm", "path": "c.csv",
                                                    "years": [20, 1]}},
     "data.climate.years: first year after last"),
    ({"source": "csv", "path": "p.csv", "climate": {**_CLIM, "max_distance_km": 0}},
     "data.climate.max_distance_km: must be > 0"),
    ({"source": "csv", "path": "p.csv", "climate": {"kind": "cesm", "path": "c.csv",
                                                    "input_units": "kg"}},
     "data.climate.input_units:"),
    ({"source": "csv", "path": "p.csv", "climate": _CLIM, "covariates": "no.nc"},
     "data.covariates: no such file or folder"),
    ({"source": "csv", "path": "p.csv", "climate": _CLIM, "soc_unit": "%"},
     "data.soc_unit: unknown key"),
])
def test_own_data_config(tmp_path, data, expected):
    (tmp_path / "p.csv").write_text("x\n")
    (tmp_path / "c.csv").write_text("x\n")
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"data": data}))
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert expected in str(info.value)


def test_own_data_config_accepts_the_user_world_keys(tmp_path):
    """Every key of ``surrogate.sources.user_world`` passes the schema; paths (lists, the
    climate's path) are made relative to the config file."""
    for d in ("de", "fr"):
        (tmp_path / d).mkdir()
    (tmp_path / "clim.csv").write_text("x\n")
    (tmp_path / "h0.0001.nc").write_text("x\n")
    (tmp_path / "cov.nc").write_text("x\n")
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"data": {
        "source": "wosis", "path": ["de", "fr"], "reader": {"on_error": "drop",
                                                            "licences": ["CC-BY"]},
        "climate": {"kind": "cesm", "path": "h0.*.nc", "years": [1, 20],
                    "input_units": "per_month", "max_distance_km": 50},
        "covariates": "cov.nc"}}))
    d = load_config(str(path))["data"]
    assert d["path"] == [str(tmp_path / "de"), str(tmp_path / "fr")]
    assert d["climate"]["path"] == str(tmp_path / "h0.*.nc")
    assert d["covariates"] == str(tmp_path / "cov.nc")
    assert d["reader"] == {"on_error": "drop", "licences": ["CC-BY"]}
    from surrogate.sources import _CLIMATE_KEYS, _DATA_KEYS

    assert _DATA_KEYS <= set(d) and set(d["climate"]) == set().union(*_CLIMATE_KEYS.values())


def test_the_documented_own_data_config_is_valid(tmp_path):
    """The 'Your own data' YAML block of docs/pipeline.md validates (its files made here)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "pipeline.md").read_text()
    block = text.split("## Your own data", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    data = yaml.safe_load(block)["data"]
    for folder in data["path"]:
        (tmp_path / folder).mkdir()
    for name in (data["climate"]["path"], data["covariates"]):
        (tmp_path / name).write_text("x\n")
    path = tmp_path / "run.yaml"
    path.write_text(block)
    cfg = load_config(str(path))["data"]
    assert cfg["source"] == "wosis" and cfg["climate"]["kind"] == "table"
    assert cfg["path"] == [str(tmp_path / f) for f in data["path"]]


def test_sampler_options_per_model(tmp_path):
    """null: the sampler's measured per-model defaults; {}: the preset as is; errors name keys."""
    from inference.recommended import SAMPLER_OPTIONS
    from surrogate.config import sampler_config

    cal = load_config(preset="default")["calibration"]
    assert cal["sampler_options"] is None
    assert sampler_config(cal, "compas").target_acceptance == \
        SAMPLER_OPTIONS["am"]["compas"]["target_acceptance"] == 0.234
    assert sampler_config(cal, "clm5").target_acceptance is None
    assert load_config(preset="paper")["calibration"]["sampler_options"] == {}
    path = tmp_path / "c.yaml"
    path.write_text("calibration: {sampler_options: {}}\n")
    assert sampler_config(load_config(str(path))["calibration"], "compas").target_acceptance \
        is None
    path.write_text("calibration: {sampler: nuts}\n")  # no AM options laid on NUTS
    assert sampler_config(load_config(str(path))["calibration"], "compas").name == "nuts"
    for text, expected in [
            ("{compas: {bogus: 1}}", "calibration.sampler_options.compas: AMConfig"),
            ("{clm6: {}}", "calibration.sampler_options.clm6: unknown model"),
            ("{compas: {target_acceptance: 2.0}}",
             "calibration.sampler_options.compas: target_acceptance must be in (0, 1)")]:
        path.write_text(f"calibration: {{sampler_options: {text}}}\n")
        with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            load_config(str(path))


def test_sampler_options_enter_only_their_models_fingerprint():
    from surrogate.config import model_sampler_options as base_options
    from surrogate.pipeline import stage_plan

    base = load_config(preset="default")
    plain = json.loads(json.dumps(base))  # COMPAS given the preset as it is, CLM5 unchanged
    plain["calibration"]["sampler_options"] = {
        m: o for m in ("clm5",) if (o := base_options(base["calibration"], m))}
    a, b = stage_plan(base), stage_plan(plain)
    assert a["calibrate_clm5"]["fingerprint"] == b["calibrate_clm5"]["fingerprint"]
    assert a["calibrate_compas"]["fingerprint"] != b["calibrate_compas"]["fingerprint"]


@pytest.mark.parametrize("model", ["clm5", "compas"])
def test_pipeline_defaults_are_the_recommended_settings(model):
    """The default preset samples each model exactly as inference.recommended says."""
    from inference import recommended
    from surrogate.config import sampler_config

    cal = load_config(preset="default")["calibration"]
    rec = recommended(model, cal["sampler"], num_warmup=cal["num_warmup"],
                      num_samples=cal["num_samples"])
    assert sampler_config(cal, model) == rec["sampler"]
    assert cal["space"].get(model) == rec["space"]

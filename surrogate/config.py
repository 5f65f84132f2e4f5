"""The ``socmc run`` configuration: one pydantic schema, three presets, one-line errors.

Every key of the pipeline configuration is declared here with its type, its range and its
default; :func:`load_config` merges a preset (``tiny``, ``default``, ``paper``) with an
optional YAML file and validates the result *before any work starts*. A bad value, a wrong
type or an unknown key raises :class:`ConfigError` naming the dotted key, e.g.
``calibration.num_chains: must be >= 1 (got 0)``.

Names are checked against the registries that use them: models against ``socmodels.MODELS``,
samplers against :data:`inference.samplers.SAMPLERS` (and the sampler settings by building
the sampler), likelihoods against :data:`inference.likelihoods.LIKELIHOODS`, network losses
against :data:`surrogate.losses.LOSSES`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = ["PRESETS", "ConfigError", "PipelineConfig", "load_config", "validate_config",
           "model_names", "model_sampler_options", "sampler_config"]


class ConfigError(ValueError):
    """A pipeline configuration key is unknown or has an invalid value."""


def model_names() -> tuple[str, ...]:
    """Names of the registered soil-carbon models (``socmodels.MODELS``)."""
    import socmodels

    return tuple(getattr(socmodels, "MODELS", ("clm5", "compas")))


class _Section(BaseModel):
    # strict: no silent coercion ("10" -> 10, True -> 1); ints are still accepted as floats
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


_GLOB = frozenset("*?[")


def _as_list(value: str | list[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _check_paths(key: str, value: str | list[str] | None, *, folder: bool | None,
                 single: bool = False, glob: bool = False) -> None:
    """Every path of ``value`` exists (a folder / a file as asked); errors name ``key``."""
    items = _as_list(value)
    if not items:
        raise ValueError(f"{key}: required (a path)")
    if single and len(items) > 1:
        raise ValueError(f"{key}: one file expected (got {len(items)})")
    for v in items:
        p = Path(v).expanduser()
        if glob and _GLOB & set(v):
            if not sorted(p.parent.glob(p.name)):
                raise ValueError(f"{key}: no file matches {v}")
            continue
        if not p.exists():
            raise ValueError(f"{key}: no such file or folder: {v}")
        if folder is True and not p.is_dir():
            raise ValueError(f"{key}: a WoSIS download is a folder (got the file {v})")
        if folder is False and p.is_dir():
            raise ValueError(f"{key}: a file expected (got the folder {v})")


class ClimateConfig(_Section):
    """The climate the forcing is built from (``data.climate``; your own data only).

    ``kind: table``: a gridded climate table (CSV/TSV/NetCDF with ``lat``, ``lon``, ``mat``,
    ``map`` [, ``pet``, ``mat_amplitude`` or ``bio4``], read by
    :func:`socmodels.data.read_climate_table`; nearest land cell). ``kind: cesm``: CESM2/CLM5
    monthly history files (a file, a list, a folder or a glob). ``kind: sites``: one row per
    profile (``profile_id``, ``mat``, ``mat_amplitude``, ``moisture``, ``npp`` [,
    ``bedrock_depth``, ``active_layer_depth``, ``sand``]: the arguments of
    :func:`socmodels.data.climate_forcing`); no map grid.
    """

    kind: Literal["table", "cesm", "sites"]
    path: str | list[str]
    max_distance_km: float | None = Field(None, gt=0)
    """``table``/``cesm``: a profile farther than this from a climate cell is an error."""
    mat_amplitude: float | None = Field(None, ge=0)
    """``table``: seasonal semi-amplitude [K] for tables without ``mat_amplitude``/``bio4``."""
    years: list[int] | None = Field(None, min_length=2, max_length=2)
    """``cesm``: first and last model year of the climatology."""
    input_units: Literal["auto", "per_month", "per_year", "per_second"] | None = None
    """``cesm``: units of the ``*_INPUT_ACC_VECTOR`` litter inputs."""

    @model_validator(mode="after")
    def _keys_of_kind(self) -> ClimateConfig:
        from surrogate.sources import _CLIMATE_KEYS

        for key in ("max_distance_km", "mat_amplitude", "years", "input_units"):
            if getattr(self, key) is not None and key not in _CLIMATE_KEYS[self.kind]:
                raise ValueError(f"data.climate.{key}: not used with kind {self.kind!r}")
        if self.years is not None and self.years[0] > self.years[1]:
            raise ValueError(f"data.climate.years: first year after last ({self.years})")
        _check_paths("data.climate.path", self.path, folder=None if self.kind == "cesm"
                     else False, single=self.kind != "cesm", glob=self.kind == "cesm")
        return self


class DataConfig(_Section):
    """Where the profiles, the forcing and the covariates come from.

    ``virtual_world`` (default): the embedded synthetic Earth (``resolution``, ``n_profiles``,
    ``size``, ``noise_sd``). ``wosis`` / ``csv``: your own profiles, read by
    :func:`surrogate.sources.user_world` (``docs/data.md`` section 6): ``path`` (a WoSIS
    download folder or a list of them, read by :func:`socmodels.data.read_wosis`; or one
    CSV, one row per layer, read by :func:`socmodels.data.read_profiles_csv`), ``reader``
    (keyword arguments of that reader), ``climate`` (:class:`ClimateConfig`) and optional
    ``covariates`` (a covariate grid NetCDF whose land cells become the map grid, or a
    per-site CSV table). Without a map grid the map and analysis stages are skipped (noted
    in the report).
    """

    source: Literal["virtual_world", "wosis", "csv"] = "virtual_world"
    resolution: float = Field(4.0, gt=0, le=45)
    """Grid spacing of the virtual world [degrees]."""
    n_profiles: int | None = Field(240, ge=1)
    """Profiles generated before screening (``None``: from ``size``)."""
    size: Literal["default", "paper"] = "default"
    noise_sd: float = Field(0.25, ge=0)
    """Multiplicative lognormal observation noise (log space) of the virtual world."""
    generators: list[str] | None = Field(None, min_length=1)
    """Virtual world: the models that generate the observations (``None``: every model of
    the world, each profile by one of them, a "mixed" world); ``[compas]`` gives a pure
    COMPAS world, a twin experiment in which that model's truth is known at every site."""
    path: str | list[str] | None = None
    """``wosis``: the download folder (or a list of folders); ``csv``: the profile table."""
    reader: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of the profile reader (e.g. ``on_error``, ``licences``,
    ``soc_unit``, ``depth_unit``)."""
    climate: ClimateConfig | None = None
    covariates: str | None = None
    """Covariate grid NetCDF (its land cells are the map grid) or per-site CSV/TSV table
    (``profile_id`` + covariates; no map grid); the climate gives covariates without it."""

    @field_validator("climate", mode="before")
    @classmethod
    def _climate_mapping(cls, v: Any) -> Any:
        if isinstance(v, str):
            raise ValueError("must be a mapping with kind (table | cesm | sites) and path,"
                             f" e.g. {{kind: sites, path: {v}}}")
        return v

    @field_validator("generators", mode="before")
    @classmethod
    def _one_generator_as_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v  # ``generators: compas`` reads as [compas]

    @field_validator("generators")
    @classmethod
    def _known_generators(cls, v: list[str] | None) -> list[str] | None:
        from socmodels.data.world import DEFAULT_MODELS

        if v is None:
            return v
        v = [g.lower() for g in v]
        bad = [g for g in v if g not in DEFAULT_MODELS]
        if bad:
            raise ValueError(f"unknown generating model(s) {bad}; the virtual world's models"
                             f" are {list(DEFAULT_MODELS)}")
        if len(set(v)) != len(v):
            raise ValueError(f"a generating model is listed twice ({v})")
        return v

    @model_validator(mode="after")
    def _files_exist(self) -> DataConfig:
        if self.source == "virtual_world":
            extra = [k for k in ("path", "reader", "climate", "covariates") if getattr(self, k)]
            if extra:
                raise ValueError(f"data.{extra[0]}: only used with source wosis or csv"
                                 " (source is virtual_world)")
            return self
        if self.generators is not None:
            raise ValueError(f"data.generators: only used with source virtual_world (source"
                             f" is {self.source})")
        from surrogate.sources import _READER_KEYS

        bad = sorted(set(self.reader) - _READER_KEYS[self.source])
        if bad:
            raise ValueError(f"data.reader.{bad[0]}: unknown option of the {self.source}"
                             f" reader; known: {sorted(_READER_KEYS[self.source])}")
        if self.climate is None:
            raise ValueError(f"data.climate: required when data.source is {self.source!r}")
        _check_paths("data.path", self.path, folder=self.source == "wosis",
                     single=self.source == "csv")
        if self.covariates:
            _check_paths("data.covariates", self.covariates, folder=False)
        return self


class CalibrationConfig(_Section):
    """Site-level MCMC (:func:`inference.run_sites`) and the screening of its results."""

    sampler: str = "am"
    num_warmup: int = Field(10_000, ge=0)
    num_samples: int = Field(2_500, ge=1)
    """Iterations per chain of one segment (run until converged: per segment)."""
    num_chains: int = Field(4, ge=1)
    num_draws: int = Field(250, ge=1)
    """Stored draws per chain (kept iterations are thinned to this many)."""
    chunk_size: int = Field(4, ge=1)
    """Sites per compiled batch and per checkpoint (the results do not depend on it, AM bit
    for bit, ``docs/inference.md`` §3). On a CPU
    small batches are fastest (``benchmarks/results/chunking*.json``: 4 sites take 0.69x
    (COMPAS) and 0.84x (CLM5) the time of 64); on a GPU use thousands."""
    workers: int | None = Field(None, ge=1)
    """Chunks calibrated at once (threads; XLA runs one CPU program on about one core);
    None: one per CPU core (``os.cpu_count()``). Does not change the results."""
    likelihood: str = "lognormal"
    rhat_max: float = Field(1.01, ge=1.0)
    """Sites with a larger max R-hat are not used to train the network."""
    ess_min: float = Field(400.0, ge=0.0)
    """Sites whose smallest bulk or tail ESS is below this are not used to train the
    network (400 with ``rhat_max`` 1.01: Vehtari et al. 2021's strict criterion)."""
    max_segments: int | None = Field(48, ge=1)
    """Run until converged: after the warm-up, up to this many segments of
    ``num_samples`` iterations per site, each site stopping once max R-hat <= ``rhat_max``
    and min bulk/tail ESS >= ``ess_min`` (:class:`inference.Convergence`); None: one
    segment (a fixed budget)."""
    nse_min: float = Field(0.0, le=1.0)
    """Sites with a smaller (or equal) NSE are not used to train the network."""
    space: dict[str, str] = Field(default_factory=lambda: _measured_spaces())
    """Sampler space per model, e.g. ``{compas: feasible}`` (``unit``, ``logit`` or
    ``feasible``; a model not listed samples in the sampler's own space; see
    ``run_sites(space=...)`` and ``docs/inference.md``). Default: the spaces chosen by
    measurement (:data:`inference.recommended.MODEL_SPACES`)."""
    sampler_options: dict[str, dict[str, Any]] | None = None
    """Sampler options per model, laid on the sampler's preset, e.g. ``{compas:
    {target_acceptance: 0.234}}``; ``{}``: every model gets the preset as it is. None (the
    default): the options chosen by measurement for the sampler
    (:data:`inference.recommended.SAMPLER_OPTIONS`:
    with ``am``, COMPAS's chains also adapt a global proposal scale during warm-up,
    ``docs/inference.md`` section 7)."""

    @field_validator("sampler")
    @classmethod
    def _known_sampler(cls, v: str) -> str:
        from inference.samplers import SAMPLERS

        return _one_of(v, SAMPLERS, "sampler")

    @field_validator("likelihood")
    @classmethod
    def _known_likelihood(cls, v: str) -> str:
        from inference.likelihoods import LIKELIHOODS

        return _one_of(v, LIKELIHOODS, "likelihood")

    @model_validator(mode="after")
    def _sampler_builds(self) -> CalibrationConfig:
        smp = sampler_config(self.model_dump())  # the sampler's own checks
        from inference import Convergence, RunConfig, get_likelihood

        if self.max_segments is not None:  # the criterion's own checks (ESS reachable)
            try:
                RunConfig(model=model_names()[0], sampler=smp,
                          likelihood=get_likelihood(self.likelihood),
                          num_chains=self.num_chains, num_draws=self.num_draws,
                          convergence=Convergence(self.rhat_max, self.ess_min, self.ess_min,
                                                  self.max_segments))
            except ValueError as err:
                raise ValueError(f"calibration: {err}") from None

        for model in self.sampler_options or {}:
            try:
                _one_of(model, model_names(), "model")
                sampler_config(self.model_dump(), model)
            except (TypeError, ValueError) as err:
                raise ValueError(f"calibration.sampler_options.{model}: {err}") from None

        for model, space in self.space.items():
            try:
                _one_of(model, model_names(), "model")
                # the run's own validation: known space, model capability, sampler space
                RunConfig(model=model, sampler=smp, likelihood=get_likelihood(self.likelihood),
                          space=space)
            except ValueError as err:  # RunConfigError included
                raise ValueError(f"calibration.space.{model}: {err}") from None
        return self


def _measured_spaces() -> dict[str, str]:
    """The per-model sampler spaces chosen by measurement (imported late: jax)."""
    from inference.recommended import MODEL_SPACES

    return dict(MODEL_SPACES)


def _one_of(value: str, names, what: str) -> str:
    """``value`` if it names a registry entry, else a ValueError listing the choices."""
    if value not in names:
        raise ValueError(f"unknown {what} {value!r}; choose one of {sorted(names)}")
    return value


class NetworkConfig(_Section):
    """The covariates -> parameters network (best-guess ensemble)."""

    n_members: int = Field(4, ge=1)
    max_epochs: int = Field(400, ge=1)
    patience: int = Field(80, ge=1)
    dropout: float = Field(0.2, ge=0, lt=1)
    loss: str = "product"
    heldout_fraction: float = Field(0.15, gt=0, lt=1)
    hidden: list[int] = Field(default_factory=lambda: [256, 512, 512, 256], min_length=1)
    epochs_per_call: int = Field(20, ge=1)

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, v: str) -> str:
        from surrogate.losses import LOSSES

        return _one_of(v, LOSSES, "loss")

    @field_validator("hidden")
    @classmethod
    def _positive_widths(cls, v: list[int]) -> list[int]:
        if any(w < 1 for w in v):
            raise ValueError(f"layer widths must be >= 1 (got {v})")
        return v


class PipelineConfig(_Section):
    """The whole ``socmc run`` configuration (see ``docs/pipeline.md``)."""

    preset: str = "default"
    out: str = "socmc_output"
    seed: int = Field(0, ge=0)
    models: list[str] = Field(default_factory=lambda: ["clm5", "compas"], min_length=1)
    data: DataConfig = Field(default_factory=DataConfig)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)

    @field_validator("out", mode="before")
    @classmethod
    def _path_to_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, Path) else v

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, v: str) -> str:
        if v not in PRESETS:
            raise ValueError(f"unknown preset {v!r}; choose one of {sorted(PRESETS)}")
        return v

    @field_validator("models")
    @classmethod
    def _known_models(cls, v: list[str]) -> list[str]:
        known = model_names()
        bad = [m for m in v if m not in known]
        if bad:
            raise ValueError(f"unknown model(s) {bad}; choose from {list(known)}")
        if len(set(v)) != len(v):
            raise ValueError(f"a model is listed twice ({v})")
        return v


# The default preset (the schema's defaults) is chosen by measurement
# (benchmarks/results/sampling_portfolio.json, docs/inference.md section 7): AM with 10,000
# warm-up iterations, then segments of 2,500 (the proposal re-adapted between segments from
# the pooled draws of the site's chains) until every parameter has split R-hat <= 1.01 and
# bulk/tail ESS >= 400 (Vehtari et al. 2021) or 48 segments are spent (the same 120,000
# iterations per chain as 12 segments of 10,000 after 20,000, which need 1.3-1.4x the
# evaluations: benchmarks/results/segments_seed*.json); COMPAS in its
# feasible-box space. Sites that do not converge are reported and not used to train the
# network. The tiny preset is a smoke test with a fixed, far too short budget; the paper
# preset is the paper's fixed AM budget and its R-hat <= 1.05.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "tiny": {"data": {"resolution": 10.0, "n_profiles": 40},
             # chains this short cannot converge: the screen is relaxed (and the report says
             # so) only to let the later stages run; never use it for results
             "calibration": {"num_warmup": 600, "num_samples": 400, "num_chains": 3,
                             "num_draws": 50, "max_segments": None, "ess_min": 0.0,
                             "rhat_max": 10.0},
             "network": {"n_members": 2, "max_epochs": 40, "patience": 20,
                         "hidden": [32, 32], "epochs_per_call": 10}},
    "paper": {"data": {"resolution": 0.5, "n_profiles": None, "size": "paper"},
              "calibration": {"num_warmup": 35000, "num_samples": 35000, "num_chains": 3,
                              "num_draws": 1000, "chunk_size": 1024, "max_segments": None,
                              "ess_min": 0.0, "rhat_max": 1.05, "space": {},
                              "sampler_options": {}},
              "network": {"n_members": 10, "max_epochs": 6000, "patience": 1200,
                          "epochs_per_call": 50}},
}
"""Overrides of the schema's defaults (which are the ``default`` preset)."""


def _merge(base: dict, over: dict) -> dict:
    """``over`` laid on ``base``; mappings merged key by key (the schema checks the keys)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) \
            else copy.deepcopy(v)
    return out


def _known_keys(loc: tuple) -> list[str]:
    """Field names of the schema section at ``loc`` (for 'unknown key' messages)."""
    cls: type[BaseModel] = PipelineConfig
    for part in loc:
        ann = cls.model_fields.get(part) if isinstance(part, str) else None
        if ann is None or not (isinstance(ann.annotation, type)
                               and issubclass(ann.annotation, BaseModel)):
            break
        cls = ann.annotation
    return sorted(cls.model_fields)


_MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "too_short": "must have at least {min_length} item(s)",
}


def _one_line(err: dict) -> str:
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in loc) or "<config>"
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"{key}: unknown key; known keys here: {_known_keys(loc[:-1])}"
    if kind in _MESSAGES:
        msg = _MESSAGES[kind].format(**ctx)
    elif kind == "value_error":
        msg = str(ctx.get("error", err["msg"]))
        if loc and msg.startswith(f"{key}."):  # the message names its own, deeper key
            return msg
    else:
        msg = err["msg"].replace("Input should be", "must be")
    got = err.get("input")
    return f"{key}: {msg} (got {got!r})" if not isinstance(got, dict) else f"{key}: {msg}"


def validate_config(cfg: dict, *, source: str | None = None) -> dict:
    """Validate a full configuration mapping; return it with every default filled in.

    Args:
        cfg: The configuration (preset already merged).
        source: A file name to put in front of error messages.

    Returns:
        The validated configuration as a plain dict (JSON-able).

    Raises:
        ConfigError: One line per problem, each naming the dotted key.
    """
    try:
        return PipelineConfig.model_validate(cfg).model_dump()
    except ValidationError as exc:
        lines = [_one_line(e) for e in exc.errors(include_url=False)]
    except ValueError as exc:  # a sampler/likelihood constructor's own check
        lines = [str(exc)]
    prefix = f"{source}: " if source else ""
    raise ConfigError(prefix + "; ".join(lines))


def load_config(path: str | Path | None = None, *, preset: str | None = None,
                out: str | None = None) -> dict:
    """Preset + YAML file + ``out`` override -> validated configuration.

    Args:
        path: A YAML file (a mapping; may name a ``preset``).
        preset: ``tiny``, ``default`` or ``paper``; overrides the file's ``preset``
            (default ``default``).
        out: Output folder; overrides the file's ``out``.

    Returns:
        The validated configuration (dict with every key).

    Raises:
        ConfigError: Unreadable file, unknown preset, unknown key or invalid value.
    """
    import yaml

    user: dict = {}
    src = str(path) if path is not None else None
    if path is not None:
        try:
            with open(path, encoding="utf-8") as fh:
                user = yaml.safe_load(fh)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        user = {} if user is None else user
        if not isinstance(user, dict):
            raise ConfigError(f"{path}: the config must be a YAML mapping")
    data = user.get("data")
    if path is not None and isinstance(data, dict):  # data files relative to the config file
        def rel(v: Any) -> Any:
            if isinstance(v, list):
                return [rel(x) for x in v]
            if isinstance(v, str) and not Path(v).expanduser().is_absolute():
                return str(Path(path).parent / v)
            return v

        for key in ("path", "covariates"):
            if key in data:
                data[key] = rel(data[key])
        if isinstance(data.get("climate"), dict) and "path" in data["climate"]:
            data["climate"]["path"] = rel(data["climate"]["path"])
    chosen = preset or user.get("preset") or "default"
    if chosen not in PRESETS:
        raise ConfigError(f"preset: unknown preset {chosen!r}; choose one of {sorted(PRESETS)}")
    cfg = _merge(_merge(PRESETS[chosen], user), {"preset": chosen})
    if out is not None:
        cfg["out"] = str(out)
    return validate_config(cfg, source=src)


def model_sampler_options(calibration: dict, model: str) -> dict[str, Any]:
    """The sampler options ``model`` gets: ``calibration.sampler_options[model]``, or with
    ``sampler_options`` None the measured defaults of the sampler
    (:data:`inference.recommended.SAMPLER_OPTIONS`)."""
    per_model = calibration.get("sampler_options")
    if per_model is None:
        from inference.recommended import measured_options

        return measured_options(calibration["sampler"], model)
    return dict(per_model.get(model, {}))


def sampler_config(calibration: dict, model: str | None = None):
    """The sampler of ``calibration.sampler`` with the run's budget (and ``model``'s options).

    One registry, one set of defaults: :func:`inference.samplers.sampler_from_budget`;
    ``calibration.sampler_options[model]`` (if any) is laid on the preset.
    """
    from inference.samplers import sampler_from_budget

    options = model_sampler_options(calibration, model) if model else {}
    return sampler_from_budget(calibration["sampler"], calibration["num_warmup"],
                               calibration["num_samples"], **options)

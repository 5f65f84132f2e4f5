"""inference.recommended: the per-model sampler settings chosen by measurement."""

import pytest

import inference
from inference import RunConfig, get_likelihood, recommended
from inference.recommended import MODEL_SPACES, SAMPLER_OPTIONS


def test_compas_gets_its_feasible_space_and_scale_adaptation():
    rec = recommended("compas", num_warmup=200, num_samples=100)
    assert rec["space"] == MODEL_SPACES["compas"] == "feasible"
    assert rec["sampler"].target_acceptance == \
        SAMPLER_OPTIONS["am"]["compas"]["target_acceptance"]
    assert (rec["sampler"].num_warmup, rec["sampler"].num_samples) == (200, 100)
    # the settings are a valid run: the feasible space on a sampler that can use it
    run = RunConfig(model="compas", likelihood=get_likelihood("lognormal"), **rec)
    assert run.space == "feasible" and run.sampler.target_acceptance == 0.234


def test_clm5_gets_the_preset_as_it_is():
    rec = recommended("clm5")
    assert rec["space"] is None          # CLM5 has no feasible-box map: the sampler's logit
    assert "clm5" not in SAMPLER_OPTIONS["am"]
    assert rec["sampler"] == inference.get_sampler("am")


def test_options_and_samplers():
    # given options override the measured ones; other samplers get no AM options
    assert recommended("compas", target_acceptance=0.3)["sampler"].target_acceptance == 0.3
    nuts = recommended("compas", "nuts")
    assert nuts["sampler"].name == "nuts" and nuts["space"] == "feasible"
    # a sampler confined to the unit cube keeps its own space
    assert recommended("compas", "proda_compat")["space"] is None


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="unknown model 'clm6'"):
        recommended("clm6")
    with pytest.raises(ValueError, match="unknown sampler 'amx'"):
        recommended("compas", "amx")
    with pytest.raises(TypeError, match="sampler must be a preset name"):
        recommended("compas", inference.get_sampler("am"))
    with pytest.raises(TypeError):
        recommended("compas", bogus=1)

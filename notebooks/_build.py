"""Regenerate the tutorial notebooks (outputs stripped) from the cell sources below.

    .venv/bin/python notebooks/_build.py            # writes notebooks/0*.ipynb

Edit the cells here (or edit a notebook in Jupyter, strip its outputs and keep this file in
sync); ``tests/test_notebooks.py`` executes every notebook on small settings.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

PARAMS_HEAD = """\
{imports}

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets

# SOCMC_NOTEBOOK_SMALL=1 (set by the test suite) picks tiny settings that run in about a
# minute on 2 CPU cores; the default settings are realistic (minutes to hours).
SMALL = os.environ.get("SOCMC_NOTEBOOK_SMALL", "0") == "1"
"""


def md(text: str):
    return new_markdown_cell(textwrap.dedent(text).strip("\n"))


def code(text: str, *, tags: tuple[str, ...] = ()):
    cell = new_code_cell(textwrap.dedent(text).strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def params(text: str, *, paths: bool = True):
    """The parameters cell: the small/realistic switch, then the notebook's settings."""
    imports = ["import os"] + (["import tempfile"] if paths else []) + ["import warnings"]
    imports += ["from pathlib import Path"] if paths else []
    head = PARAMS_HEAD.format(imports="\n".join(imports))
    return code(head + "\n" + textwrap.dedent(text).strip("\n"), tags=("parameters",))


NOTEBOOKS: dict[str, list] = {}

# ----------------------------------------------------------------------------------------
# 01: one site end to end
# ----------------------------------------------------------------------------------------
NOTEBOOKS["01_one_site.ipynb"] = [
    md("""
    # 01 · One site, end to end

    This notebook walks through everything `socmc` does **at a single soil profile**:

    1. build the site's **forcing** (12-month soil climate and litter input) from a few climate
       descriptors with `socmodels.data.climate_forcing`;
    2. run the two **steady-state models**, CLM5 (7 pools × 20 layers, first-order) and COMPAS
       (8 pools × 20 layers, microbial Michaelis–Menten), and plot SOC and pools against depth;
    3. make a synthetic **observed profile** from known ("true") CLM5 parameters, so that we
       can check what calibration recovers;
    4. **calibrate** CLM5 to that profile with the adaptive-Metropolis kernel
       (`inference.AdaptiveMetropolis`) and with NUTS, both through `numpyro.infer.MCMC` and the
       same NumPyro model (`inference.site_model`);
    5. check the chains with **ArviZ** (summary, trace, rank and pair plots) and compare the
       **posterior predictive** profile with the observations.

    Many sites at once (batched, checkpointed) are the subject of `02_many_sites.ipynb`.
    """),
    params("""
    if SMALL:   # a smoke run: chains far too short to converge, but every step is exercised
        AM_WARMUP, AM_SAMPLES = 500, 500
        NUTS_WARMUP, NUTS_SAMPLES, NUTS_TREE_DEPTH = 60, 60, 5
        N_CHAINS = 2
    else:       # realistic single-site budgets (a few minutes on a laptop)
        AM_WARMUP, AM_SAMPLES = 20_000, 20_000
        NUTS_WARMUP, NUTS_SAMPLES, NUTS_TREE_DEPTH = 1_000, 1_000, 8
        N_CHAINS = 4
    SEED = 0
    """, paths=False),
    code("""
    %matplotlib inline
    import time

    import arviz as az
    import jax
    import matplotlib.pyplot as plt
    import numpy as np
    from numpyro.infer import MCMC, NUTS, Predictive

    from inference import AdaptiveMetropolis, make_site, site_model
    from socmodels import clm5, compas, layers, observe  # socmodels switches JAX to float64
    from socmodels.data import climate_forcing

    Z = layers.zsoi                      # the 20 model layer nodes [m], 0.01 ... 8.03 m
    """),
    md("""
    ## 1. Forcing

    `climate_forcing` turns mean annual air temperature, its seasonal amplitude, a moisture
    index (0 arid … 1 perhumid) and NPP (= litter input at steady state, gC m⁻² yr⁻¹) into the
    full `Forcing` the models read: soil temperature, water/oxygen/nitrogen scalars per month
    and layer, active-layer depth, bedrock layer and the four litter inputs. With CESM2/CLM5
    output you would use `socmodels.data.read_clm5_history` + `forcing_at_sites` instead
    (`05_bring_your_own_data.ipynb`).
    """),
    code("""
    # A temperate forest site: MAT 12 °C, ±9 K seasonal cycle, moist, NPP 500 gC m-2 yr-1
    forcing = climate_forcing(mat=12.0, mat_amplitude=9.0, moisture=0.55, npp=500.0,
                              latitude=45.0, woody_fraction=0.8)
    print(f"total litter input {float(forcing.total_input):.0f} gC m-2 yr-1,"
          f" bedrock layer {int(forcing.nbedrock[0])} (20 = none)")

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
    for ax, field, label in ((axes[0], forcing.tsoi - 273.15, "soil temperature [°C]"),
                             (axes[1], forcing.w_scalar, "water scalar [-]")):
        im = ax.pcolormesh(np.arange(1, 13), Z, field.T, shading="nearest")
        fig.colorbar(im, ax=ax, label=label)
        ax.set_xlabel("month")
    axes[0].set_ylim(3, 0)
    axes[0].set_ylabel("depth [m]")
    fig.suptitle("forcing: the 12-month climatology seen by the models");
    """),
    md("""
    ## 2. The two forward models

    Parameters are passed as a vector in **physical units**, in the order of the model's
    `PARAMETERS` table (uniform priors on `[lower, upper]`). The unit cube `u ∈ (0, 1)` maps to
    physical values with `PARAMETERS.to_physical(u)`; we use the prior mid-point here.
    `prepare(forcing)` does the site-only work once; `steady_state` is pure JAX, so it can be
    `jit`-ted, `vmap`-ped over parameter sets and differentiated.
    """),
    code("""
    models = {"CLM5": clm5, "COMPAS": compas}
    prepared = {name: mod.prepare(forcing) for name, mod in models.items()}
    solve = {name: jax.jit(mod.steady_state) for name, mod in models.items()}

    states = {}
    for name, mod in models.items():
        theta_mid = mod.PARAMETERS.to_physical(np.full(len(mod.PARAMETERS), 0.5))
        states[name] = ss = solve[name](theta_mid, prepared[name])
        print(f"{name:6s}: SOC 0-1 m {float(ss.stock_1m) / 1e3:6.1f} kgC m-2, whole column"
              f" {float(ss.stock) / 1e3:6.1f} kgC m-2, feasible: {bool(ss.feasible)},"
              f" respiration = input: {float(ss.respiration):.0f} = {float(ss.total_input):.0f}")
    """),
    code("""
    # SOC (the quantity compared with soil profiles) and every pool against depth
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharey=True)
    for name, ss in states.items():
        axes[0].plot(np.asarray(ss.soc) / 1e3, Z, marker=".", label=name)
    axes[0].set_xlabel("SOC [kgC m$^{-3}$]")
    axes[0].set_title("soil organic carbon")
    axes[0].legend()
    for ax, (name, ss) in zip(axes[1:], states.items(), strict=True):
        for pool, values in zip(ss.pool_names, np.asarray(ss.pools), strict=True):
            ax.plot(np.where(values > 0, values, np.nan), Z, label=pool)  # log axis: no zeros
        ax.set_xscale("log")
        ax.set_xlabel("carbon [gC m$^{-3}$]")
        ax.set_title(f"{name} pools")
        ax.legend(fontsize=7, ncol=2)
    axes[0].set_ylim(3, 0)
    axes[0].set_ylabel("depth [m]");
    """),
    md("""
    ## 3. A synthetic observed profile

    We draw "true" CLM5 parameters, compute the steady state, interpolate it to the mid-points
    of five WoSIS-like layers with the observation operator `socmodels.observe` (PCHIP between
    layer nodes, as in PRODA) and multiply by lognormal noise (sd 0.25 in log space).
    `inference.make_site` validates the profile and bundles it with the prepared forcing.
    """),
    code("""
    rng = np.random.default_rng(SEED)
    P = clm5.PARAMETERS
    u_true = rng.uniform(0.25, 0.75, len(P))               # unit cube
    theta_true = np.asarray(P.to_physical(u_true))         # physical units
    truth = solve["CLM5"](theta_true, prepared["CLM5"])
    assert bool(truth.feasible)

    top = np.array([0.0, 0.1, 0.3, 0.5, 0.8])              # layer boundaries [m]
    bottom = np.array([0.1, 0.3, 0.5, 0.8, 1.2])
    depth = 0.5 * (top + bottom)                           # observation depths: mid-points
    obs = np.asarray(observe(truth.soc, depth)) * np.exp(rng.normal(0.0, 0.25, depth.size))

    site = make_site(obs, depth, forcing, model="clm5")
    print("observed SOC [kgC m-3]:", np.round(obs / 1e3, 1))
    """),
    md("""
    ## 4. Calibration with `numpyro.infer.MCMC`

    `inference.site_model(site, soil_model=...)` is an ordinary NumPyro model:
    `u ~ Uniform(0, 1)^d`, deterministic `theta` (physical units) and `soc_pred` (model at the
    observed depths), and the observed `soc` with the lognormal likelihood. Infeasible steady
    states get zero density. Its arguments are passed to `MCMC.run`.

    **Adaptive Metropolis** (Haario et al. 2001) is the sampler of PRODA, here a proper NumPyro
    kernel whose adaptation stops after warm-up. It needs one model evaluation per iteration,
    so long chains are cheap.
    """),
    code("""
    am_kernel = AdaptiveMetropolis(site_model, adapt_start=min(1_000, AM_WARMUP // 4),
                                   adapt_every=10)
    am = MCMC(am_kernel, num_warmup=AM_WARMUP, num_samples=AM_SAMPLES, num_chains=N_CHAINS,
              chain_method="vectorized", progress_bar=False)
    t0 = time.perf_counter()
    am.run(jax.random.key(SEED), site, soil_model="clm5")
    print(f"AM: {N_CHAINS} x {AM_WARMUP + AM_SAMPLES} iterations in"
          f" {time.perf_counter() - t0:.1f} s (including compilation)")
    """),
    md("""
    **NUTS** uses gradients of the log density: they flow through the steady-state solve (an
    adjoint) and the PCHIP observation operator. Each iteration costs many gradient
    evaluations, but draws are far less correlated.
    """),
    code("""
    nuts = MCMC(NUTS(site_model, max_tree_depth=NUTS_TREE_DEPTH), num_warmup=NUTS_WARMUP,
                num_samples=NUTS_SAMPLES, num_chains=N_CHAINS, chain_method="vectorized",
                progress_bar=False)
    t0 = time.perf_counter()
    nuts.run(jax.random.key(SEED + 1), site, soil_model="clm5")
    print(f"NUTS: {N_CHAINS} x {NUTS_WARMUP + NUTS_SAMPLES} iterations in"
          f" {time.perf_counter() - t0:.1f} s (including compilation)")
    """),
    md("""
    ## 5. Diagnostics with ArviZ

    `arviz.from_numpyro` builds an ArviZ `DataTree` (groups `posterior`, `sample_stats`,
    `log_likelihood`, `posterior_predictive`, `observed_data`). We name the dimensions
    explicitly: the parameter axis gets the parameter names and the layer axis the observation
    depths. (Passing `dims` also skips ArviZ's automatic dimension inference, which fails with
    some arviz-base/NumPyro import orders.) The posterior predictive draws come from
    `numpyro.infer.Predictive` with the observations left out (`observed=False`).
    """),
    code("""
    names = list(P.names)
    dims = {"u": ["parameter"], "theta": ["parameter"], "soc_pred": ["depth"], "soc": ["depth"]}
    coords = {"parameter": names, "depth": depth}

    def to_datatree(mcmc, seed):
        draws = mcmc.get_samples()
        ppc = Predictive(site_model, draws)(jax.random.key(seed), site, soil_model="clm5",
                                            observed=False)
        ppc = {"soc": np.asarray(ppc["soc"]).reshape(N_CHAINS, -1, depth.size)}
        return az.from_numpyro(mcmc, posterior_predictive=ppc, log_likelihood=True,
                               dims=dims, pred_dims={}, coords=coords)

    dt_am, dt_nuts = to_datatree(am, 10), to_datatree(nuts, 11)
    dt_am
    """),
    code("""
    # A handful of parameters to look at: temperature sensitivity, depth scalar, turnover of
    # the slow and passive pools, and the input allocation shape
    SHOW = ["q10", "efolding", "tau4s2", "tau4s3", "beta"]
    az.summary(dt_am, var_names=["theta"], coords={"parameter": SHOW})
    """),
    code("""
    az.summary(dt_nuts, var_names=["theta"], coords={"parameter": SHOW})
    """),
    code("""
    # Trace and marginal densities (one colour per chain): AM
    az.plot_trace_dist(dt_am, var_names=["theta"], coords={"parameter": SHOW}, compact=False);
    """),
    code("""
    # Rank plots: with converged chains every chain's rank ECDF stays inside the envelope
    az.plot_rank(dt_nuts, var_names=["theta"], coords={"parameter": SHOW});
    """),
    code("""
    # Pair plot: correlated parameters (e.g. turnover time vs depth scalar) are typical of
    # profile calibration, where only their combination is identified
    az.plot_pair(dt_nuts, var_names=["theta"], coords={"parameter": SHOW[:4]});
    """),
    md("""
    ### Posterior against the truth

    In the unit cube every parameter has the same prior range (0, 1), which makes the
    posteriors comparable: a narrow interval means the profile constrains the parameter.
    """),
    code("""
    fig, ax = plt.subplots(figsize=(11, 3.6))
    x = np.arange(len(names))
    for k, (label, dt) in enumerate((("AM", dt_am), ("NUTS", dt_nuts))):
        u = dt.posterior["u"].stack(sample=("chain", "draw")).transpose("parameter", "sample")
        lo, mid, hi = np.quantile(u.values, [0.05, 0.5, 0.95], axis=1)
        ax.errorbar(x + 0.15 * (2 * k - 1), mid, yerr=[mid - lo, hi - mid], fmt="o", ms=3,
                    label=f"{label} median, 90 % interval")
    ax.plot(x, u_true, "k_", ms=12, mew=2, label="truth")
    ax.set_xticks(x, names, rotation=60)
    ax.set_ylabel("unit-cube value")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0));
    """),
    md("""
    ### Posterior predictive profile

    The whole 20-layer SOC profile for a thinned set of posterior draws (a `vmap` of the
    steady state over parameter sets), its median and 90 % band, the posterior predictive
    intervals at the observed depths (model + observation noise) and the observations.
    """),
    code("""
    theta_draws = dt_nuts.posterior["theta"].stack(sample=("chain", "draw"))
    theta_draws = theta_draws.transpose("sample", "parameter").values[::2]
    profiles = jax.jit(jax.vmap(lambda th: clm5.steady_state(th, prepared["CLM5"]).soc))(
        theta_draws)
    lo, mid, hi = np.quantile(np.asarray(profiles), [0.05, 0.5, 0.95], axis=0) / 1e3

    y_rep = dt_nuts.posterior_predictive["soc"].stack(sample=("chain", "draw")).values / 1e3
    p_lo, p_hi = np.quantile(y_rep, [0.05, 0.95], axis=1)

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.fill_betweenx(Z, lo, hi, alpha=0.3, label="posterior 90 % (model)")
    ax.plot(mid, Z, label="posterior median")
    ax.plot(np.asarray(truth.soc) / 1e3, Z, "k--", lw=1, label="truth")
    ax.hlines(depth, p_lo, p_hi, color="tab:orange", lw=4, alpha=0.6,
              label="posterior predictive 90 %")
    ax.plot(obs / 1e3, depth, "ko", label="observations")
    for t, b, o in zip(top, bottom, obs, strict=True):
        ax.vlines(o / 1e3, t, b, color="k", lw=0.8)
    ax.set_ylim(1.6, 0)
    ax.set_xlabel("SOC [kgC m$^{-3}$]")
    ax.set_ylabel("depth [m]")
    ax.legend(fontsize=7);
    """),
    md("""
    ## Where next

    * `02_many_sites.ipynb`: the same calibration for many profiles at once with
      `inference.run_sites` (batched sites × chains, checkpoints, resume, screening).
    * `04_method_comparison.ipynb`: AM vs NUTS vs PRODA's original sampler, cost per
      effective sample.
    * Other likelihoods: `inference.gaussian_relative()`, `inference.nse_likelihood()`
      (`site_model(..., likelihood=...)`).
    """),
]

# ----------------------------------------------------------------------------------------
# 02: many sites
# ----------------------------------------------------------------------------------------
NOTEBOOKS["02_many_sites.ipynb"] = [
    md("""
    # 02 · Many sites: `run_sites`, the site table, screening, diagnostics, resume

    PRODA's first step calibrates each soil model at every profile (70,000 in the paper).
    `inference.run_sites` runs **all sites × chains in one compiled program** (sites are
    `vmap`-ped, each with its own data), in chunks that are written to disk as soon as they are
    done, so a run can stop and **resume** where it stopped (or spread over a Dask cluster).

    This notebook

    1. generates profiles with known truth in the **virtual world**
       (`socmodels.data.virtual_world`);
    2. calibrates **CLM5 and COMPAS** at every site with adaptive Metropolis;
    3. reads the **site table** (posterior summaries, R-hat, ESS, NSE per site) and one site's
       full posterior;
    4. applies the paper's **screening** (R-hat ≤ 1.05 and NSE > 0) and shows the
       **diagnostics dashboard**;
    5. runs `run_sites` again to show that **nothing is redone**.
    """),
    params("""
    if SMALL:   # a 20-degree world with 24 profiles, very short chains (a smoke run)
        RESOLUTION, N_PROFILES = 20.0, 24
        WARMUP, SAMPLES, N_CHAINS, N_DRAWS = 300, 300, 2, 50
        OUT = Path(tempfile.mkdtemp(prefix="socmc_02_"))
    else:       # the default world, a fixed budget (tens of minutes on 2 cores)
        RESOLUTION, N_PROFILES = 4.0, 240
        WARMUP, SAMPLES, N_CHAINS, N_DRAWS = 10_000, 10_000, 3, 200
        OUT = Path("_out") / "02_many_sites"
    SEED = 0
    print("outputs in", OUT.resolve())
    """),
    code("""
    %matplotlib inline
    import time

    import matplotlib.pyplot as plt
    import numpy as np

    import socmodels
    from inference import (
        completed_sites,
        dashboard,
        load_site,
        load_site_table,
        recommended,
        run_sites,
        screen,
    )
    from socmodels.data import virtual_world
    """),
    md("""
    ## 1. Profiles and forcing from the virtual world

    The virtual world is the package's embedded dataset: a synthetic Earth whose true CLM5 and
    COMPAS parameters are known. It is written in the real file formats (WoSIS tables, a
    CLM5-history-like NetCDF) and read back with the real readers, so `world.profiles` and
    `world.forcing` look exactly like real data (see `05_bring_your_own_data.ipynb`).
    Each profile was generated by one of the two models (`truth.generating_model`).
    """),
    code("""
    world = virtual_world(seed=SEED, resolution=RESOLUTION, n_profiles=N_PROFILES,
                          out_dir=OUT / "world")
    profiles, forcing = world.profiles, world.forcing      # aligned: one forcing per profile
    print(f"{profiles.sizes['profile']} profiles kept of {N_PROFILES} generated,"
          f" {int(profiles['layer_mask'].sum())} layers")
    profiles[["lat", "lon"]].to_dataframe().assign(
        layers=profiles["layer_mask"].sum("layer").values,
        deepest_m=profiles["lower_depth"].max("layer").values,
        generated_by=world.truth["generating_model"].values).head(10)
    """),
    md("""
    ## 2. Calibrate both models at every site

    `recommended(model, **options)` gives the sampler settings measured best for each model
    (`docs/inference.md` §7): adaptive Metropolis (warm-up with adaptation, then frozen
    adaptation for the kept draws; `adapt_start` is when the covariance estimate starts being
    used), for COMPAS in its feasible-box space and with a warm-up scale adaptation; here with
    this notebook's short budget. Every site gets its own random stream derived from its id,
    so results do not depend on the chunking or on which machine ran the chunk. `num_draws`
    thins what is stored.
    """),
    code("""
    budget = dict(num_warmup=WARMUP, num_samples=SAMPLES, adapt_start=min(1_000, WARMUP // 4))
    settings = {model: recommended(model, **budget) for model in ("clm5", "compas")}
    runs = {}
    for model in ("clm5", "compas"):
        t0 = time.perf_counter()
        runs[model] = run_sites(profiles, forcing, model, **settings[model],
                                output_dir=OUT / model, num_chains=N_CHAINS,
                                num_draws=N_DRAWS, seed=SEED, chunk_size=64,
                                invalid="skip", progress=not SMALL)
        print(f"{model}: {profiles.sizes['profile']} sites in {time.perf_counter() - t0:.1f} s")
    """),
    md("""
    ## 3. The site table

    One row per site: posterior mean/sd/quantiles per parameter (physical units), R-hat and
    bulk/tail ESS per parameter, the NSE of the posterior-mean profile, the acceptance rate,
    timings, and the screening flag `kept`. It is written to `<output_dir>/site_table.nc`
    and reloaded with `load_site_table`.
    """),
    code("""
    table = load_site_table(OUT / "clm5")
    columns = ["lat", "lon", "n_layers", "nse", "max_r_hat", "min_ess_bulk", "acceptance_rate",
               "status", "kept"]
    table[columns].to_dataframe().round(3)
    """),
    code("""
    # posterior means of a few parameters (physical units), site by site
    table["mean"].sel(parameter=["q10", "efolding", "tau4s3", "beta"]).to_pandas().round(3)
    """),
    md("""
    One site's full posterior is an ArviZ `DataTree` (`posterior`, `posterior_predictive`,
    `log_likelihood`, `observed_data`, `constant_data`, `sample_stats`): everything of
    `01_one_site.ipynb` applies. Here, the posterior predictive against the observations:
    """),
    code("""
    site_id = table["site"].values[0]
    post = load_site(OUT / "clm5", site_id)
    depth = post.constant_data["depth"].values
    y_rep = post.posterior_predictive["soc"].stack(sample=("chain", "draw")).values / 1e3
    pred = post.constant_data["soc_pred"].stack(sample=("chain", "draw")).values / 1e3

    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.hlines(depth, *np.quantile(y_rep, [0.05, 0.95], axis=1), lw=5, alpha=0.4,
              label="posterior predictive 90 %")
    ax.plot(np.median(pred, axis=1), depth, "s-", label="model, posterior median")
    ax.plot(post.observed_data["soc"].values / 1e3, depth, "ko", label="observed")
    ax.invert_yaxis()
    ax.set_xlabel("SOC [kgC m$^{-3}$]")
    ax.set_ylabel("depth [m]")
    ax.set_title(f"CLM5 at site {site_id}")
    ax.legend(fontsize=7);
    """),
    md("""
    ## 4. Screening and the diagnostics dashboard

    The paper keeps a site for the neural network only if its chains converged (R-hat ≤ 1.05;
    here the maximum over parameters, stricter than the authors' mean) and the calibrated
    model explains the profile (NSE > 0). `screen` recomputes the flag with other thresholds.
    With the short chains of the small settings hardly any site passes the R-hat test.
    """),
    code("""
    for model, run in runs.items():
        t = run.table
        strict = screen(t, rhat_max=1.05, nse_min=0.0)
        relaxed = screen(t, rhat_max=1.5, nse_min=0.0)
        print(f"{model:6s}: {t.sizes['site']} sites; kept {int(strict.sum())} with R-hat <= 1.05,"
              f" {int(relaxed.sum())} with R-hat <= 1.5; median NSE {float(t['nse'].median()):.2f},"
              f" median max R-hat {float(t['max_r_hat'].median()):.2f}")
    """),
    code("""
    # maps and histograms of max R-hat, min bulk ESS, acceptance rate and NSE (red: thresholds)
    dashboard(runs["compas"].table);
    """),
    md("""
    ### Recovery of the truth

    For the sites whose observations CLM5 generated, the posterior means can be compared with
    the true parameters (unit cube). Parameters that the profiles do not constrain stay near
    the prior mean 0.5 whatever the truth.
    """),
    code("""
    P = socmodels.clm5.PARAMETERS
    own = world.truth["generating_model"].values == "clm5"
    sites = [str(s) for s in table["site"].values]
    rows = [sites.index(str(p)) for p in world.truth["profile_id"].values[own]]
    true_u = world.truth["clm5_u"].values[own]
    post_u = np.asarray(P.to_unit(table["mean"].values[rows]))

    show = ["q10", "efolding", "tau4s3", "fs1s2", "beta"]
    fig, axes = plt.subplots(1, len(show), figsize=(13, 2.8), sharey=True)
    for ax, name in zip(axes, show, strict=True):
        k = P.index(name)
        ax.scatter(true_u[:, k], post_u[:, k], s=12)
        ax.plot([0, 1], [0, 1], "k-", lw=0.5)
        ax.set(title=name, xlim=(0, 1), ylim=(0, 1), xlabel="true (unit cube)")
    axes[0].set_ylabel("posterior mean");
    """),
    md("""
    ## 5. Resume: nothing is redone

    Every finished chunk is a checkpoint (`chunks/chunk-<hash>.nc`, written atomically).
    Calling `run_sites` again with the same settings finds them, skips those sites and only
    reassembles the table. A different configuration in the same `output_dir` raises
    `RunConfigError` instead of mixing results (or pass `overwrite=True`). For time-limited
    batch jobs, `max_chunks=` stops after a number of chunks; the next call continues.
    """),
    code("""
    before = {p.name: p.stat().st_mtime for p in (OUT / "clm5" / "chunks").glob("chunk-*.nc")}
    t0 = time.perf_counter()
    again = run_sites(profiles, forcing, "clm5", **settings["clm5"], output_dir=OUT / "clm5",
                      num_chains=N_CHAINS, num_draws=N_DRAWS, seed=SEED, chunk_size=64,
                      invalid="skip", progress=False)
    after = {p.name: p.stat().st_mtime for p in (OUT / "clm5" / "chunks").glob("chunk-*.nc")}
    print(f"second call: {time.perf_counter() - t0:.2f} s, {len(completed_sites(OUT / 'clm5'))}"
          f" sites already done, checkpoints untouched: {before == after}")
    assert before == after and bool((again.table["mean"] == table["mean"]).all())
    """),
]

# ----------------------------------------------------------------------------------------
# 03: the PRODA pipeline
# ----------------------------------------------------------------------------------------
NOTEBOOKS["03_proda.ipynb"] = [
    md("""
    # 03 · PRODA: from site posteriors to global maps

    PRODA (Tao et al., GCB 2024) calibrates the soil models site by site, trains a neural
    network that maps **environmental covariates → posterior-mean parameters**, predicts the
    parameters in every grid cell and runs the models globally. Comparing CLM5 and COMPAS
    before (customary parameters) and after (PRODA parameters) shows how much of their
    disagreement came from parameters rather than structure.

    `surrogate.pipeline.run_pipeline` does all of it on the virtual world: data → calibration
    of both models → screening and network → parameter and SOC maps → analyses → report, each
    stage resumable. This notebook runs it and then **reads its outputs**:

    * the networks (training curves of the best-guess ensemble);
    * parameter maps;
    * SOC maps with customary and PRODA parameters, and the between-model correlation of
      log SOC before/after;
    * explained variation (pooled NSE) at held-out profiles;
    * the system-level components (carbon transfer efficiency, baseline decomposition,
      environmental modifier, vertical transport, input allocation).

    The same numbers are in `report.md`. With the small settings (the `tiny` preset, shrunk
    further) the chains are far too short and the network tiny, so the numbers only show the
    plumbing; the default preset (run until converged) took 19 minutes on a 2-core
    machine, `paper` needs a cluster.
    """),
    params("""
    if SMALL:   # the "tiny" preset, shrunk further (a smoke run: the numbers are meaningless)
        PRESET, OUT = "tiny", Path(tempfile.mkdtemp(prefix="socmc_03_"))
        OVERRIDES = {"data": {"resolution": 20.0, "n_profiles": 24},
                     "calibration": {"num_warmup": 300, "num_samples": 300, "num_chains": 2,
                                     "num_draws": 50},
                     "network": {"max_epochs": 200, "patience": 50, "hidden": [32, 32],
                                 "epochs_per_call": 20}}
    else:       # the default preset (what `bash tools/run.sh` runs), resumable in _out/
        PRESET, OUT = "default", Path("_out") / "03_proda"
        OVERRIDES = {}
    """),
    code("""
    import json

    import numpy as np
    import pandas as pd
    import xarray as xr

    import surrogate
    from surrogate.pipeline import load_config, run_pipeline

    # the configuration is a plain dict: a preset, merged with a YAML file if given
    cfg = load_config(preset=PRESET, out=str(OUT))
    for section, values in OVERRIDES.items():
        cfg[section].update(values)
    cfg
    """),
    md("""
    ## Run the pipeline

    Re-running with the same `out` skips finished stages (markers in `out/stages/`) and
    resumes the calibration at the first unfinished chunk of sites.
    """),
    code("""
    summary = run_pipeline(cfg)
    summary
    """),
    code("""
    # The pipeline's report stage switches Matplotlib to the non-interactive "Agg" backend to
    # write its PNGs; switch back to inline plots for the rest of the notebook.
    %matplotlib inline
    import matplotlib.pyplot as plt

    for path in sorted(OUT.glob("*")) + sorted(OUT.glob("*/*")):
        if path.is_file() and "chunks" not in path.parts:
            print(f"{path.relative_to(OUT)!s:45s} {path.stat().st_size / 1e3:9.1f} kB")
    """),
    md("""
    ## 1. Screening and the networks

    Only sites whose chains converged and whose calibrated profile fits (NSE > 0) train the
    network; a fixed share of sites is **held out** for the skill test. Each model gets a
    *best-guess ensemble*: several networks trained on different train/validation splits,
    each keeping its best-validation weights (early stopping).
    """),
    code("""
    from surrogate import load_ensemble

    ensembles = {m: load_ensemble(OUT / "network" / f"{m}_ensemble.npz") for m in cfg["models"]}
    fig, axes = plt.subplots(1, len(ensembles), figsize=(11, 3.2), constrained_layout=True)
    for ax, (m, ens) in zip(axes, ensembles.items(), strict=True):
        split = xr.load_dataset(OUT / "network" / f"{m}_sites.nc")
        for k in range(len(ens.member_ids)):
            ax.plot(ens.history["train_loss"][k], color=f"C{k}", lw=0.8, label=f"member {k} train")
            ax.plot(ens.history["val_loss"][k], color=f"C{k}", ls="--", label=f"member {k} val")
            ax.axvline(ens.best_epoch[k], color=f"C{k}", lw=0.5)
        ax.set(yscale="log", xlabel="epoch", ylabel=f"loss ({ens.config.loss})",
               title=f"{m.upper()}: {int(split['kept'].sum())} of {split.sizes['site']} sites kept,"
                     f" {int(split['heldout'].sum())} held out")
    axes[0].legend(fontsize=7);
    """),
    md("""
    ## 2. Parameter maps

    `maps/<model>.nc` holds the ensemble-median parameters per grid cell (`theta`, physical
    units), the ensemble spread in the unit cube (`theta_unit_std`) and the 0–1 m SOC stock
    with PRODA and with customary parameters (CLM5: its default parameters; COMPAS: the mean
    of the site posterior means, as in the paper).
    """),
    code("""
    maps = {m: xr.load_dataset(OUT / "maps" / f"{m}.nc") for m in cfg["models"]}
    maps["clm5"]
    """),
    code("""
    fig, axes = plt.subplots(2, 3, figsize=(13, 5.5), constrained_layout=True)
    shown = [("clm5", "q10"), ("clm5", "tau4s3"), ("clm5", "beta"),
             ("compas", "q10"), ("compas", "mic_cue"), ("compas", "mm_const_decom")]
    for ax, (m, p) in zip(axes.ravel(), shown, strict=True):
        maps[m]["theta"].sel(parameter=p).plot(ax=ax, cbar_kwargs={"label": ""})
        ax.set_title(f"{m.upper()} {p}")
    """),
    md("""
    ## 3. SOC maps before and after PRODA
    """),
    code("""
    fig, axes = plt.subplots(2, 2, figsize=(12, 6), constrained_layout=True)
    for row, m in enumerate(cfg["models"]):
        for col, (var, label) in enumerate((("stock_1m_customary", "customary parameters"),
                                            ("stock_1m", "PRODA parameters"))):
            np.log10(maps[m][var] / 1e3).plot(ax=axes[row, col], vmin=0, vmax=2.5,
                                              cbar_kwargs={"label": "log10 kgC m$^{-2}$"})
            axes[row, col].set_title(f"{m.upper()}, {label}: SOC 0-1 m")
    """),
    code("""
    # latitudinal profiles (zonal medians), as in the paper's Fig. 2c
    fig, ax = plt.subplots(figsize=(5, 4))
    for m in cfg["models"]:
        for var, ls in (("stock_1m_customary", "--"), ("stock_1m", "-")):
            z = surrogate.zonal_profile(maps[m][var] / 1e3)
            ax.plot(z.values, z["lat"].values, ls, label=f"{m.upper()} {var[9:] or 'PRODA'}")
    ax.set(xlabel="zonal median SOC 0-1 m [kgC m$^{-2}$]", ylabel="latitude")
    ax.legend(fontsize=8);
    """),
    md("""
    ### Do the two models agree more after PRODA?

    The paper's headline: the correlation of log SOC between CLM5 and COMPAS maps rose from
    about 0 with customary parameters to 0.51 with PRODA parameters. `surrogate.log_correlation`
    computes it from the two maps (the pipeline stored the same numbers in `analyses.json`).
    """),
    code("""
    analyses = json.loads((OUT / "analyses.json").read_text())
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True, sharey=True)
    for ax, (var, label) in zip(axes, (("stock_1m_customary", "customary"),
                                       ("stock_1m", "PRODA")), strict=True):
        a, b = maps["clm5"][var], maps["compas"][var]
        r = float(surrogate.log_correlation(a, b)["r"])
        ax.scatter(np.log10(a.values / 1e3), np.log10(b.values / 1e3), s=6, alpha=0.6)
        ax.set(title=f"{label}: r(log SOC) = {r:.2f}", xlabel="CLM5 log10 SOC 0-1 m",
               ylabel="COMPAS log10 SOC 0-1 m")
    print("analyses.json:", analyses["log_soc_correlation"])
    """),
    md("""
    ## 4. Explained variation at held-out profiles

    The held-out profiles never entered the network. PRODA-predicted parameters at their
    locations are run through the model, the predictions compared with the observed layers,
    and the pooled NSE computed with a bootstrap interval over profiles (68 %).
    """),
    code("""
    pd.DataFrame({m.upper(): r["heldout"] for m, r in analyses["models"].items()}).T
    """),
    code("""
    pd.DataFrame({m.upper(): {"sites calibrated": r["sites"]["n"], "kept": r["sites"]["kept"],
                              "median site NSE": r["sites"]["median_nse"],
                              "global SOC 0-1 m customary [Pg C]": r["total_PgC_customary"],
                              "global SOC 0-1 m PRODA [Pg C]": r["total_PgC_proda"]}
                  for m, r in analyses["models"].items()}).round(2)
    """),
    md("""
    ## 5. System-level components

    To see *why* the models differ, each is reduced to the same few components (paper
    Eq. 10–14), computed per grid cell from the PRODA parameters and pools:
    carbon transfer efficiency (`cte`), baseline decomposition (`k`), environmental modifier
    (`xi`), vertical transport (`v`), input allocation (`b`) and carbon input. They are in
    `analyses_components.nc`; their between-model correlations in `analyses.json`.
    """),
    code("""
    comp = xr.load_dataset(OUT / "analyses_components.nc")
    keys = ["cte", "k", "xi", "v", "b", "carbon_input"]
    print("between-model correlation:", {k: round(v, 2)
                                         for k, v in analyses["component_correlation"].items()})
    fig, axes = plt.subplots(2, 3, figsize=(11, 6.5), constrained_layout=True)
    for ax, k in zip(axes.ravel(), keys, strict=True):
        ax.scatter(comp[f"clm5_{k}"].values.ravel(), comp[f"compas_{k}"].values.ravel(), s=5)
        ax.set(xlabel=f"CLM5 {k}", ylabel=f"COMPAS {k}",
               title=f"r = {analyses['component_correlation'][k]:.2f}")
    """),
    code("""
    # e.g. the environmental modifier of both models on the map
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.2), constrained_layout=True)
    for ax, m in zip(axes, cfg["models"], strict=True):
        comp[f"{m}_xi"].plot(ax=ax, cbar_kwargs={"label": "Xi [-]"})
        ax.set_title(f"{m.upper()} environmental modifier")
    """),
    md("""
    ## The report

    `report.md` collects the headline numbers, the truth recovery (the virtual world knows the
    true parameters) and links to the figures in `figures/`.
    """),
    code("""
    from IPython.display import Markdown

    text = (OUT / "report.md").read_text()
    Markdown(text.split("## Figures")[0])
    """),
]

# ----------------------------------------------------------------------------------------
# 04: method comparison
# ----------------------------------------------------------------------------------------
NOTEBOOKS["04_method_comparison.ipynb"] = [
    md("""
    # 04 · AM vs NUTS vs PRODA's original sampler

    `inference.compare_methods` calibrates the **same sites** with several samplers (same
    likelihood, same seed) through `run_sites` and returns one table:

    * **cost per effective sample**: sampling seconds (compilation excluded) and model
      evaluations per effective sample (ESS = the smallest bulk ESS over parameters);
    * **convergence**: max R-hat per site, acceptance rate, divergences, share of sites
      passing the screening;
    * **agreement**: posterior means compared with a reference sampler (NUTS) as
      `z = (mean − mean_ref) / sd_ref` per parameter.

    The samplers:

    * `am`: adaptive Metropolis (Haario et al. 2001), adaptation frozen after warm-up: a
      valid MCMC;
    * `nuts`: NumPyro's No-U-Turn sampler, gradients through the steady-state solve;
    * `proda_compat`: PRODA's original sampler, for replication only: annealed acceptance
      `exp(−ΔJ ln(n+2))` and never-ending adaptation, **not a valid MCMC**.
    """),
    params("""
    if SMALL:   # a 20-degree world, very short chains: shows the workflow, not the verdict
        RESOLUTION, N_PROFILES, N_SITES = 20.0, 24, 24
        N_CHAINS, N_DRAWS = 2, 50
        AM = dict(num_warmup=300, num_samples=300, adapt_start=75)
        NUTS = dict(num_warmup=60, num_samples=60, max_tree_depth=5)
        PRODA = dict(num_test=200, num_formal=400, burn_in=0.25, adapt_start=100)
        OUT = Path(tempfile.mkdtemp(prefix="socmc_04_"))
    else:       # 20 sites, the paper's budgets for AM-type samplers (hours on 2 cores)
        RESOLUTION, N_PROFILES, N_SITES = 4.0, 240, 20
        N_CHAINS, N_DRAWS = 3, 1_000
        AM = dict(num_warmup=35_000, num_samples=35_000)
        NUTS = dict(num_warmup=1_000, num_samples=1_000, max_tree_depth=8)
        PRODA = dict(num_test=20_000, num_formal=50_000)
        OUT = Path("_out") / "04_method_comparison"
    MODEL, SEED = "clm5", 0
    """),
    code("""
    %matplotlib inline
    import matplotlib.pyplot as plt
    import numpy as np

    import socmodels
    from inference import AMConfig, NUTSConfig, compare_methods, proda_compat
    from socmodels.data import virtual_world
    """),
    md("""
    ## Sites

    Virtual-world profiles, each with its forcing (see `02_many_sites.ipynb`).
    """),
    code("""
    world = virtual_world(seed=SEED, resolution=RESOLUTION, n_profiles=N_PROFILES,
                          out_dir=OUT / "world")
    profiles = world.profiles.isel(profile=slice(0, N_SITES))
    forcing = world.forcing[:N_SITES]
    print(f"{profiles.sizes['profile']} sites:", profiles["profile_id"].values)
    """),
    md("""
    ## Run the three samplers

    Each sampler runs in `<output_dir>/<sampler name>` with `run_sites` (so each comparison is
    itself resumable). Extra keyword arguments go to `run_sites`.
    """),
    code("""
    samplers = [AMConfig(**AM), NUTSConfig(**NUTS), proda_compat(**PRODA)]
    for s in samplers:
        print(f"{s.name:13s} warm-up {s.num_warmup:6d}, kept {s.num_samples:6d} iterations"
              " per chain")

    cmp = compare_methods(profiles, forcing, MODEL, samplers, output_dir=OUT,
                          reference="nuts", num_chains=N_CHAINS, num_draws=N_DRAWS, seed=SEED,
                          progress=not SMALL)
    cmp
    """),
    md("""
    ## The comparison table

    Medians over sites. `seconds_per_ess` is the sampling wall time per effective sample
    (all chains of a site; compilation excluded); `evals_per_ess` counts model evaluations
    (AM: one per iteration; NUTS: one per leapfrog step, each also needing a gradient, so its
    real cost is higher by the gradient/forward ratio).
    """),
    code("""
    per_sampler = [v for v in cmp.data_vars if v.startswith("median_")] + ["fraction_kept"]
    cmp[per_sampler].to_dataframe().T.round(3)
    """),
    code("""
    names = [str(m) for m in cmp["sampler"].values]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
    panels = (("seconds_per_ess", "seconds per effective sample", True),
              ("evals_per_ess", "model evaluations per ESS", True),
              ("max_r_hat", "max R-hat over parameters", False))
    for ax, (var, label, log) in zip(axes, panels, strict=True):
        for k, m in enumerate(names):
            v = cmp[var].sel(sampler=m).values
            ax.scatter(np.full(v.size, k) + np.linspace(-0.1, 0.1, v.size), v, s=18)
        ax.set_xticks(range(len(names)), names)
        ax.set_ylabel(label)
        if log:
            ax.set_yscale("log")
    axes[2].axhline(1.05, color="tab:red", ls="--", lw=1, label="R-hat 1.05")
    axes[2].legend(fontsize=8)
    fig.suptitle("one point per site");
    """),
    md("""
    ## Do the samplers agree?

    Posterior means of every parameter at every site in the unit cube, against the reference
    (NUTS), and the standardised differences `z`. With converged chains `|z|` is mostly
    below 2; the annealed acceptance of `proda_compat` concentrates its draws, so its means
    can move and its spreads shrink.
    """),
    code("""
    P = socmodels.get_model(MODEL).PARAMETERS
    unit = {m: np.asarray(P.to_unit(cmp["mean"].sel(sampler=m).values)) for m in names}

    others = [m for m in names if m != "nuts"]
    fig, axes = plt.subplots(1, len(others) + 1, figsize=(13, 3.8), constrained_layout=True)
    for ax, m in zip(axes, others, strict=False):  # the last panel is the histogram
        ax.scatter(unit["nuts"].ravel(), unit[m].ravel(), s=8, alpha=0.6)
        ax.plot([0, 1], [0, 1], "k-", lw=0.5)
        ax.set(xlabel="NUTS posterior mean (unit cube)", ylabel=f"{m} posterior mean",
               title=f"{m} vs NUTS", xlim=(0, 1), ylim=(0, 1))
    bins = np.linspace(-6, 6, 25)
    for m in others:
        z = cmp["z_vs_reference"].sel(sampler=m).values.ravel()
        axes[-1].hist(np.clip(z, -6, 6), bins=bins, histtype="step", lw=1.5, label=m)
    axes[-1].set(xlabel="z = (mean - mean_NUTS) / sd_NUTS", ylabel="site x parameter")
    axes[-1].legend(fontsize=8);
    """),
    code("""
    # posterior sd relative to NUTS: < 1 means the sampler is over-confident (or stuck)
    sd = {m: cmp["sd"].sel(sampler=m).values for m in names}
    {str(m): round(float(np.nanmedian(sd[m] / sd["nuts"])), 2) for m in names}
    """),
    md("""
    ## Reading the result

    With realistic budgets, NUTS needs far fewer iterations per effective sample, but each
    costs many gradient evaluations; AM's iterations are cheap and, batched over thousands of
    sites and chains (`run_sites`), often win on wall time per effective sample. PRODA's
    original sampler is not a valid MCMC: its apparent convergence (R-hat) does not mean it
    samples the posterior. See `docs/differences.md` for the details.
    """),
]

# ----------------------------------------------------------------------------------------
# 05: bring your own data
# ----------------------------------------------------------------------------------------
NOTEBOOKS["05_bring_your_own_data.ipynb"] = [
    md("""
    # 05 · Bring your own data: WoSIS profiles, CESM2/CLM5 history files, covariates

    Real applications start from files: a **WoSIS** download (soil profiles), monthly
    **CLM5 history files** of a CESM2 run (the forcing), and a grid of **covariates**.
    `socmodels.data` has one validated reader per kind; every row dropped is counted in a
    screening report, and a problem row is excluded and listed with its file, line and
    column (or, with `on_error="raise"`, raises a `DataError` naming them).

    To run anywhere, this notebook lets the **virtual world** play the role of your download:
    `virtual_world(out_dir=...)` writes WoSIS-layout tables, a CLM5-history-like NetCDF and a
    covariate NetCDF. We then read them back with the public readers exactly as you would read
    your own files, build forcings at the profile locations, run CLM5 there, and finally show
    the simple **one-table CSV** format for profiles that are not in WoSIS.
    """),
    params("""
    if SMALL:
        RESOLUTION, N_PROFILES = 20.0, 24
        DATA = Path(tempfile.mkdtemp(prefix="socmc_05_"))
    else:       # the default world: 2-degree grid, 240 profiles
        RESOLUTION, N_PROFILES = 2.0, 240
        DATA = Path("_out") / "05_data"
    SEED = 0
    """),
    code("""
    %matplotlib inline
    import jax
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    import socmodels
    from socmodels import clm5, observe
    from socmodels.data import (
        DataError,
        covariates_at_sites,
        forcing_at_sites,
        read_clm5_history,
        read_covariates,
        read_profiles_csv,
        read_wosis,
        screening_report,
        virtual_world,
    )
    """),
    md("""
    ## 0. "Download" the data

    In real life: unzip `WoSIS_2019_September.zip` from ISRIC into a folder and point at your
    CESM2 run's `lnd/hist/` folder. Here the virtual world writes the same kinds of files.
    """),
    code("""
    world = virtual_world(seed=SEED, resolution=RESOLUTION, n_profiles=N_PROFILES, out_dir=DATA)
    for path in sorted(DATA.rglob("*")):
        if path.is_file():
            print(f"{str(path.relative_to(DATA)):45s} {path.stat().st_size / 1e3:9.1f} kB")
    """),
    code("""
    # what the WoSIS 2019 snapshot tables look like (only the needed columns are read)
    wosis = DATA / "wosis_2019"
    pd.read_csv(wosis / "wosis_201909_layers_chemical.tsv", sep="\\t", nrows=4).iloc[:, :12]
    """),
    md("""
    ## 1. Soil profiles from WoSIS

    `read_wosis(folder)` recognises the layout from file names and headers (2019 snapshot,
    web-service CSV export or 2023 snapshot), joins carbon, bulk density and coarse fragments,
    fills missing bulk density with the paper's pedotransfer function, converts to SOC density
    (gC m⁻³) and applies the paper's screening (≥ 3 layers, deeper than 50 cm, no litter
    layers, ...).
    """),
    code("""
    profiles = read_wosis(wosis)
    profiles
    """),
    code("""
    # Nothing is dropped silently: every layer and profile read is kept or counted once
    report = screening_report(profiles)
    print(report)
    """),
    code("""
    # which file played which role, as detected (layout, encoding, delimiter, line ending);
    # report.issues_frame() lists every excluded row or value by file, line and column
    pd.DataFrame(report.files)[["path", "role", "layout", "encoding", "delimiter", "records"]]
    """),
    code("""
    # options: e.g. keep only openly licensed data, or relax the paper's depth rule
    open_only = read_wosis(wosis, licences=["CC-BY"])
    shallow_ok = read_wosis(wosis, min_max_depth_cm=30)
    print(f"all licences: {profiles.sizes['profile']} profiles; CC-BY only:"
          f" {open_only.sizes['profile']}; deepest layer below 30 cm (not 50):"
          f" {shallow_ok.sizes['profile']}")
    """),
    md("""
    ## 2. Forcing from CLM5 history files

    `read_clm5_history` opens monthly `h0` files (a path, glob, folder or list), keeps the
    model years you ask for (`years=(661, 680)` for the paper's spin-up) and returns the
    12-month climatology on the land cells. It needs `TSOI`, `W_SCALAR`, `O_SCALAR`, `FPI_vr`,
    `ALTMAX`, `ALTMAX_LASTYEAR`, `CELLSAND` and the four `*_INPUT_ACC_VECTOR` fields
    (`docs/data.md` lists the `hist_fincl1` line). The attributes record how months were
    assigned and how the input accumulators were interpreted.
    """),
    code("""
    clim = read_clm5_history(DATA / "virtual_world.clm2.h0.0001.nc")
    print({k: clim.attrs[k] for k in ("month_assignment", "input_units") if k in clim.attrs})
    clim
    """),
    code("""
    # the nearest land cell of every profile (great-circle distance reported);
    # max_distance_km turns a site in the sea or with swapped coordinates into an error
    sites = forcing_at_sites(clim, profiles["lat"].values, profiles["lon"].values,
                             max_distance_km=1_500)
    forcing = sites.forcing                      # a batched Forcing, one row per profile
    pd.DataFrame({"profile_id": profiles["profile_id"].values,
                  "lat": profiles["lat"].values, "lon": profiles["lon"].values,
                  "cell_lat": sites.cell_lat, "cell_lon": sites.cell_lon,
                  "distance_km": sites.distance_km.round(1),
                  "topsoil_T_C": (forcing.tsoi[:, :, 0].mean(axis=1) - 273.15).round(1),
                  "input_gC_m2_yr": np.asarray(forcing.total_input).round(0)}).head(8)
    """),
    md("""
    ## 3. Covariates for the network

    A covariate grid is an `xarray.Dataset` on `(lat, lon)`, one variable per covariate (the
    paper's 60 are in `socmodels.data.COVARIATES`). `covariates_at_sites` gives the
    site × covariate table that PRODA's network is trained on.
    """),
    code("""
    grid = read_covariates(DATA / "covariates.nc")
    site_cov = covariates_at_sites(grid, profiles["lat"].values, profiles["lon"].values,
                                   index=profiles["profile_id"].values)
    print(f"{len(grid.data_vars)} grid variables; site table {site_cov.table.shape}")
    show = ["Lat", "Lon", "BIO1", "BIO12", "Clay_Content_0cm", "Sand_Content_0cm", "cesm2_npp"]
    site_cov.table[show].head()
    """),
    md("""
    ## 4. Run a model at the profile locations

    CLM5 with its customary parameters (the CLM5 defaults, which lie partly outside the
    calibration prior, hence `check_bounds=False`) at every profile, one `vmap` over sites,
    interpolated to the observed layer mid-points with `observe`. To calibrate these profiles
    instead, pass the same `profiles` and `forcing` to `inference.run_sites`
    (`02_many_sites.ipynb`).
    """),
    code("""
    theta = clm5.customary_theta(forcing)                  # (n_sites, 21), sand-dependent
    run = jax.jit(jax.vmap(lambda th, f: clm5.steady_state(th, f, check_bounds=False)))
    ss = run(theta, forcing)
    depth = profiles["node_depth"].values                  # (n_sites, n_layers), NaN padded
    model_at_obs = np.asarray(jax.vmap(observe)(ss.soc, np.nan_to_num(depth, nan=0.0)))
    mask = profiles["layer_mask"].values
    obs = profiles["soc_density"].values

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    axes[0].loglog(obs[mask] / 1e3, model_at_obs[mask] / 1e3, "o", ms=4, alpha=0.6)
    lim = [obs[mask].min() / 2e3, obs[mask].max() * 2e-3]
    axes[0].plot(lim, lim, "k-", lw=0.5)
    axes[0].set(xlabel="observed SOC [kgC m$^{-3}$]", ylabel="CLM5 customary [kgC m$^{-3}$]",
                title="all layers of all profiles")
    for i in range(min(4, len(obs))):
        m = mask[i]
        axes[1].plot(obs[i, m] / 1e3, depth[i, m], "o", color=f"C{i}")
        axes[1].plot(np.asarray(ss.soc[i]) / 1e3, socmodels.layers.zsoi, "-", color=f"C{i}",
                     label=f"profile {profiles['profile_id'].values[i]}")
    axes[1].set(ylim=(2, 0), xlabel="SOC [kgC m$^{-3}$]", ylabel="depth [m]",
                title="profiles (dots) and CLM5 (lines)")
    axes[1].legend(fontsize=7);
    """),
    md("""
    ## 5. Your own profiles as one CSV table

    Profiles that are not in WoSIS (e.g. the permafrost profiles the paper added) go in a
    table with **one row per layer**, read by `read_profiles_csv`. Columns are found by name
    (case-insensitive, with aliases): `profile_id`, `lat`, `lon`, `top`, `bottom` (cm by
    default, `depth_unit="m"` otherwise), organic carbon `soc` (g kg⁻¹, or a unit in the
    header such as `soc [%]`), and optionally `bulk_density` (kg dm⁻³), `coarse_fragments`
    (%), `clay`/`sand`/`silt`, `licence`, `litter`. Comma, tab or semicolon separated; UTF-8,
    Windows-1252 or Latin-1.
    """),
    code("""
    my_csv = DATA / "my_profiles.csv"
    pd.DataFrame({
        "profile_id": ["P1"] * 4 + ["P2"] * 4 + ["P3"] * 2,
        "lat": [68.3] * 4 + [45.1] * 4 + [10.0] * 2,
        "lon": [18.8] * 4 + [7.6] * 4 + [-84.0] * 2,
        "top": [0, 10, 30, 60, 0, 15, 40, 70, 0, 20],
        "bottom": [10, 30, 60, 100, 15, 40, 70, 110, 20, 40],
        "soc [%]": [12.0, 4.1, 1.8, 0.9, 3.2, 1.5, 0.8, 0.4, 2.0, 1.0],
        "bulk_density": [0.6, 1.0, np.nan, 1.4, 1.1, 1.3, 1.45, np.nan, 1.2, 1.3],
        "litter": [0] * 10,
    }).to_csv(my_csv, index=False)
    print(my_csv.read_text())
    """),
    code("""
    mine = read_profiles_csv(my_csv)        # P3 has 2 layers only (paper: at least 3)
    print(screening_report(mine))
    mine[["soc_content", "bulk_density", "bd_estimated", "soc_density"]].to_dataframe().dropna()
    """),
    code("""
    # forcing for your profiles: from the same history file (or climate_forcing(...))
    mine_forcing = forcing_at_sites(clim, mine["lat"].values, mine["lon"].values).forcing
    print(f"{mine.sizes['profile']} profiles, forcing batch {mine_forcing.batch_shape}")
    """),
    md("""
    Malformed values are never numbers that silently propagate: by default the row is
    excluded and listed in the report (file, line, column) with one warning; in strict mode
    (`on_error="raise"`) it is an error that says where and why. For example a bulk density
    given in kg m⁻³ instead of kg dm⁻³:
    """),
    code("""
    bad = pd.read_csv(my_csv)
    bad.loc[1, "bulk_density"] = 1000.0
    bad.to_csv(DATA / "bad_profiles.csv", index=False)
    try:
        read_profiles_csv(DATA / "bad_profiles.csv", on_error="raise")
    except DataError as err:
        print(err)
    """),
    md("""
    ## 6. The whole pipeline on your own files

    `socmc run my_run.yaml` runs every PRODA stage (calibration, network, maps, analyses,
    report) on your data when the config's `data` section points at your profiles and at a
    climate source: a WoSIS folder (`source: wosis`) or a one-table CSV (`source: csv`), and
    a gridded climate table (`climate: {kind: table, ...}`), CESM2/CLM5 history files
    (`kind: cesm`) or one climate row per profile (`kind: sites`), optionally covariates (a
    grid NetCDF or a per-site table). `docs/data.md` §6 has a complete config. The schema
    (`surrogate.config.validate_config`, run by `socmc run` before any work) checks the keys
    and files; the data stage is `surrogate.sources.user_world`. Here they read the files
    written above.
    """),
    code("""
    import yaml

    from surrogate.config import validate_config
    from surrogate.sources import user_world

    config = yaml.safe_load(f\"\"\"
    data:
      source: wosis
      path: {DATA / "wosis_2019"}
      reader: {{on_error: drop}}
      climate:
        kind: cesm
        path: {DATA / "virtual_world.clm2.h0.*.nc"}
        max_distance_km: 1500
      covariates: {DATA / "covariates.nc"}
    \"\"\")
    config = validate_config(config)   # what socmc run does first (one-line errors)
    mine_world = user_world(config["data"], DATA / "my_run", seed=SEED)
    info = mine_world.info
    print(f"{info['n_profiles_kept']} profiles, {len(info['covariates'])} covariates,"
          f" {info['n_map_cells']} map cells; nearest climate cell at most"
          f" {info['climate_distance_km_max']:.0f} km away")
    print("notes:", *info["notes"], sep="\\n  ")
    """),
    md("""
    Without a covariate grid the network sees only what the climate gives (`Lon`, `Lat` and,
    for a climate table, `BIO1`, `BIO4`, `BIO12` and NPP). Scattered climate points, a
    `kind: sites` table or a per-site covariate table give no map grid (`grid is None`): the
    pipeline then skips the maps and analyses and says so in the report. The same CSV
    profiles as above with a climate table:
    """),
    code("""
    lat_c, lon_c = np.meshgrid(np.arange(-60.0, 81.0, 5.0), np.arange(-180.0, 180.0, 5.0),
                               indexing="ij")
    pd.DataFrame({"lat": lat_c.ravel(), "lon": lon_c.ravel(),
                  "mat": 28.0 - 0.45 * np.abs(lat_c.ravel()),
                  "map": 400.0 + 1200.0 * np.cos(np.radians(lat_c.ravel())) ** 2,
                  "mat_amplitude": 1.0 + 0.25 * np.abs(lat_c.ravel())}
                 ).to_csv(DATA / "my_climate.csv", index=False)
    csv_world = user_world({"source": "csv", "path": str(my_csv),
                            "climate": {"kind": "table", "path": str(DATA / "my_climate.csv")}},
                           DATA / "my_csv_run", seed=SEED)
    csv_world.covariates.round(1)
    """),
]


# ----------------------------------------------------------------------------------------

def build(name: str, cells: list) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):   # stable ids: clean diffs when regenerated
        cell["id"] = f"{name[:2]}-{i:02d}"
    nbformat.validate(nb)
    return nb


def main(argv: list[str]) -> int:
    wanted = argv or list(NOTEBOOKS)
    for name in wanted:
        nbformat.write(build(name, NOTEBOOKS[name]), HERE / name)
        print("wrote", HERE / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

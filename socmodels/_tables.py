"""Parameter tables of CLM5 and COMPAS (re-exported as ``clm5.PARAMETERS``, ``compas.PARAMETERS``).

Order, names and bounds follow the authors' code (``docs/original_code.md`` §2.2, §3.2) so that
position ``i`` means ``kp(i+1)``. Components follow §8 of the reference.
"""

from socmodels.parameters import Parameter as P
from socmodels.parameters import ParameterTable

CLM5_PARAMETERS = ParameterTable("CLM5", [
    P("diffus", 3e-5, 5e-4, 1e-4, "m2 yr-1", "bioturbation diffusivity", "V",
      "CTSM som_diffus"),
    P("cryo", 3e-5, 1.6e-3, 5e-4, "m2 yr-1", "cryoturbation diffusivity", "V",
      "CTSM cryoturb_diffusion_k"),
    P("q10", 1.2, 3.0, 1.5, "1", "Q10 of decomposition (frozen Q10 = Q10)", "Xi", "CTSM q10_hr"),
    P("efolding", 0.0, 1.0, 10.0, "m", "e-folding depth of the decomposition depth scalar", "Xi",
      "CLM5 tech note (outside the prior box)"),
    P("taucwd", 1.0, 6.0, 4.1, "yr", "CWD turnover time", "K", "CLM5 tech note"),
    P("taul1", 0.0, 0.11, 0.066, "yr", "metabolic litter (L1) turnover time", "K",
      "CLM5 tech note"),
    P("taul2", 0.1, 0.3, 0.25, "yr", "cellulose and lignin litter (L2 = L3) turnover time", "K",
      "CLM5 tech note"),
    P("tau4s1", 0.0, 1.0, 0.17, "yr", "fast SOC (S1) turnover time", "K", "CLM5 tech note"),
    P("tau4s2", 1.0, 50.0, 6.1, "yr", "slow SOC (S2) turnover time", "K", "CLM5 tech note"),
    P("tau4s3", 200.0, 1000.0, 270.0, "yr", "passive SOC (S3) turnover time", "K",
      "CLM5 tech note"),
    P("fl1s1", 0.1, 0.8, 0.45, "1", "transfer fraction L1 -> S1", "A", "1 - rf_l1s1 (0.55)"),
    P("fl2s1", 0.2, 0.8, 0.5, "1", "transfer fraction L2 -> S1", "A", "1 - rf_l2s1 (0.5)"),
    P("fl3s2", 0.2, 0.8, 0.5, "1", "transfer fraction L3 -> S2", "A", "1 - rf_l3s2 (0.5)"),
    P("fs1s2", 0.0, 0.4, 0.486, "1", "transfer fraction S1 -> S2", "A",
      "CLM5 texture rule at 50 % sand (outside the prior box below ~62.6 % sand);"
      " clm5.customary_theta(forcing) uses the site's sand"),
    P("fs1s3", 0.0, 0.05, 0.004, "1", "transfer fraction S1 -> S3", "A", "CLM5 texture rule"),
    P("fs2s1", 0.1, 0.74, 0.42, "1", "transfer fraction S2 -> S1", "A", "CTSM 0.42/0.45 (1-0.55)"),
    P("fs2s3", 0.0, 0.1, 0.03, "1", "transfer fraction S2 -> S3", "A", "CTSM 0.03/0.45 (1-0.55)"),
    P("fs3s1", 0.0, 0.9, 0.45, "1", "transfer fraction S3 -> S1", "A", "1 - rf_s3s1 (0.55)"),
    P("fcwdl2", 0.5, 1.0, 0.76, "1", "CWD -> L2 fraction (CWD -> L3 = 1 - fcwdl2)", "A",
      "1 - cwd_flig (0.24)"),
    P("w_scaling", 0.0, 5.0, 1.0, "1", "multiplier on W_SCALAR (capped at 1)", "Xi",
      "none in CLM5 (W_SCALAR unscaled)"),
    P("beta", 0.5, 0.9999, 0.95, "1 (per cm)", "input-profile shape (Jackson beta)", "I",
      "code comment"),
])

COMPAS_PARAMETERS = ParameterTable("COMPAS", [
    P("bio", 3e-5, 5e-4, 1e-4, "m2 yr-1", "bioturbation diffusivity (litter pools)", "V",
      "code comment"),
    P("cryo", 3e-5, 1.6e-3, 5e-4, "m2 yr-1", "cryoturbation diffusivity (litter pools)", "V",
      "code comment"),
    P("q10", 1.2, 3.0, 1.5, "1", "Q10 of decomposition", "Xi", "code comment"),
    P("w_scaling", 0.0, 5.0, 1.0, "1", "multiplier on W_SCALAR (capped at 1)", "Xi",
      "code comment"),
    P("tau4cwd", 1.0, 6.0, 3.3333, "yr", "CWD turnover time", "K", "code comment"),
    P("tau4l1", 0.0, 0.1, 0.0541, "yr", "metabolic litter (L1) turnover time", "K",
      "code comment"),
    P("tau4l2", 0.1, 0.3, 0.2041, "yr", "cellulose and lignin litter (L2 = L3) turnover time",
      "K", "code comment"),
    P("tau4s1", 0.001, 0.03, 0.011, "yr", "DOC: 1 / maximum specific uptake rate by MIC", "A",
      "code comment"),
    P("tau4s2_death", 0.0, 2.0, 0.57, "yr", "microbial death turnover time", "K",
      "code comment"),
    P("tau4s2_enz", 15.0, 30.0, 22.0, "yr", "microbial enzyme-production turnover time", "K",
      "code comment"),
    P("tau4s3", 0.001, 1.0, 0.11, "yr", "enzyme turnover time (its own parameter here;"
      " the original derives it from mm_const_assim as 10^(3 kp13 - 3), Q1)", "K",
      "code comment", scale="log"),
    P("tau4s4", 0.0, 3e-4, 7.8e-5, "yr", "SOC: 1 / maximum specific decomposition rate per unit"
      " enzyme", "K", "middle of the code comment's 4.6e-5 - 1.1e-4"),
    P("mm_const_assim", 300.0, 3000.0, 400.0, "gC m-3", "Michaelis constant of DOC uptake (Ka)",
      "A", "code comment"),
    P("mm_const_decom", 1e5, 1e6, 3.25e5, "gC m-3", "Michaelis constant of SOC decomposition"
      " (Kd)", "K", "middle of the code comment's 5e4 - 6e5"),
    P("fcwdl2", 0.5, 1.0, 0.75, "1", "CWD -> L2 fraction (CWD -> L3 = 1 - fcwdl2)", "E",
      "code comment"),
    P("pl1s1", 0.0, 0.1, 0.05, "1", "fraction of L1 decomposition going to DOC", "E",
      "prior midpoint (no customary value)"),
    P("pl2s1", 0.05, 0.3, 0.175, "1", "fraction of L2 decomposition going to DOC", "E",
      "prior midpoint (no customary value)"),
    P("pl3s4", 0.6, 0.95, 0.775, "1", "fraction of L3 decomposition going to mineral SOC", "E",
      "prior midpoint (no customary value)"),
    P("l1_cue", 0.4, 0.9, 0.45, "1", "carbon-use efficiency of the L1 -> MIC path", "A",
      "code comment"),
    P("l2l3_cue", 0.0, 0.4, 0.2, "1", "carbon-use efficiency of the L2 -> MIC and L3 -> MIC"
      " paths", "A", "prior midpoint (no customary value)"),
    P("mic_cue", 0.01, 0.7, 0.355, "1", "microbial carbon-use efficiency of DOC uptake", "A",
      "prior midpoint (no customary value)"),
    P("pdeath2soc", 0.0, 1.0, 0.5, "1", "fraction of dead microbial C going to mineral SOC"
      " (rest to DOC)", "E", "code comment"),
    P("beta", 0.5, 0.9999, 0.95, "1 (per cm)", "input-profile shape (Jackson beta)", "I",
      "code comment"),
])

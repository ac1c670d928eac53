"""Response criteria on lesion-level observations over time.

* :mod:`.observations` — what is observed of a target lesion at a timepoint,
  and which lesions a criterion may use (measurability, maximum per organ/total);
* :mod:`.recist` — RECIST 1.1: the categories from sums of diameters, and from
  lesion observations;
* :mod:`.volumetric`, :mod:`.choi`, :mod:`.percist` — the other criteria;
* :mod:`.best_response` — best overall response and time to progression.

Every function is pure: observations in, categories out; the pipeline only
collects the observations.
"""

"""Response criteria on lesion-level observations over time.

* :mod:`.targets` — what is observed of a target lesion at a timepoint, and
  which lesions a criterion may use (measurability, maximum per organ/total);
* :mod:`.recist` — RECIST 1.1 from lesion observations (the category rules
  from sums live in :mod:`measurement.response`);
* :mod:`.volumetric`, :mod:`.choi`, :mod:`.percist` — the other criteria;
* :mod:`.best_response` — best overall response and time to progression.

Every function is pure: observations in, categories out; the pipeline only
collects the observations.
"""

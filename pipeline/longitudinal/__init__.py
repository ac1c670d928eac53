"""One patient over time: the run orchestration, registration, tracking, lesion work and response assessment.

* :mod:`.run` — the stage chain of ``run`` (baseline, each follow-up, assessment, outputs);
* :mod:`.register`, :mod:`.tracking` — follow-up to baseline, and where each target is looked for;
* :mod:`.lesions` — seeds to segmentations to measurements, per timepoint;
* :mod:`.pet_reference` — the PERCIST reference region of a timepoint;
* :mod:`.autodetect` — automatic mode (targets chosen among detected lesions);
* :mod:`.assess` — every response criterion from the lesion records.
"""

"""Human-readable reports of the pipeline's outputs: ``report.html`` per patient, a cohort report per batch.

Both are pure functions of files already written (CSV, ``run.json``, QC
images), so they can be regenerated from an output folder; every image is
embedded as a data URI, so a report is one self-contained file that fetches
nothing.
"""

from pipeline.outputs.report.cohort import write_cohort_report
from pipeline.outputs.report.patient import write_patient_report

__all__ = ["write_cohort_report", "write_patient_report"]

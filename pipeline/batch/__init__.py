"""Batch processing: one study per sub-folder, isolated worker processes or a Dask cluster, resume, cohort outputs."""

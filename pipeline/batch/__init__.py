"""Batch processing: one study per sub-folder, isolated worker processes or a Dask cluster, resume, cohort outputs;
:mod:`.sort_export` makes such sub-folders (one per patient) from a mixed PACS export."""

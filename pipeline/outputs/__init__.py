"""What a run writes: tables, the staging folder, the summary, QC images, DICOM SEG and SR, the reports."""

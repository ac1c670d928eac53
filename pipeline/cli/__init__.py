"""The ``lesion-pipeline`` command line (:func:`pipeline.cli.main.main`)."""

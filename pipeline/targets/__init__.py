"""Target lesions given by the user: the ``targets.json`` file and the reader's annotations in it."""

"""Target lesions given by the user: the ``targets.json`` file and the reader's annotations in it
(:mod:`.json_file`, :mod:`.annotations`), and regions drawn as DICOM RTSTRUCT contours (:mod:`.rtstruct`)."""

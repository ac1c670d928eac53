"""Reading DICOM: discovery of the files, header values, pixel data, slice geometry, series choice, loading.

* :mod:`.discover` — one header-only pass over a folder into an index of instances;
* :mod:`.values` — tolerant readers of attribute values;
* :mod:`.pixels`, :mod:`.multiframe`, :mod:`.slices` — pixel data, enhanced frames, slice geometry;
* :mod:`.selection` — which CT and PET series make up each timepoint;
* :mod:`.load` — a chosen series as a SimpleITK image in physical units (HU, SUV);
* :mod:`.inspection`, :mod:`.convert` — the ``inspect`` and ``convert`` commands.
"""

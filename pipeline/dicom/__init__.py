"""Reading DICOM: discovery of the files, header values, pixel data, slice geometry, series choice, loading.

* :mod:`.discover` — one header-only pass over a folder into an index of instances;
* :mod:`.instance` — one image slice's header as the pipeline uses it, read from one file;
* :mod:`.derived_uids` — deterministic UIDs for images whose UIDs are empty;
* :mod:`.values` — readers of attribute values, as lenient as pydicom, noting what they repaired;
* :mod:`.series_kind` — which series can be measured (ORIGINAL, DERIVED axial reformats) and why not;
* :mod:`.pixels`, :mod:`.multiframe`, :mod:`.slices` — pixel data, enhanced frames, slice geometry;
* :mod:`.selection` — which CT and PET series make up each timepoint;
* :mod:`.load` — a chosen series as a SimpleITK image in physical units (HU, SUV);
* :mod:`.inspection`, :mod:`.convert` — the ``inspect`` and ``convert`` commands.
"""

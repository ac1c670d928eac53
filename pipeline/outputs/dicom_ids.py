"""Identity of the DICOM objects the pipeline writes: deterministic UIDs and the producing device.

UIDs are derived (pydicom ``generate_uid`` with entropy sources, a SHA-512
hash under pydicom's UID root) from what the object is about, so the same
inputs give the same UIDs run after run, and different content gives
different UIDs:

* the Tracking UID of a lesion from the baseline StudyInstanceUID and the
  lesion id: one lesion keeps one Tracking UID across all timepoints (and in
  both the SEG segment and the SR measurement group);
* SOP Instance and Series UIDs from the source series UID, the object kind
  and a digest of the object's content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from pydicom.uid import generate_uid

from pipeline import __version__

MANUFACTURER = "lesion-pipeline"
MODEL_NAME = "lesion-pipeline"
SOFTWARE_VERSION = __version__
DEVICE_SERIAL_NUMBER = "none"
SEG_SERIES_NUMBER = 901
SR_SERIES_NUMBER = 902


def derived_uid(*parts: str) -> str:
    """A UID that depends only on ``parts`` (and is a valid UID of at most 64 characters)."""
    return str(generate_uid(entropy_srcs=["lesion-pipeline", *parts]))


def tracking_uid(baseline_study_uid: str, lesion_id: str) -> str:
    """The Tracking UID of one target lesion of one patient, the same at every timepoint."""
    return derived_uid("tracking", baseline_study_uid, lesion_id)


def content_digest(chunks: Iterable[bytes | str]) -> str:
    """SHA-256 hex digest of the concatenated chunks (text encoded as UTF-8)."""
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
    return h.hexdigest()

"""lesion-pipeline: longitudinal measurement of target liver lesions from CT and PET/CT DICOM."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lesion-pipeline")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

"""Exceptions of the pipeline.

Every exception type of the project lives here. Each refines the builtin it
specialises, so callers may catch either.
:class:`InputError` and its subclasses mean *bad input*: the command line
prints their one-line message and exits with status 2.
"""


class InputError(ValueError):
    """The input (DICOM files, targets, options) cannot be processed as given."""


class DicomReadError(InputError):
    """A DICOM file or series cannot be read."""


class SeriesSelectionError(InputError):
    """No usable series (or no usable timepoint) was found."""


class GeometryError(InputError):
    """The slices of a series do not form one regular volume."""


class TargetsError(InputError):
    """The targets file is missing, malformed or inconsistent with the images."""


class RegistrationError(RuntimeError):
    """Registration failed or gave an implausible transform."""


class PixelDataProblem(ValueError):
    """The pixel data of a file cannot be what its header describes; the message says why."""


class SuvUnavailable(ValueError):
    """SUV cannot be computed from the headers; the message says why."""


class ConfigFileError(InputError):
    """The configuration file cannot be used as given."""

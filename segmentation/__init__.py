"""Lesion (and, later, liver) segmentation on ``(array_zyx, spacing_zyx)`` inputs."""

from segmentation.result import LesionSegmentation, LesionSegmenter

__all__ = ["LesionSegmentation", "LesionSegmenter"]

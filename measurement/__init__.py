"""Measurements (diameters, volumes, intensities) and response criteria."""

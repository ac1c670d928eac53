"""PET quantification: the header values SUV needs, radionuclides, SUV factors (body-size formulas: measurement.body_size)."""

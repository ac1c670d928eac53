"""PET quantification: the header values SUV needs, body-size normalisers, radionuclides, SUV factors."""

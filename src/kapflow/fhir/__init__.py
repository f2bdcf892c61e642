"""FHIR R4 at /fhir/R4 (decision 0048): read and search over the records the pages show."""

"""ehrconnect: self-hostable patient-mediated SMART on FHIR connections, Medblocks API compatible."""

__version__ = "0.1.0"

"""Connections: a patient's authorization attempts and live links to FHIR sources."""

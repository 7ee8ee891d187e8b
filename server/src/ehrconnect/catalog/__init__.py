"""The FHIR source catalog: what patients can connect to, per environment."""

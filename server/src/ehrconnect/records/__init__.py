"""Stored FHIR records: repository, the records API and the sync-run reports."""

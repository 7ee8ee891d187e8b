"""Patients: the integrating app's people, keyed by its own patient_id."""

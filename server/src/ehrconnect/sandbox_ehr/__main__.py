"""``python -m ehrconnect.sandbox_ehr``: run the sandbox EHR command line."""

from ehrconnect.sandbox_ehr.cli import app

app()

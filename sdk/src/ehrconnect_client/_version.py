"""Package version and the API version this SDK speaks by default."""

__version__ = "0.1.0"

#: The API version sent in the ``Version`` header unless the caller chooses another.
DEFAULT_API_VERSION = "2026-04-25"

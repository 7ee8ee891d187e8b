"""TrialMatched: an example app that connects its patients' health records through ehrconnect."""

__version__ = "0.1.0"

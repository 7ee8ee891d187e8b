"""Keys, tokens and PHI never reach the log output, from structlog or stdlib loggers."""

from __future__ import annotations

import logging

import pytest
import structlog
from ehrconnect.logging_setup import configure_logging

SECRET_KEY = "mb_sk_sbx_SuperSecretValue123"
ACCESS_TOKEN = "eyJhbGciOiJSUzI1NiJ9.payload.sig"


def test_stdlib_and_structlog_records_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    logging.getLogger("ehrconnect.worker").warning(
        "refresh failed with Bearer %s", ACCESS_TOKEN,
        extra={"refresh_token": "rt-123", "email": "jane@example.com", "connection_id": "conn_1"},
    )
    structlog.get_logger("ehrconnect.test").info(
        "request", authorization=f"Bearer {SECRET_KEY}", name="Jane Doe", note=f"key {SECRET_KEY}"
    )
    err = capsys.readouterr().err
    for secret in (SECRET_KEY, ACCESS_TOKEN, "rt-123", "jane@example.com", "Jane Doe"):
        assert secret not in err
    assert "conn_1" in err and "[REDACTED]" in err


def test_configuring_twice_does_not_duplicate_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    configure_logging("INFO")
    logging.getLogger("ehrconnect.worker").warning("once")
    assert capsys.readouterr().err.count("once") == 1

"""Structured logging (structlog) with a redaction processor: no keys, tokens or PHI in logs."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

#: Keys whose values are never logged, whatever their content.
SENSITIVE_KEYS = frozenset(
    {
        "authorization", "api_key", "key", "token", "access_token", "refresh_token", "id_token",
        "code", "code_verifier", "client_secret", "password", "secret", "email", "name",
        "patient_name", "patient_email", "resource", "body", "cookie", "state",
    }
)
_SECRET_PATTERNS = (
    re.compile(r"mb_sk_(live|sbx)_[A-Za-z0-9_\-]+"),
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._\-~+/=]+"),
)


def _scrub_text(value: str) -> str:
    for pattern in _SECRET_PATTERNS:
        value = pattern.sub("[REDACTED]", value)
    return value


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: drop sensitive fields, scrub key/token shapes from strings."""
    for key in list(event):
        if key.lower() in SENSITIVE_KEYS:
            event[key] = "[REDACTED]"
        elif isinstance(event[key], str):
            event[key] = _scrub_text(event[key])
    return event


_HANDLER_MARK = "_ehrconnect_handler"


def configure_logging(level: str = "INFO", json_output: bool = False) -> None:
    """structlog for our own loggers, and the same processors (redaction included) for every
    stdlib `logging` record under the `ehrconnect` logger (smart/, worker/, connections/)."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, redact, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), redact],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    package_logger = logging.getLogger("ehrconnect")
    for handler in list(package_logger.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            package_logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)
    package_logger.addHandler(handler)
    package_logger.setLevel(level.upper())


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)

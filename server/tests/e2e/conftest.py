"""Fixtures for the hosted-flow e2e tests (defined in e2e_fixtures.py so other suites can import them)."""

from e2e_fixtures import browser, page, platform, return_app

__all__ = ["browser", "page", "platform", "return_app"]

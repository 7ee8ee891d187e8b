"""Durable background jobs: rows written in the caller's transaction, claimed with leases."""

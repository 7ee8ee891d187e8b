"""Offline API docs: Swagger UI 5 served from the fastapi-offline package's static files, and the error catalogue."""

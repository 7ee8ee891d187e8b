"""Offline API docs: Swagger UI served from the swagger-ui-bundle package, and the error catalogue."""

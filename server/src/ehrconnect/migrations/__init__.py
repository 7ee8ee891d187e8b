"""Alembic migrations, shipped inside the package so `ehrconnect db upgrade` works anywhere."""

"""Patient-facing hosted Connect pages."""

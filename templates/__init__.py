"""Jinja templates, mirroring the packages (staff/, portal/, components/)."""

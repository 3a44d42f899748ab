"""Shared plumbing: settings, database, queue, security, errors and the app factory."""

"""Celery tasks for this topic."""

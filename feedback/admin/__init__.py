"""Operator pages of feedback: triage, moderation and surveys; every change goes through the feedback services."""

from feedback.admin import items, moderation, surveys  # noqa: F401  (registers the model admins)

"""Feedback REST endpoints under /api/v1/; each topic module defines its own `urlpatterns`."""

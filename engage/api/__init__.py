"""REST endpoints of the engagement app under /api/v1/."""

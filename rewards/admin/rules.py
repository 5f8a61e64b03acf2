"""Admin for this topic."""

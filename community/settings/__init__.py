"""Settings: `base` (development and default), `production` (hardened), `test`."""

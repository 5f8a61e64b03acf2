"""Portal pages of the engagement app: events, content, the operator inbox."""

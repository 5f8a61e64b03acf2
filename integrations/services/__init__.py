"""Write paths of the integrations app, one module per topic (events in, identities, webhooks out, merge)."""

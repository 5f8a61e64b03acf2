"""Analytics reads: KPIs (each defined once, with its definition in the docstring), series, retention, funnel,
experiments. Dashboards and the API read rollups through these, never the raw activity stream."""

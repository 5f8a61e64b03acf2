"""Analytics write paths: rollups, cohorts, targets, experiments, the weekly report."""

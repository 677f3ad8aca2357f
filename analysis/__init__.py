"""Analysis of a matched and balanced pool: head/tail statistics, curves, reports (pure functions)."""

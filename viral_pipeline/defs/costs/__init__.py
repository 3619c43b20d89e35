"""What predictions cost: the daily cost_report asset and its schedule."""

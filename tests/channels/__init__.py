"""Channel tests: webhooks end to end against fake platform APIs."""

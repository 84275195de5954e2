"""Model sources: built-in offline models, hub ids, local folders, and random-weight architectures."""

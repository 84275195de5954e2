"""Result records: schema, derived metrics, atomic I/O, and the terminal summary."""

"""A sweep's lifecycle, above tracking: its points composed and validated before any job
(llem.sweep.points), its start and end and the Hydra callback (llem.sweep.callback), the sweep's
bookkeeping shared with its jobs (llem.sweep.state), what each job did (llem.sweep.ledger.Outcome,
the task function's return value) and the summary read back from disk (llem.sweep.summary).
Tracking knows nothing of it: it is handed the sweep (parent run id) to log under."""

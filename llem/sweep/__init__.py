"""A sweep's lifecycle, above tracking: the Hydra callback that brackets a --multirun
(llem.sweep.callback), the sweep's bookkeeping shared with its jobs (llem.sweep.state), the ledger of
what each job did (llem.sweep.ledger) and the summary read back from disk (llem.sweep.summary).
Tracking knows nothing of it: it is handed the sweep (parent run id) to log under."""

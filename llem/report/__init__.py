"""`llem report`: compare runs from a sweep dir, an output root, a run dir or an MLflow experiment
as a terminal table, a CSV file and PNG plots (matplotlib, Agg). Missing energy stays missing:
plots say "energy not measured" instead of drawing zeros."""

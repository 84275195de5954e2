"""The machine and process a job runs in: which devices it sees (devices, visible_devices), the
environment given to engine processes (telemetry off, NVLink multicast off), signals (interrupt) and
terminal feedback (progress). Imports nothing of llem but its errors, so every layer may use it."""

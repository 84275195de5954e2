"""vLLM backend. config.py and mapping.py import nothing heavy; backend.py imports vLLM."""

"""PyTorch / transformers backend. config.py imports nothing heavy; backend.py imports the engine."""

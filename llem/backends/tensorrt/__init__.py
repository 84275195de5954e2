"""TensorRT-LLM backend. config.py and mapping.py import nothing heavy; backend.py imports TensorRT-LLM."""

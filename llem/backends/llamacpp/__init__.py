"""llama.cpp backend through llama-cpp-python. config.py imports nothing heavy; backend.py imports the engine."""

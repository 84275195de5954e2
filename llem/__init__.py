"""llem: measure what LLM inference costs in energy, time and throughput."""

__version__ = "0.1.0"

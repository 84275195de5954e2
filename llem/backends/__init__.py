"""Inference engines behind one contract (base.Backend); each engine is imported only when selected."""

"""Prompt sources and request building."""

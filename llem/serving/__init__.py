"""Server mode: an engine's OpenAI-compatible server under load (docs/server.md)."""

"""Stand-ins for the outside world (an OpenAI-compatible endpoint, a tiny benchmark) for tests and benches."""

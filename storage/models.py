"""storage models."""

"""Customer API of the storage app."""

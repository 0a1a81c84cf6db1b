"""Customer API of the billing app."""

"""Every write of the billing app; each service owns its transaction."""

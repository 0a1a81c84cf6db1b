"""Email: every message to a customer is an `Email` row written with the event, and sent by a worker."""

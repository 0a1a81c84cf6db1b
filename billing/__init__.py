"""billing app: orders, invoices, plans, subscriptions and payments, priced in integer minor units."""

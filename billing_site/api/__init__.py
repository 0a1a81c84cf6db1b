"""API conventions shared by every app: error shape, paging, throttles, schema, routing."""

"""Self-checks of the test harness: the properties the suite relies on, against the real servers."""

"""Benchmarks: each `bench/<app>_<topic>.py` runs standalone (`python -m bench.<module>`) and prints its figures."""

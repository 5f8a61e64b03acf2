"""Benchmarks for the hot paths, run by `make bench` (`python -m bench`)."""

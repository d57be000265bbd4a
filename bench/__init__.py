"""Benchmarks (not tests): bench/run_all.py runs them all; bench/corpus.py makes the data."""

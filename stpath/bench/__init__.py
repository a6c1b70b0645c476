"""Benchmarks (run with ``python -m stpath.bench.<name>``; figures go to the README)."""

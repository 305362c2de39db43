"""Benchmarks that drive a running server from the outside (``turnscribe bench ...``)."""

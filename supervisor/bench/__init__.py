"""Benchmarks of the supervisor's own code paths (``parkmesh bench ...``)."""

"""Measurements of the sandbox that return figures (``parkmesh bench preempt``, ``overhead``)."""

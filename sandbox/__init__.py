"""Sandboxed inference workers: the only package that imports torch."""

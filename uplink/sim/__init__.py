"""Fleet simulation."""

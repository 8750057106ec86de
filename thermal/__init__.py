"""The thermal and battery budget: how much compute the car can spare right now."""

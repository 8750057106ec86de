"""``parkmesh demo``: a simulated car through an evening, every decision explained."""

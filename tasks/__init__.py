"""Delivery workers: the Dramatiq broker (Redis, or in-process when embedded), thin actors, the sweeper."""

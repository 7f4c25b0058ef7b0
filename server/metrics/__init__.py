"""Prometheus metrics: each runtime's own registry (``instruments``) and the state read at scrape time (``state``)."""

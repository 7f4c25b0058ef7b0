"""Job and plan state: the statuses (``status``), and the only code that changes them."""

from server.jobs.status import JobStatus, PlanStatus

__all__ = ["JobStatus", "PlanStatus"]

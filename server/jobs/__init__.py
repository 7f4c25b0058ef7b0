"""Job and plan state: the statuses, and the only code that changes them.

Read ``status.py`` first (every state and the diagram), then ``transitions.py`` (the job's arrows),
``plan_state.py`` (the plan's status and counters), ``queue.py`` (sending messages),
``scheduler.py`` (the tick for jobs due beyond the enqueue horizon) and ``sweeper.py`` (lost
messages, expired leases).
"""

from server.jobs.status import JobStatus, PlanStatus

__all__ = ["JobStatus", "PlanStatus"]

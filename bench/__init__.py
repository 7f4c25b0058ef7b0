"""`make bench`: Herald's delivery path against the raw limit of this machine (see README, Performance)."""

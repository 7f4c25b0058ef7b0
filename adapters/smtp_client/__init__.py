"""The SMTP client the email channel sends with (``ChannelIO.smtp``), and its pieces.

pool.py       the pool: connections reused per server, one transaction per message, closed by ``aclose``
connect.py    the SSRF guard where the socket opens: only a checked address is connected to
classify.py   SMTP replies and failures → classified errors, by phase (connect, auth, mail, rcpt, data)
"""

from adapters.smtp_client.classify import back_off_seconds, reply_error
from adapters.smtp_client.pool import SmtpPool

__all__ = ["SmtpPool", "back_off_seconds", "reply_error"]

"""The hardened outbound HTTP client every HTTP-speaking channel uses (``ChannelIO.http``), and its pieces.

client.py     the client: one aiohttp session per event loop, bounded reads, one deadline per hop
pinning.py    the SSRF guard where sockets open: only checked addresses are connected to
netguard.py   which addresses may be reached; the create-time endpoint check
hops.py       redirects, the headers on the wire, redaction of echoed secrets
headers.py    header validation and merging shared with the channels
classify.py   an answer → a response or a classified error; rate-limit signals
failures.py   aiohttp / OS failures → classified errors
"""

from adapters.http_client.classify import classify_response, parse_retry_after
from adapters.http_client.client import AsyncOutboundClient, default_ssl_context
from adapters.http_client.netguard import check_url

__all__ = ["AsyncOutboundClient", "check_url", "classify_response", "default_ssl_context", "parse_retry_after"]

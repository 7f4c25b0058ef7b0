"""Faithful local fakes of chat providers: aiohttp servers on loopback that check auth and validate requests the
way the provider does, answer in its own shapes, and can be scripted (``fake.script``) to rate-limit with its
exact signal, time out after accepting, or refuse."""

"""The feed store behind the ``feed`` channel (``ChannelIO.feeds``) and the feeds Herald serves from it."""

"""Teacher backends behind one protocol, the row-level call cache, and the cached call runner."""

"""Talking to a turnscribe (or any Flux) server over its WebSocket: one paced sender, one receiver."""

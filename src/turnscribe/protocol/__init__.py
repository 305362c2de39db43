"""The sans-I/O Flux core: parameters, messages, events, the turn table and the Session."""

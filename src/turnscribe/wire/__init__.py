"""The Flux wire format: query parameters, client messages, server events, limits."""

"""turnscribe: a self-hosted, Deepgram Flux-compatible streaming speech-to-text server."""

__version__ = "0.1.0"
__all__ = ["__version__"]

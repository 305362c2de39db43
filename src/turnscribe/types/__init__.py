"""Shared types: audio, words, engine requests and results, engine interfaces."""

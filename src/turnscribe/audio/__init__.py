"""Audio input: Flux's raw encodings and containers decoded incrementally to 16 kHz mono float32.

Invariant: this package does no I/O and starts no threads; see ``decode.py`` for the decoder's
contract and ``containers.py`` for the demuxers' memory bounds.
"""

from __future__ import annotations

from turnscribe.audio.decode import ENCODINGS, SAMPLE_RATES, TARGET_RATE, AudioDecoder, make_decoder

__all__ = ["ENCODINGS", "SAMPLE_RATES", "TARGET_RATE", "AudioDecoder", "make_decoder"]

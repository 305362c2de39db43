"""Talking to a turnscribe (or any Flux) server over its WebSocket, the way a live caller does.

One of each, shared by ``transcribe --url``, ``eval eot --url`` and ``bench load|soak``:

* ``wav``: the WAV reader (mono PCM16, the format the test sets and clients use);
* ``closes``: what counts as a normal end of a stream;
* ``sender``: the paced sender, which records how late each frame went out;
* ``receiver``: the receiver, which records when each message arrived;
* ``stream``: one stream end to end (connect, send while receiving, wait for the close).
"""

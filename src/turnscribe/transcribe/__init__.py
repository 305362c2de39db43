"""``turnscribe transcribe``: files through the server's Session and engines, or through a server."""

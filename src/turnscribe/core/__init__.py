"""The sans-I/O decision core: one stream's session, speech activity, transcription windows, turn decisions."""

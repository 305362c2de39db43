"""Text post-processing of recognised words: numerals, profanity, redaction, keyterms."""

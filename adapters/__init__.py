"""Adapters: persistence, transcoding, ciphers, import/export and the composition root."""

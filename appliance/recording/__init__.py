"""Call recording: automatic (per-extension `record_calls`) and one-touch (`*1`), one mono WAV per call."""

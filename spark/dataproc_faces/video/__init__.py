"""Videos: probe, split into segments, process a segment as a stream, join; pure of Spark and storage."""

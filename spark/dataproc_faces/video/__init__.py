"""Videos: probe, split into segments, process a segment as a stream, join; no Spark, no storage."""

"""Face detectors: the interface (base), each network, the tiles they look at, their weights and
the OpenVINO runtime. Pixels in, boxes out: no Spark, no storage, no Google client."""

"""Find faces in image collections with PySpark and OpenCV, locally or on Cloud Dataproc."""

__version__ = "0.1.0"

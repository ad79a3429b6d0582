"""Find faces in image collections with PySpark and OpenCV, locally or on Cloud Dataproc."""

import warnings

__version__ = "0.1.0"

# google-api-core announces, at every import, the end of its support for this Python (2027-10):
# nothing a person running a command can act on, so it is not shown.
warnings.filterwarnings("ignore", message="You are using a Python version", category=FutureWarning)

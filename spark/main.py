"""Spark main file for spark-submit and Dataproc: `main.py run --input ... --output ...`."""

from dataproc_faces.cli import main

if __name__ == "__main__":
    main()

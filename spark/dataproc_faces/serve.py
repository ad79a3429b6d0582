"""`dataproc-faces serve`: the web page behind waitress, a production WSGI server.

waitress rather than Flask's development server (single-purpose, no reloader, not meant to be
exposed) and rather than gunicorn: pure Python, no dependencies, one process with threads, so
the runs a page starts are tracked by the same process that serves their status.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from dataproc_faces.web.settings import MB

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000  # what `flask run` users expect
DATA_ENV = "DATAPROC_FACES_WEB_DATA"
SECRET_ENV = "DATAPROC_FACES_WEB_SECRET"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve the web page: upload photos, run the job, browse results",
        description="Serve the web page (waitress). Locally, uploads and results live under "
        "--data and runs use local Spark; with --cloud (or --stack-outputs) uploads go under "
        "the stack's input prefix and runs are Dataproc jobs submitted like `submit`.",
    )
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    p.add_argument(
        "--data",
        default=os.environ.get(DATA_ENV) or "web-data",
        help=f"folder for uploads, results and run records (default ${DATA_ENV} or ./web-data)",
    )
    p.add_argument("--cloud", action="store_true", help="run on the stack's Dataproc cluster")
    p.add_argument(
        "--stack-outputs",
        metavar="FILE",
        help="JSON of `pulumi stack output --json` (implies --cloud)",
    )
    p.add_argument("--master", default="local[*]", help="Spark master for local runs")
    p.add_argument("--max-file-mb", type=float, default=50.0, help="largest file accepted")
    p.add_argument("--max-upload-mb", type=float, default=200.0, help="largest upload accepted")
    p.add_argument("--threads", type=int, default=4, help="waitress worker threads")
    p.set_defaults(func=cmd_serve)


def settings_from_args(args: argparse.Namespace):  # -> Settings
    from dataproc_faces.web.settings import Settings, cloud_from_args

    cloud = cloud_from_args(args.stack_outputs) if args.cloud or args.stack_outputs else None
    secret = os.environ.get(SECRET_ENV, "").encode()
    return Settings(
        data=Path(args.data).expanduser().resolve(),
        cloud=cloud,
        max_file_bytes=int(args.max_file_mb * MB),
        max_request_bytes=int(args.max_upload_mb * MB),
        master=args.master,
        secret_key=secret,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    import waitress

    from dataproc_faces.web import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    settings = settings_from_args(args)
    app = create_app(settings)
    print(f"dataproc-faces: serving http://{args.host}:{args.port}/ (data in {settings.data})")
    try:
        waitress.serve(app, host=args.host, port=args.port, threads=args.threads, ident="")
    finally:
        app.extensions["faces_runs"].stop_all()
    return 0

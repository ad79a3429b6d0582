"""Starting Spark: the right Python for workers, a clear line when Java is missing."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

DEFAULT_MASTER = "local[*]"
SUPPORTED_JAVA = (8, 11, 17)  # what Spark 3.5 runs on
JAVA_HINT = (
    "install Java 17 (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
)


# Local mode's one JVM moves bytes between Python processes; the optimising compiler's threads
# cost more than they give there: C1 only started a session in 6 s instead of 10.6 s, and ran the
# first job in 3.5 s instead of 5 s, on 2 busy cores (medians of 3, interleaved).
JIT = "-XX:TieredStopAtLevel=1"
# Class data sharing: an archive that does not match this JVM is skipped; nothing is printed.
QUIET_CDS = "-Xlog:cds=off -Xlog:cds+dynamic=off"
CACHE_ENV = "DATAPROC_FACES_JVM_CACHE"  # the archive's folder; "off": no archive


class EnvironmentProblem(Exception):
    """The machine cannot run Spark; the message says what to install."""


def under_spark_submit() -> bool:
    """spark-submit (and Dataproc) start the Python driver with a gateway already running."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def java_major(version_output: str) -> int | None:
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def check_java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise EnvironmentProblem(f"Java not found: {JAVA_HINT}")
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as exc:
        raise EnvironmentProblem(f"cannot run {java} ({exc}): {JAVA_HINT}") from None
    major = java_major(out.stderr + out.stdout)
    if major not in SUPPORTED_JAVA:
        raise EnvironmentProblem(f"Spark 3.5 needs Java 8, 11 or 17, found {major}: {JAVA_HINT}")
    return f"{os.path.realpath(java)}\n{out.stderr}{out.stdout}"


def class_archive(java: str) -> Path | None:
    """Where the class data sharing archive of this Java build and Spark's jars lives, or None
    when DATAPROC_FACES_JVM_CACHE is "off". `java` is what `check_java` returned."""
    import pyspark

    setting = os.environ.get(CACHE_ENV, "")
    if setting == "off":
        return None
    try:
        base = Path(setting or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except (RuntimeError, KeyError):  # a user without a home (some containers): no archive
        return None
    jars = sorted(p.name for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar"))
    what = json.dumps([java, pyspark.__version__, jars, JIT])
    key = hashlib.sha256(what.encode()).hexdigest()[:16]
    return (base if setting else base / "dataproc-faces") / f"spark-classes-{key}.jsa"


def make_class_archive() -> Path | None:
    """Writes the archive once (`make setup`): a session that runs one Python task, then its JVM
    exits and dumps the classes it loaded. Later sessions map them instead of loading Spark's
    jars: 1-1.7 s less to start a session and 0.4-0.6 s less for its first job, measured here."""
    archive = class_archive(check_java())
    if archive is None or archive.is_file():
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    part = archive.with_name(f"{archive.name}.{os.getpid()}.part")
    spark = session("local[2]", dump_to=part)
    sc = spark.sparkContext
    sc.parallelize([1, 2], 2).map(lambda x: x).collect()
    jvm = sc._gateway.proc
    spark.stop()
    sc._gateway.shutdown()
    jvm.stdin.close()  # the gateway exits on end of input: a normal exit, which dumps
    try:
        jvm.wait(timeout=300)
    except subprocess.TimeoutExpired:
        jvm.kill()
        jvm.wait()
    if jvm.returncode == 0 and part.is_file() and part.stat().st_size:
        os.replace(part, archive)
        return archive
    part.unlink(missing_ok=True)
    return None


# What says which Cloud Storage a local run's workers talk to, and as whom. Workers take the
# environment of the JVM, started once per process: a later change (an emulator, another
# project) reaches them only as executor settings of the session.
GOOGLE_ENV = ("STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT", "GOOGLE_APPLICATION_CREDENTIALS")


def stop(spark: Any) -> None:
    """`spark.stop()` without waiting for PySpark's accumulator server: its handler looks for a
    shutdown once a second, so stop() sat 0.5-1 s at the end of every run (0.8 s measured). The
    JVM stops as before; the server shuts down on a daemon thread (a command that exits at once
    does not wait for it; a process that lives on sees it gone within the second)."""
    sc = spark.sparkContext
    server = getattr(sc, "_accumulatorServer", None)
    if server is not None:
        sc._accumulatorServer = None  # stop() would shut it down and wait
        threading.Thread(target=server.shutdown, name="accumulator-stop", daemon=True).start()
    spark.stop()


def session(
    master: str | None, app_name: str = "dataproc-faces", dump_to: Path | None = None
) -> Any:
    """A SparkSession; locally, workers run this interpreter so they see the same packages, and
    the JVM maps the class archive when `make setup` made one (`dump_to`: make it)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if not under_spark_submit():
        java = check_java()
        master = master or DEFAULT_MASTER
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # one machine: stay on loopback
        log_config = Path(__file__).with_name("log4j2.properties")
        java_options = f"-Dlog4j2.configurationFile={log_config} {JIT} {QUIET_CDS}"
        archive = class_archive(java)
        if dump_to is not None:
            java_options += f" -XX:ArchiveClassesAtExit={dump_to}"
        elif archive is not None and archive.is_file():
            java_options += f" -XX:SharedArchiveFile={archive} -Xshare:auto"
        builder = (
            builder.config("spark.ui.enabled", "false")
            .config("spark.driver.extraJavaOptions", java_options)
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.memory", os.environ.get("DATAPROC_FACES_DRIVER_MEMORY", "2g"))
        )
        for key in GOOGLE_ENV:  # the JVM may predate them (one per process): say them per session
            if key in os.environ:
                builder = builder.config(f"spark.executorEnv.{key}", os.environ[key])
    if master:
        builder = builder.master(master)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def start(master: str | None, app_name: str = "dataproc-faces") -> Future[Any]:
    """`session` on a thread: the JVM starts (2-4 s) while the driver checks the detector and
    plans a small run. `.result()` gives the session or raises what starting it raised."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="spark-start")
    try:
        return pool.submit(session, master, app_name)
    finally:
        pool.shutdown(wait=False)


if __name__ == "__main__":  # `make setup`: python -m dataproc_faces.sparkenv
    try:
        made = make_class_archive()
    except (EnvironmentProblem, OSError) as exc:  # no Java, or no cache folder: runs start slower
        print(f"dataproc-faces: no JVM class archive: {exc}", file=sys.stderr)
    else:
        print(f"dataproc-faces: JVM class archive: {made or 'off'}")

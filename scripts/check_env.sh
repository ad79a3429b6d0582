#!/usr/bin/env bash
# One clear line, not a JVM stack trace, when the machine lacks Python 3.11 or Java 17.
set -euo pipefail
python_cmd="${1:-python3.11}"

if ! command -v "$python_cmd" >/dev/null 2>&1; then
  if command -v python3 >/dev/null 2>&1 && python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "error: '$python_cmd' not found but python3 is 3.11: run 'make PYTHON=python3 ...'" >&2
  else
    echo "error: Python 3.11 is required: install it (Debian/Ubuntu: apt-get install python3.11 python3.11-venv)" >&2
  fi
  exit 1
fi
if ! "$python_cmd" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "error: Python 3.11 is required, $python_cmd is $("$python_cmd" -V 2>&1)" >&2
  exit 1
fi
if ! "$python_cmd" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "error: $python_cmd lacks venv/ensurepip: install python3.11-venv" >&2
  exit 1
fi

java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
if ! command -v "$java_bin" >/dev/null 2>&1; then
  echo "error: Java 17 is required to run Spark: install it (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or set JAVA_HOME" >&2
  exit 1
fi
java_version=$("$java_bin" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
if [[ "$java_version" != "17" ]]; then
  echo "error: Java 17 is required to run Spark 3.5 here, found Java ${java_version:-unknown} at $(command -v "$java_bin")" >&2
  exit 1
fi

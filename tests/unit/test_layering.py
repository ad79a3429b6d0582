"""The package's layering (README, "Developing"): no import circle, the core imports no Spark,
storage or Google client, and each sub-package imports only what the rule allows."""

from __future__ import annotations

from pathlib import Path

from scripts.import_graph import broken_rules, circles, graph, longest_chain, modules


def test_no_import_circle_and_no_forbidden_import() -> None:
    found = modules()
    edges = graph(found)
    assert circles(edges, list(found)) == []
    assert broken_rules(found, edges) == []
    assert {"dataproc_faces.detectors.base", "dataproc_faces.results.layout"} <= set(found)


def test_a_planted_circle_and_a_core_import_of_spark_are_caught(tmp_path: Path) -> None:
    pkg = tmp_path / "dataproc_faces"
    for rel, text in {
        "__init__.py": "",
        "detectors/__init__.py": "",
        "detectors/base.py": "import pyspark\nfrom dataproc_faces.results.layout import Results\n",
        "results/__init__.py": "",
        "results/layout.py": "from dataproc_faces.results.ledger import x\n",
        "results/ledger.py": "def f():\n    from dataproc_faces.results.layout import Results\n",
    }.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    found = modules(pkg)
    edges = graph(found)
    assert circles(edges, list(found)) == [
        [
            "dataproc_faces.results.layout",
            "dataproc_faces.results.ledger",
            "dataproc_faces.results.layout",
        ]
    ]
    assert broken_rules(found, edges) == [
        "dataproc_faces.detectors.base imports dataproc_faces.results.layout",
        "dataproc_faces.detectors.base imports pyspark",
    ]


def test_the_longest_chain_follows_imports_to_the_deepest_module() -> None:
    edges = {"a": {"b", "c"}, "b": {"d"}, "c": set(), "d": set()}
    assert longest_chain(edges, list(edges)) == ["a", "b", "d"]

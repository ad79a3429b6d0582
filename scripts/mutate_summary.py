"""Summarise `mutmut results --all true`: the score per module, equivalent mutants set aside.

Equivalent mutants are listed in docs/testing.md, one per line, as "- `MUTANT-NAME`: reason"
(and in any file named in MUTATE_EQUIVALENTS, colon-separated, for a list still being reviewed).
Score = killed / (all mutants - equivalent ones); "no tests" and "timeout" count as not killed
and timeouts are reported separately.
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "testing.md"
LINE = re.compile(r"^\s*(\S+): (.+)$")
EQUIVALENT = re.compile(r"^- `([\w.]+__mutmut_\d+)`: ")


def module_of(mutant: str) -> str:
    # dataproc_faces.detectors.base.x_bounded_copy__mutmut_3 / infra.config.xǁClassǁmethod__mutmut_1
    return ".".join(mutant.split(".")[:2])


def main(results: str) -> int:
    lists = [DOCS, *(Path(p) for p in os.environ.get("MUTATE_EQUIVALENTS", "").split(":") if p)]
    equivalent = {
        m.group(1)
        for path in lists
        if path.exists()
        for line in path.read_text().splitlines()
        if (m := EQUIVALENT.match(line))
    }
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: list[str] = []
    for line in Path(results).read_text().splitlines():
        m = LINE.match(line)
        if not m:
            continue
        name, status = m.group(1), m.group(2).strip()
        if name in equivalent:
            status = "equivalent"
        counts[module_of(name)][status] += 1
        if status not in ("killed", "equivalent"):
            survivors.append(f"{name}: {status}")
    print(
        f"{'module':<26}{'mutants':>8}{'killed':>8}{'equiv.':>8}{'survived':>9}{'other':>7}"
        f"{'score':>8}"
    )
    for module in sorted(counts):
        c = counts[module]
        total = sum(c.values())
        other = total - c["killed"] - c["equivalent"] - c["survived"]
        scored = total - c["equivalent"]
        score = f"{100 * c['killed'] / scored:.1f}%" if scored else "-"
        print(
            f"{module:<26}{total:>8}{c['killed']:>8}{c['equivalent']:>8}{c['survived']:>9}"
            f"{other:>7}{score:>8}"
        )
    if survivors:
        print("\nnot killed (survived, no tests, timeout, ...):")
        print("\n".join(f"  {s}" for s in survivors))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "results.txt"))

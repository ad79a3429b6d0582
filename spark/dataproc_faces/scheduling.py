"""How images are cut into Spark tasks: big tasks first, ever smaller ones at the end.

Images differ in cost several-fold (1 to 24 MP, one face or twenty), and every PySpark task costs
tens to a couple of hundred milliseconds of its own (measured here: 30 ms for a JVM-only task,
130-250 ms for a Python task on a busy 2-core machine). A few equal tasks per core leave one core
finishing the last big task alone; one image per task pays the task cost per image. Guided
self-scheduling (as OpenMP's `schedule(guided)`) gets both: each chunk takes a fixed share of
what is left, so the first tasks are large (few of them) and the last ones hold single images,
and the cores finish within about one image of each other. Spark starts a stage's tasks in
partition order, so the order of the chunks is the order they run in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

# Each chunk takes 1/(SHARE * cores) of the images left: 2 keeps the first wave at half the work.
SHARE = 2


def guided_chunks(items: Sequence[T], cores: int, share: int = SHARE) -> list[list[T]]:
    """Consecutive chunks of `items`, each ceil(left / (share * cores)) long, at least one."""
    slots = max(1, cores) * max(1, share)
    chunks: list[list[T]] = []
    start = 0
    while start < len(items):
        size = max(1, math.ceil((len(items) - start) / slots))
        chunks.append(list(items[start : start + size]))
        start += size
    return chunks


def equal_chunks(items: Sequence[T], count: int) -> list[list[T]]:
    """`count` consecutive chunks whose lengths differ by at most one (an explicit --partitions)."""
    count = max(1, min(count, len(items)))
    bounds = [round(i * len(items) / count) for i in range(count + 1)]
    return [list(items[bounds[i] : bounds[i + 1]]) for i in range(count)]


def guided_sizes(total: int, cores: int, share: int = SHARE, cap: int = 0) -> list[int]:
    """The lengths `guided_chunks` gives `total` items, each at most `cap` (0: no cap), without
    the items: the driver plans millions of inputs in one number per task."""
    slots = max(1, cores) * max(1, share)
    sizes: list[int] = []
    left = total
    while left > 0:
        size = max(1, math.ceil(left / slots))
        size = min(size, cap) if cap else size
        sizes.append(size)
        left -= size
    return sizes


def equal_sizes(total: int, count: int) -> list[int]:
    """The lengths `equal_chunks` gives `total` items."""
    count = max(1, min(count, total))
    bounds = [round(i * total / count) for i in range(count + 1)]
    return [bounds[i + 1] - bounds[i] for i in range(count)]

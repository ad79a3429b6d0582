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

# Each chunk takes 1/(SHARE * cores) of the images left: 2 keeps the first wave at half the work.
SHARE = 2


def guided_sizes(total: int, cores: int, share: int = SHARE, cap: int = 0) -> list[int]:
    """Task sizes for `total` items, each ceil(left / (share * cores)) long and at most `cap`
    (0: no cap), without the items: the driver plans millions of inputs in one number per task."""
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
    """`count` task sizes for `total` items, differing by at most one (explicit --partitions)."""
    count = max(1, min(count, total))
    bounds = [round(i * total / count) for i in range(count + 1)]
    return [bounds[i + 1] - bounds[i] for i in range(count)]

"""An in-process stand-in for the SparkContext and RDD calls that pipeline.py and ledger.py make.

The driver code, its closures and the executor functions all run in the test's own process, in
milliseconds: a real local Spark session costs seconds to start and seconds per job. Partitions
are lists and transformations are lazy (computed by actions, cached by `persist`), as in Spark,
so an accumulator read while `collect` runs sees the tasks finish one after the other. Shuffles
place keys by a stable hash and `partitionBy` by its function modulo the partition count, as
Spark does. tests/spark/test_fakespark.py runs the same calls on real local Spark and compares.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_DEFAULT = object()  # persist() without a level


def stable_hash(key: Any) -> int:
    return zlib.crc32(repr(key).encode())


def split(data: list[Any], slices: int) -> list[list[Any]]:
    """PySpark's slicing of a local collection: partition i holds [i*n/s, (i+1)*n/s)."""
    if slices < 1:
        raise ValueError(f"Positive number of partitions required, got {slices}")
    n = len(data)
    return [data[i * n // slices : (i + 1) * n // slices] for i in range(slices)]


class Accumulator:
    def __init__(self, value: Any, param: Any = None) -> None:
        self.value, self.param = value, param

    def add(self, term: Any) -> None:
        if self.param is None:
            self.value += term
        else:  # PySpark's AccumulatorParam protocol
            self.value = self.param.addInPlace(self.value, term)


class FakeRDD:
    def __init__(self, ctx: FakeContext, compute: Callable[[], list[list[Any]]]) -> None:
        self.ctx = ctx
        self._compute = compute
        self._cache: list[list[Any]] | None = None
        self.storage_level: Any = None
        self.computed = 0  # how often this RDD's partitions were computed
        ctx.rdds.append(self)

    # -- evaluation
    def partitions(self) -> list[list[Any]]:
        if self._cache is not None:
            return self._cache
        self.computed += 1
        parts = [list(p) for p in self._compute()]
        if self.storage_level is not None:
            self._cache = parts
        return parts

    def getNumPartitions(self) -> int:
        return len(self.partitions())

    def _derive(self, compute: Callable[[], list[list[Any]]]) -> FakeRDD:
        return FakeRDD(self.ctx, compute)

    def _shuffle(self, op: str, pairs: Iterable[tuple[Any, Any]], n: int) -> list[list[Any]]:
        self.ctx.shuffles.append((op, n))
        if n < 1:
            raise ValueError(f"Positive number of partitions required, got {n}")
        parts: list[list[Any]] = [[] for _ in range(n)]
        for kv in pairs:
            parts[stable_hash(kv[0]) % n].append(kv)
        return parts

    def _items(self) -> Iterator[Any]:
        for part in self.partitions():
            yield from part

    # -- storage
    def persist(self, level: Any = _DEFAULT) -> FakeRDD:
        from pyspark import StorageLevel

        # Spark's default when none is given; anything else, None included, must be a level
        level = StorageLevel.MEMORY_ONLY if level is _DEFAULT else level
        if not isinstance(level, StorageLevel):
            raise TypeError(f"not a StorageLevel: {level!r}")
        self.storage_level = level
        return self

    def unpersist(self) -> FakeRDD:
        self.storage_level = None
        self._cache = None
        return self

    # -- narrow transformations
    def mapPartitions(self, f: Callable[[Iterator[Any]], Iterable[Any]]) -> FakeRDD:
        return self._derive(lambda: [list(f(iter(p))) for p in self.partitions()])

    def map(self, f: Callable[[Any], Any]) -> FakeRDD:
        return self.mapPartitions(lambda it: (f(x) for x in it))

    def flatMap(self, f: Callable[[Any], Iterable[Any]]) -> FakeRDD:
        return self.mapPartitions(lambda it: (y for x in it for y in f(x)))

    def filter(self, f: Callable[[Any], bool]) -> FakeRDD:
        return self.mapPartitions(lambda it: (x for x in it if f(x)))

    def mapValues(self, f: Callable[[Any], Any]) -> FakeRDD:
        return self.mapPartitions(lambda it: ((k, f(v)) for k, v in it))

    def mapPartitionsWithIndex(self, f: Callable[[int, Iterator[Any]], Iterable[Any]]) -> FakeRDD:
        return self._derive(lambda: [list(f(i, iter(p))) for i, p in enumerate(self.partitions())])

    def union(self, other: FakeRDD) -> FakeRDD:
        return self._derive(lambda: self.partitions() + other.partitions())

    def zipWithIndex(self) -> FakeRDD:
        def compute() -> list[list[Any]]:
            parts, i = [], 0
            for part in self.partitions():
                parts.append([(x, i + j) for j, x in enumerate(part)])
                i += len(part)
            return parts

        return self._derive(compute)

    # -- shuffles
    def _slices(self, n: int | None) -> int:
        return self.ctx.defaultParallelism if n is None else n

    def distinct(self, numPartitions: int | None = None) -> FakeRDD:
        def compute() -> list[list[Any]]:
            seen = dict.fromkeys(self._items())
            parts = self._shuffle(
                "distinct", ((x, None) for x in seen), self._slices(numPartitions)
            )
            return [[k for k, _ in p] for p in parts]

        return self._derive(compute)

    def partitionBy(
        self,
        numPartitions: int,
        partitionFunc: Callable[[Any], int] = stable_hash,
    ) -> FakeRDD:
        def compute() -> list[list[Any]]:
            self.ctx.shuffles.append(("partitionBy", numPartitions))
            if numPartitions < 1:
                raise ValueError(f"Positive number of partitions required, got {numPartitions}")
            parts: list[list[Any]] = [[] for _ in range(numPartitions)]
            for kv in self._items():
                parts[partitionFunc(kv[0]) % numPartitions].append(kv)
            return parts

        return self._derive(compute)

    def reduceByKey(self, f: Callable[[Any, Any], Any], numPartitions: int | None = None):
        def compute() -> list[list[Any]]:
            merged: dict[Any, Any] = {}
            for k, v in self._items():
                merged[k] = f(merged[k], v) if k in merged else v
            return self._shuffle("reduceByKey", merged.items(), self._slices(numPartitions))

        return self._derive(compute)

    def groupByKey(self, numPartitions: int | None = None) -> FakeRDD:
        def compute() -> list[list[Any]]:
            groups: dict[Any, list[Any]] = {}
            for k, v in self._items():
                groups.setdefault(k, []).append(v)
            return self._shuffle("groupByKey", groups.items(), self._slices(numPartitions))

        return self._derive(compute)

    def leftOuterJoin(self, other: FakeRDD, numPartitions: int | None = None) -> FakeRDD:
        def compute() -> list[list[Any]]:
            right: dict[Any, list[Any]] = {}
            for k, w in other._items():
                right.setdefault(k, []).append(w)
            pairs = [(k, (v, w)) for k, v in self._items() for w in right.get(k, [None])]
            return self._shuffle("leftOuterJoin", pairs, self._slices(numPartitions))

        return self._derive(compute)

    def join(self, other: FakeRDD, numPartitions: int | None = None) -> FakeRDD:
        def compute() -> list[list[Any]]:
            right: dict[Any, list[Any]] = {}
            for k, w in other._items():
                right.setdefault(k, []).append(w)
            pairs = [(k, (v, w)) for k, v in self._items() for w in right.get(k, [])]
            return self._shuffle("join", pairs, self._slices(numPartitions))

        return self._derive(compute)

    def keys(self) -> FakeRDD:
        return self.map(lambda kv: kv[0])

    def sortByKey(
        self,
        ascending: bool = True,
        numPartitions: int | None = None,
    ) -> FakeRDD:
        def compute() -> list[list[Any]]:
            items = sorted(self._items(), key=lambda kv: kv[0], reverse=not ascending)
            self.ctx.shuffles.append(("sortByKey", self._slices(numPartitions)))
            return split(items, self._slices(numPartitions))

        return self._derive(compute)

    def sortBy(
        self,
        keyfunc: Callable[[Any], Any],
        ascending: bool = True,
        numPartitions: int | None = None,
    ) -> FakeRDD:
        def compute() -> list[list[Any]]:
            parts = self.partitions()  # as many partitions as before, unless told
            n = len(parts) if numPartitions is None else numPartitions
            items = sorted((x for p in parts for x in p), key=keyfunc, reverse=not ascending)
            self.ctx.shuffles.append(("sortBy", n))
            return split(items, n)

        return self._derive(compute)

    # -- actions
    def collect(self) -> list[Any]:
        self.ctx.actions.append("collect")
        return list(self._items())

    def count(self) -> int:
        self.ctx.actions.append("count")
        return sum(1 for _ in self._items())

    def countByValue(self) -> dict[Any, int]:
        self.ctx.actions.append("countByValue")
        counts: dict[Any, int] = {}
        for x in self._items():
            counts[x] = counts.get(x, 0) + 1
        return counts

    def isEmpty(self) -> bool:
        self.ctx.actions.append("isEmpty")
        return not any(True for _ in self._items())

    def take(self, n: int) -> list[Any]:
        self.ctx.actions.append("take")
        found: list[Any] = []
        for x in self._items():
            if len(found) >= n:
                break
            found.append(x)
        return found

    def reduce(self, f: Callable[[Any, Any], Any]) -> Any:
        """As PySpark: each partition reduced in its task, then the partitions' results in order."""
        self.ctx.actions.append("reduce")
        results = []
        for part in self.partitions():
            if part:
                acc = part[0]
                for x in part[1:]:
                    acc = f(acc, x)
                results.append(acc)
        if not results:
            raise ValueError("Can not reduce() empty RDD")
        acc = results[0]
        for x in results[1:]:
            acc = f(acc, x)
        return acc

    def fold(self, zero: Any, f: Callable[[Any, Any], Any]) -> Any:
        """As PySpark: each partition folded from `zero`, then the results from `zero` again."""
        self.ctx.actions.append("fold")
        acc = zero
        for part in self.partitions():
            inner = zero
            for x in part:
                inner = f(inner, x)
            acc = f(acc, inner)
        return acc

    def treeReduce(self, f: Callable[[Any, Any], Any], depth: int = 2) -> Any:
        return self.reduce(f)

    def sum(self) -> Any:
        self.ctx.actions.append("sum")
        return sum(self._items())


class FakeContext:
    def __init__(self, parallelism: int = 2, master: str = "local[2]") -> None:
        self.defaultParallelism = parallelism
        self.master = master
        self.actions: list[str] = []
        self.parallelized: list[tuple[list[Any], int]] = []  # (data, slices) per call
        self.shuffles: list[tuple[str, int]] = []  # (operation, partitions) per shuffle run
        self.rdds: list[FakeRDD] = []
        self.broadcasts: list[Broadcast] = []

    def parallelize(self, data: Iterable[Any], numSlices: int | None = None) -> FakeRDD:
        items = list(data)
        slices = self.defaultParallelism if numSlices is None else numSlices
        self.parallelized.append((items, slices))
        parts = split(items, slices)
        return FakeRDD(self, lambda: parts)

    def union(self, rdds: list[FakeRDD]) -> FakeRDD:
        if not rdds:
            raise ValueError("Union of empty list")
        return FakeRDD(self, lambda: [p for r in rdds for p in r.partitions()])

    def emptyRDD(self) -> FakeRDD:
        return FakeRDD(self, lambda: [])

    def accumulator(self, value: Any, param: Any = None) -> Accumulator:
        return Accumulator(value, param)

    def broadcast(self, value: Any) -> Broadcast:
        self.broadcasts.append(Broadcast(value))
        return self.broadcasts[-1]


class Broadcast:
    """sc.broadcast's value holder: executors read `.value`; the driver releases it."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.released = False

    def unpersist(self) -> None:
        self.released = True


class FakeSession:
    def __init__(self, parallelism: int = 2, master: str = "local[2]") -> None:
        self.sparkContext = FakeContext(parallelism, master)

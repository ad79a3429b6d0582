"""The cost model that picks the stacks' machine family (bench/cost.py, docs/scale.md)."""

from __future__ import annotations

import pytest

from bench import cost
from infra.config import DEFAULT_FAMILY, MACHINE_FAMILIES


def test_seconds_per_photo_follow_the_measured_bf16_and_int8_figures() -> None:
    # the 0.32 s measured with the old network, its 0.241 s of detection scaled by 39.8 / 53.5
    assert round(cost.DETECT_SECONDS_BF16, 4) == 0.1793
    assert cost.photo_seconds(True) == pytest.approx(0.32 - 0.241 + 0.1793)
    # without bf16: only detection changes, to the int8 network's 34.5 / 39.8 of bf16's
    assert cost.photo_seconds(False) == pytest.approx(0.2583 - 0.1793 * (1 - 0.867))
    assert cost.photo_seconds(False) / cost.photo_seconds(True) == pytest.approx(0.908, abs=1e-3)


def test_cost_per_million_photos_is_compute_plus_the_dataproc_premium() -> None:
    c3, n2 = (next(f for f in cost.FAMILIES if f.name == n) for n in ("c3", "n2"))
    assert cost.all_in_hour(c3) == pytest.approx(0.00513 + 4 * 0.000687)
    assert cost.cost_per_million(c3) == pytest.approx(0.2583e6 / 3600 * (0.007878 + 0.010))
    assert cost.cost_per_million(c3) == pytest.approx(1.283, abs=1e-3)
    assert cost.cost_per_million(n2) == pytest.approx(0.234453e6 / 3600 * (0.010223 + 0.010))
    assert cost.cost_per_million(n2) == pytest.approx(1.317, abs=1e-3)


def test_the_cheapest_family_per_photo_is_the_stacks_default() -> None:
    assert cost.cheapest().name == "c3" == DEFAULT_FAMILY
    assert {f.name for f in cost.FAMILIES} == set(MACHINE_FAMILIES)
    # Without bf16, a family must be much cheaper per hour to cost as little per photo.
    n2d = next(f for f in cost.FAMILIES if f.name == "n2d")
    need = cost.break_even_hour(n2d, cost.cost_per_million(cost.cheapest()) or 0)
    assert need == pytest.approx(0.00970, abs=1e-5)
    priced = cost.Family("x", False, need - 4 * 0.001, 0.001, "test")
    assert cost.cost_per_million(priced) == pytest.approx(cost.cost_per_million(cost.cheapest()))


def test_a_cheaper_priced_family_would_become_the_default() -> None:
    cheap_c4 = cost.Family("c4", True, 0.004, 0.0005, "test")
    families = (*[f for f in cost.FAMILIES if f.name != "c4"], cheap_c4)
    assert cost.cheapest(families).name == "c4"
    line = next(x for x in cost.family_table(families) if x.startswith("c3"))
    assert line.startswith("c3   0.258 s/photo (bf16): $1.28 per million photos")


def test_the_table_names_what_a_family_without_a_price_would_need() -> None:
    lines = cost.family_table()
    assert [line.split()[0] for line in lines] == ["c3", "c4", "n4", "n2", "n2d"]
    assert "c4   0.258 s/photo (bf16): matches c3 below $0.00788/vCPU-h with 4 GiB" in lines[1]
    assert lines[3].startswith("n2   0.234 s/photo (int8): $1.32 per million photos")


def test_writes_per_photo_follow_the_two_write_saving_options() -> None:
    assert cost.writes_per_photo(True, False, 0.3) == 2.0  # the image and its thumbnail
    assert cost.writes_per_photo(False, False, 0.3) == 1.0
    assert cost.writes_per_photo(True, True, 0.3) == pytest.approx(1.3)  # faceless: linked
    assert cost.writes_per_photo(False, True, 0.3) == pytest.approx(0.3)


def test_total_per_million_adds_reads_writes_and_the_rest_to_compute() -> None:
    c3 = cost.cheapest()
    compute = cost.cost_per_million(c3) or 0
    # defaults: 2,000,000 writes ($10), 1,000,000 reads ($0.40), 8,000 other writes ($0.04)
    assert cost.total_per_million(c3, True, False, 1.0) == pytest.approx(compute + 10.44)
    assert cost.total_per_million(c3, False, True, 0.25) == pytest.approx(compute + 1.25 + 0.44)
    assert cost.total_per_million(c3, True, False, 1.0) == pytest.approx(11.72, abs=0.005)
    none = next(f for f in cost.FAMILIES if f.vcpu_hour is None)
    assert cost.total_per_million(none, True, False, 1.0) is None


def test_the_break_even_share_of_faces_keeps_both_options_at_the_target() -> None:
    c3 = cost.cheapest()
    share = cost.break_even_share(c3, 4.0)
    assert share == pytest.approx(0.455, abs=0.001)
    assert cost.total_per_million(c3, False, True, share) == pytest.approx(4.0)
    assert cost.break_even_share(c3, 1.0) is None  # compute alone is more
    assert cost.break_even_share(c3, 100.0) == 1.0
    table = cost.total_table(c3)
    assert table[-1].split()[0] == "both" and table[-1].split()[1:] == ["$6.72", "$4.22", "$2.97"]

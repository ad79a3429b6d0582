"""results/review.py: which photos a person should look at first, and the privacy counts."""

from __future__ import annotations

import pytest

from dataproc_faces.results import review
from dataproc_faces.results.review import counts, reasons


def face(x: int = 0, y: int = 0, w: int = 40, h: int = 40, **kw: object) -> dict:
    return {"x": x, "y": y, "w": w, "h": h, "by": "detector", **kw}


W, H = 2000, 1500  # 3 MP: "many" is more than 12 + 3 = 15 finds


@pytest.mark.parametrize(
    ("faces", "width", "height", "expected"),
    [
        ([], W, H, []),
        ([face(), face(100)], W, H, []),
        ([face(weak=True)], W, H, ["weak"]),
        ([face(w=23, h=23)], W, H, ["small"]),
        ([face(w=24, h=20)], W, H, []),  # the longer side reaches 24 px
        ([face(x=i) for i in range(15)], W, H, []),
        ([face(x=i) for i in range(16)], W, H, ["many"]),
        ([face(x=i) for i in range(13)], 1000, 1000, []),  # 1 MP: more than 13
        ([face(x=i) for i in range(14)], 1000, 1000, ["many"]),
        ([face(w=600, h=1000)], W, H, ["large"]),  # 600000 = 0.2 of 3 MP
        ([face(w=599, h=1000)], W, H, []),
        ([face(w=10, h=10, weak=True), face(w=900, h=900)], W, H, ["weak", "small", "large"]),
        # a person's boxes are never weak, small or large: only what a detector found is
        ([face(w=10, h=10, by="person"), face(w=900, h=900, by="person")], W, H, []),
    ],
)
def test_reasons_from_what_the_row_holds(faces, width, height, expected) -> None:
    assert reasons(faces, width, height, corrected=False, reviewed=False) == expected


def test_a_corrected_photo_asks_for_a_look_until_a_person_marks_it_reviewed() -> None:
    faces = [face(w=10, h=10, weak=True)]
    assert reasons(faces, W, H, corrected=True, reviewed=False) == ["weak", "small", "corrected"]
    assert reasons(faces, W, H, corrected=True, reviewed=True) == []
    assert reasons(faces, W, H, corrected=False, reviewed=True) == []


def row(faces: list, hidden: bool = True, look: list | None = None, status: str = "ok") -> dict:
    return {
        "status": status,
        "faces": faces,
        "hidden": {"fill": "blur"} if hidden else None,
        "review": look or [],
    }


def test_counts_sum_faces_hidden_weak_and_by_person_and_photos_to_look_at() -> None:
    rows = [
        row([face(weak=True), face(), face(by="person")], look=["weak", "corrected"]),
        row([face(w=10, h=10)], look=["small"]),
        row([face(), face()]),
        row([face(weak=True)], hidden=False),  # outlined only: nothing was hidden
        {**row([], hidden=False, look=["error"]), "status": "error"},
    ]
    got = counts(rows)
    assert got == {
        "faces_hidden": 6,
        "faces_weak": 1,
        "faces_by_person": 1,
        "photos_to_review": 3,
        "review_weak": 1,
        "review_corrected": 1,
        "review_small": 1,
        "review_error": 1,
    }
    assert review.add(got, {"faces_hidden": 1, "review_many": 2}) == {
        "faces_by_person": 1,
        "faces_hidden": 7,
        "faces_weak": 1,
        "photos_to_review": 3,
        "review_corrected": 1,
        "review_error": 1,
        "review_many": 2,
        "review_small": 1,
        "review_weak": 1,
    }
    assert counts([]) == dict.fromkeys(review.COUNTS, 0)

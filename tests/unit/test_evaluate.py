"""The eval command's arithmetic on hand-made boxes, its truth readers, and one real run."""

from __future__ import annotations

import argparse
import json
import shutil

import pytest

from dataproc_faces import evaluate
from dataproc_faces.evaluate import Scores, iou, match, read_truth, scores

SAMPLES_FACE = (177, 66, 95, 95)


def test_iou_of_hand_made_boxes() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0  # touching edges share no area
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (2, 2, 5, 5)) == pytest.approx(25 / 100)
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_match_is_one_to_one_and_greedy_by_iou() -> None:
    truth = [(0, 0, 10, 10), (100, 0, 10, 10)]
    found = [(1, 0, 10, 10), (0, 0, 10, 10), (300, 300, 5, 5)]
    m = match(truth, found, 0.5)
    # the exact box (IoU 1) wins truth 0; the near duplicate is a false detection
    assert m.pairs == [(0, 1)]
    assert m.misses == [1]
    assert m.false == [0, 2]


def test_greedy_order_is_by_iou_not_by_list_order() -> None:
    # det 0 overlaps truth 0 (IoU 0.67) and truth 1 (IoU 0.82); greedy gives it to truth 1
    truth = [(0, 0, 10, 10), (3, 0, 10, 10)]
    found = [(2, 0, 10, 10)]
    m = match(truth, found, 0.5)
    assert m.pairs == [(1, 0)] and m.misses == [0] and m.false == []


def test_threshold_changes_the_verdict() -> None:
    truth = [(0, 0, 10, 10)]
    found = [(4, 0, 10, 10)]  # IoU 60/140 = 0.43
    assert match(truth, found, 0.5).tp == 0
    assert match(truth, found, 0.3).tp == 1


def test_ignored_truth_is_neither_missed_nor_false() -> None:
    m = match([(0, 0, 10, 10)], [(0, 0, 10, 10), (50, 50, 10, 10)], 0.5, ignore=[(50, 50, 10, 10)])
    assert m.tp == 1 and m.misses == [] and m.false == []


def test_scores_precision_recall_f1() -> None:
    s = Scores(tp=8, fp=2, fn=8)
    assert s.precision == pytest.approx(0.8)
    assert s.recall == pytest.approx(0.5)
    assert s.f1 == pytest.approx(2 * 0.8 * 0.5 / 1.3)
    assert Scores(0, 0, 0).precision == 1.0 and Scores(0, 0, 0).recall == 1.0
    assert Scores(0, 0, 3).f1 == 0.0
    assert Scores(0, 2, 0).precision == 0.0


def test_scores_are_summed_over_images() -> None:
    a = match([(0, 0, 10, 10)], [(0, 0, 10, 10)], 0.5)
    b = match([(0, 0, 10, 10), (20, 20, 10, 10)], [(90, 90, 10, 10)], 0.5)
    assert scores([a, b]) == Scores(tp=1, fp=1, fn=2)


def test_reads_our_json_truth(tmp_path) -> None:
    path = tmp_path / "truth.json"
    doc = {
        "images": [
            {"file": "a.jpg", "faces": [{"x": 1, "y": 2, "w": 3, "h": 4}]},
            {"file": "b.jpg", "faces": [{"x": 5, "y": 6, "w": 7, "h": 8, "ignore": True}]},
            {"file": "c.jpg", "faces": []},
        ]
    }
    path.write_text(json.dumps(doc))
    images = read_truth(path)
    assert [i.file for i in images] == ["a.jpg", "b.jpg", "c.jpg"]
    assert images[0].faces == [(1, 2, 3, 4)]
    assert images[1].faces == [] and images[1].ignore == [(5, 6, 7, 8)]


def test_reads_dlib_imglab_xml(tmp_path) -> None:
    path = tmp_path / "faces.xml"
    path.write_text(
        "<?xml version='1.0' encoding='ISO-8859-1'?>\n"
        "<dataset><images>\n"
        "<image file='x.jpg' width='500' height='375'>\n"
        "  <box top='90' left='194' width='37' height='36'/>\n"
        "  <box top='10' left='20' width='30' height='30' ignore='1'/>\n"
        "</image>\n"
        "<image file='y.jpg'/>\n"
        "</images></dataset>\n"
    )
    images = read_truth(path)
    assert images[0].file == "x.jpg"
    assert images[0].faces == [(194, 90, 37, 36)]
    assert images[0].ignore == [(20, 10, 30, 30)]
    assert images[1].faces == []


def _parser() -> argparse.ArgumentParser:
    """The real CLI's parser: `eval` is wired in through evaluate.register."""
    from dataproc_faces.cli import build_parser

    return build_parser()


def test_eval_command_on_the_astronaut(tmp_path, samples, capsys) -> None:
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(samples / "astronaut.png", images / "a.png")
    shutil.copy(samples / "chelsea.png", images / "cat.png")
    truth = tmp_path / "truth.json"
    x, y, w, h = SAMPLES_FACE
    truth.write_text(
        json.dumps(
            {
                "images": [
                    {"file": "a.png", "faces": [{"x": x, "y": y, "w": w, "h": h}]},
                    {"file": "cat.png", "faces": []},
                ]
            }
        )
    )
    out = tmp_path / "result.json"
    argv = ["eval", "--images", str(images), "--truth", str(truth), "--detector", "haar"]
    args = _parser().parse_args([*argv, "--json", str(out)])
    assert args.func(args) == 0
    result = json.loads(out.read_text())
    assert result["images"] == 2 and result["faces"] == 1
    assert result["scores"]["iou0.5"]["tp"] == 1
    assert result["scores"]["iou0.5"]["recall"] == 1.0
    assert result["mean_ms"] > 0
    assert [r["file"] for r in result["per_image"]] == ["a.png", "cat.png"]
    printed = capsys.readouterr().out
    assert "detector haar: 2 images, 1 faces" in printed


def test_eval_command_reports_missing_images_and_unreadable_truth(tmp_path, capsys) -> None:
    truth = tmp_path / "t.json"
    truth.write_text(json.dumps({"images": [{"file": "gone.jpg", "faces": []}]}))
    args = _parser().parse_args(["eval", "--images", str(tmp_path), "--truth", str(truth)])
    assert args.func(args) == 2
    assert "gone.jpg" in capsys.readouterr().err
    truth.write_text("{not json")
    assert args.func(args) == 2
    assert "cannot read truth" in capsys.readouterr().err


def test_eval_command_reports_a_detector_that_cannot_start(tmp_path, capsys, monkeypatch) -> None:
    def broken(options):
        raise evaluate.DetectorError("weights missing: run make models")

    monkeypatch.setattr(evaluate, "make_detector", broken)
    truth = tmp_path / "t.json"
    truth.write_text(json.dumps({"images": []}))
    args = _parser().parse_args(["eval", "--images", str(tmp_path), "--truth", str(truth)])
    assert args.func(args) == 2
    assert "run make models" in capsys.readouterr().err

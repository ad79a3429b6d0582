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
    assert m.tp == 1 and m.misses == [] and m.false == [] and m.ignored == [1]


def test_a_detection_on_an_ignored_face_counts_as_not_false_in_precision() -> None:
    # one true, one on an ignored face, two false: precision = 2 of 4 detections are not false
    s = Scores(tp=1, fp=2, fn=0, ignored=1)
    assert s.precision == pytest.approx(0.5)
    assert s.recall == 1.0
    m = match(
        [(0, 0, 10, 10)],
        [(0, 0, 10, 10), (50, 50, 10, 10), (90, 90, 9, 9)],
        0.5,
        ignore=[(50, 50, 10, 10)],
    )
    assert scores([m]) == Scores(tp=1, fp=1, fn=0, ignored=1)


def test_min_face_moves_narrow_faces_to_ignored() -> None:
    item = evaluate.TruthImage("a.jpg", [(0, 0, 31, 40), (50, 0, 32, 20)], [(9, 9, 5, 5)])
    got = evaluate.at_least(item, 32)
    assert got.faces == [(50, 0, 32, 20)]  # width decides, not height
    assert got.ignore == [(9, 9, 5, 5), (0, 0, 31, 40)]


def test_size_buckets_by_width() -> None:
    assert [evaluate.size_bucket(w) for w in (5, 16, 23.9, 24, 47, 48, 255, 256, 4000)] == [
        "0-16",
        "16-24",
        "16-24",
        "24-32",
        "32-48",
        "48-64",
        "128-256",
        "256+",
        "256+",
    ]


def test_recall_by_size_counts_found_and_annotated_per_bucket() -> None:
    truth = [evaluate.TruthImage("a", [(0, 0, 40, 40), (100, 0, 40, 40), (200, 0, 300, 300)])]
    m = match(truth[0].faces, [(0, 0, 40, 40), (200, 0, 300, 300)], 0.5)
    assert evaluate.recall_by_size(truth, [m]) == {"32-48": [1, 2], "256+": [1, 1]}


def test_sweep_scores_each_threshold_from_the_same_detections() -> None:
    from dataproc_faces.detectors.base import Face

    truth = [evaluate.TruthImage("a", [(0, 0, 10, 10), (20, 0, 10, 10)])]
    found = [[Face(0, 0, 10, 10, 0.9), Face(20, 0, 10, 10, 0.4), Face(50, 50, 10, 10, 0.6)]]
    at = {t: evaluate.sweep_point(truth, found, t)["iou0.5"] for t in (0.3, 0.5, 0.7, 0.95)}
    assert (at[0.3]["tp"], at[0.3]["fp"], at[0.3]["fn"]) == (2, 1, 0)
    assert (at[0.5]["tp"], at[0.5]["fp"], at[0.5]["fn"]) == (1, 1, 1)
    assert (at[0.7]["tp"], at[0.7]["fp"], at[0.7]["fn"]) == (1, 0, 1)
    assert (at[0.95]["tp"], at[0.95]["fp"], at[0.95]["fn"]) == (0, 0, 2)


def test_reads_wider_face_ground_truth_text(tmp_path) -> None:
    path = tmp_path / "wider_face_val_bbx_gt.txt"
    path.write_text(
        "0--Parade/0_Parade_marchingband_1_465.jpg\n"
        "3\n"
        "345 211 4 4 2 0 0 0 2 0 \n"
        "331 126 3 3 0 0 0 1 0 0 \n"
        "10 20 30 40 0 0 0 0 0 0 \n"
        "1--Handshaking/empty.jpg\n"
        "0\n"
        "0 0 0 0 0 0 0 0 0 0 \n"
        "2--Demonstration/one.jpg\n"
        "1\n"
        "1 2 3 4 0 0 0 0 0 0\n"
    )
    images = read_truth(path)
    assert [i.file for i in images] == [
        "0--Parade/0_Parade_marchingband_1_465.jpg",
        "1--Handshaking/empty.jpg",
        "2--Demonstration/one.jpg",
    ]
    assert images[0].faces == [(345, 211, 4, 4), (10, 20, 30, 40)]
    assert images[0].ignore == [(331, 126, 3, 3)]  # flagged invalid
    assert images[1].faces == [] and images[1].ignore == []
    assert images[2].faces == [(1, 2, 3, 4)]


def test_a_short_wider_file_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "gt.txt"
    path.write_text("a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n")
    with pytest.raises(ValueError, match="2 faces announced, 1 lines follow"):
        read_truth(path)


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
    assert result["recall_by_size"]["iou0.5"] == {"64-128": [1, 1]}
    assert result["runtime"].endswith("cascade") and "sweep" not in result
    printed = capsys.readouterr().out
    assert "detector haar on opencv " in printed and ": 2 images, 1 faces, " in printed
    assert "recall by width, IoU 0.5: 64-128 1/1" in printed


def test_eval_command_sweeps_and_ignores_narrow_faces(tmp_path, samples, capsys) -> None:
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(samples / "astronaut.png", images / "a.png")
    truth = tmp_path / "truth.json"
    # the real face, and a made-up narrow one: ignored at --min-face 32, so not missed
    faces = [{"x": 177, "y": 66, "w": 95, "h": 95}, {"x": 0, "y": 0, "w": 20, "h": 20}]
    truth.write_text(json.dumps({"images": [{"file": "a.png", "faces": faces}]}))
    out = tmp_path / "r.json"
    argv = ["eval", "--images", str(images), "--truth", str(truth), "--json", str(out)]
    args = _parser().parse_args([*argv, "--min-face", "32", "--sweep"])
    assert args.func(args) == 0
    result = json.loads(out.read_text())
    assert result["faces"] == 1 and result["min_face"] == 32
    assert result["options"]["score_threshold"] == evaluate.SWEEP[0]
    sweep = {p["threshold"]: p["iou0.3"] for p in result["sweep"]}
    assert list(sweep) == list(evaluate.SWEEP)
    assert sweep[0.5]["recall"] == 1.0 and sweep[0.5]["fn"] == 0
    assert "sweep: threshold" in capsys.readouterr().out
    args = _parser().parse_args([*argv, "--detector", "haar", "--sweep"])
    assert args.func(args) == 2


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

"""evaluate: precision, recall and F1 of identity on folders of real photos."""

from __future__ import annotations

import json
import shutil

import pytest

from vcam.enroll import Augment
from vcam.evaluate import evaluate_identity
from vcam.pipeline.matching import DEFAULT_AGGREGATION, DEFAULT_THRESHOLD

from conftest import DATA


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    layout = {"gallery/obama": ["obama.jpg"], "gallery/biden": ["biden.jpg"],
              "probes/obama": ["obama2.jpg", "obama3.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg"],
              "impostors": ["grace_hopper.jpg", "astronaut.jpg", "group3.jpg"]}
    for folder, names in layout.items():
        (root / folder).mkdir(parents=True)
        for name in names:
            shutil.copy(DATA / name, root / folder / name)
    return root


@pytest.fixture(scope="module")
def report(folders):
    return evaluate_identity(folders / "gallery", folders / "probes", folders / "impostors",
                             thresholds=[0.3, 0.4, DEFAULT_THRESHOLD, 0.6, 0.9], augment=Augment(count=2))


def test_the_report_has_precision_recall_and_f1_per_aggregation_and_threshold(report):
    assert set(report["aggregations"]) == {"median", "max", "mean", "top3"}
    for result in report["aggregations"].values():
        assert [row["threshold"] for row in result["table"]] == [0.3, 0.4, DEFAULT_THRESHOLD, 0.6, 0.9]
        assert {"precision", "recall", "f1", "tp", "fp", "fn"} <= set(result["best"])
    assert report["people"] == {"biden": 3, "obama": 3}
    assert report["counts"] == {"probes": 4, "impostors": 5}, "every face of a group photo is an impostor"
    json.dumps(report)


def test_obama_probes_are_named_and_impostors_are_not_at_the_default_threshold(report):
    table = {row["threshold"]: row for row in report["aggregations"][DEFAULT_AGGREGATION]["table"]}
    assert table[DEFAULT_THRESHOLD] | {} == table[DEFAULT_THRESHOLD]
    assert (table[DEFAULT_THRESHOLD]["tp"], table[DEFAULT_THRESHOLD]["fp"], table[DEFAULT_THRESHOLD]["fn"]) == (4, 0, 0)
    assert table[0.9]["fp"] > 0, "a threshold far too high names strangers"


def test_the_decisions_at_the_best_threshold_are_listed_per_face(report):
    result = report["aggregations"][report["chosen"]["aggregation"]]
    probes = [d for d in result["decisions"] if d["truth"] == "obama"]
    assert len(probes) == 4 and all(d["decision"] == "obama" and d["outcome"] == "TP" for d in probes)
    assert all(d["outcome"] == "TN" for d in result["decisions"] if d["truth"] is None)
    assert report["chosen"]["f1"] == 1.0


def test_a_gallery_photo_without_a_face_is_skipped_and_reported(folders, tmp_path):
    import cv2

    gallery = tmp_path / "gallery"
    shutil.copytree(folders / "gallery", gallery)
    cv2.imwrite(str(gallery / "obama" / "wall.jpg"), cv2.imread(str(DATA / "obama.jpg"))[:150, :150])
    report = evaluate_identity(gallery, folders / "probes", folders / "impostors", thresholds=[0.5],
                               aggregations=["top1"], augment=None)
    assert [s["image"].endswith("wall.jpg") for s in report["skipped"]] == [True]


def test_an_unknown_metric_is_a_value_error(folders):
    with pytest.raises(ValueError, match="metric.*'manhattan'"):
        evaluate_identity(folders / "gallery", folders / "probes", folders / "impostors", metric="manhattan")

"""``vcam eval emotion`` on the committed labelled expressions: real photos, real models, a real process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vcam.errors import ConfigError
from vcam.evaluate import IMAGE_SUFFIXES
from vcam.evaluate_emotion import ENSEMBLE, labelled_photos, mcnemar_p, score
from vcam.manifest import emotion_models
from vcam.types import EMOTIONS

EXPRESSIONS = Path(__file__).parent / "data" / "expressions"


def vcam(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    return subprocess.run([sys.executable, "-m", "vcam.cli", *args], capture_output=True, text=True, timeout=300,
                          env=env)


def committed_counts() -> dict[str, int]:
    """Pictures per class folder of the committed set, counted from the files."""
    return {d.name: sum(p.suffix.lower() in IMAGE_SUFFIXES for p in d.iterdir())
            for d in sorted(EXPRESSIONS.iterdir()) if d.is_dir()}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path_factory.mktemp("eval") / "emotion.json"
    result = vcam("eval", "emotion", "--labels", str(EXPRESSIONS), "--json", str(out), "--runs", "1")
    assert result.returncode == 0, result.stderr
    return result, json.loads(out.read_text())


def test_the_committed_set_is_named_by_vcam_classes_and_every_face_is_found(run):
    _, report = run
    assert set(committed_counts()) <= set(EMOTIONS)
    assert report["counts"] == committed_counts() and report["skipped"] == []
    assert len(report["faces"]) == sum(committed_counts().values())


def test_every_emotion_model_and_their_ensemble_are_reported(run):
    result, report = run
    assert list(report["models"]) == [*emotion_models(), ENSEMBLE]
    for name in report["models"]:
        assert any(line.startswith(name + " ") for line in result.stdout.splitlines()), result.stdout
        assert f"{name}: rows the label, columns the top class" in result.stdout


def test_accuracy_and_recall_are_what_the_confusion_matrix_says(run):
    _, report = run
    for s in report["models"].values():
        confusion = np.array(s["confusion"])
        assert confusion.shape == (len(EMOTIONS), len(EMOTIONS))
        assert confusion.sum() == s["n"] == len(report["faces"])
        assert s["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
        rows = {EMOTIONS[i]: confusion[i] for i in range(len(EMOTIONS))}
        assert {c: int(r.sum()) for c, r in rows.items() if r.sum()} == report["counts"]
        recall = {c: r[EMOTIONS.index(c)] / r.sum() for c, r in rows.items() if r.sum()}
        assert s["recall"] == pytest.approx(recall)
        assert s["macro_recall"] == pytest.approx(np.mean(list(recall.values())))


def test_the_confusion_matrix_counts_each_face_answer(run):
    _, report = run
    for name, s in report["models"].items():
        counted = np.zeros((len(EMOTIONS), len(EMOTIONS)), int)
        for face in report["faces"]:
            counted[EMOTIONS.index(face["label"]), EMOTIONS.index(face["said"][name])] += 1
            assert face["said"][name] == EMOTIONS[int(np.argmax(face["probs"][name]))]
        assert counted.tolist() == s["confusion"]


def test_the_ensemble_is_the_mean_of_the_models_and_costs_their_sum(run):
    _, report = run
    models = [m for m in report["models"] if m != ENSEMBLE]
    for face in report["faces"]:
        mean = np.mean([face["probs"][m] for m in models], axis=0)
        assert np.allclose(face["probs"][ENSEMBLE], mean, atol=1e-3)
        assert sum(face["probs"][ENSEMBLE]) == pytest.approx(1.0, abs=1e-3)
    assert report["models"][ENSEMBLE]["ms"] == pytest.approx(sum(report["models"][m]["ms"] for m in models), abs=2e-3)
    assert all(report["models"][m]["ms"] > 0 for m in models)


def test_every_pair_of_rows_is_compared_on_the_same_faces(run):
    result, report = run
    names = list(report["models"])
    assert [(p["first"], p["second"]) for p in report["paired"]] == [
        (a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    for pair in report["paired"]:
        right = {m: [f["said"][m] == f["label"] for f in report["faces"]] for m in (pair["first"], pair["second"])}
        first, second = right[pair["first"]], right[pair["second"]]
        assert pair["only_first"] == sum(a and not b for a, b in zip(first, second))
        assert pair["only_second"] == sum(b and not a for a, b in zip(first, second))
        assert pair["p"] == pytest.approx(mcnemar_p(pair["only_first"], pair["only_second"]), abs=1e-4)
        assert f"{pair['first']} {pair['only_first']} vs {pair['second']} {pair['only_second']}" in result.stdout


def test_mcnemar_s_exact_p_is_the_two_sided_binomial_tail():
    assert mcnemar_p(0, 0) == 1.0 and mcnemar_p(3, 3) == 1.0
    assert mcnemar_p(0, 6) == pytest.approx(2 / 64) and mcnemar_p(6, 0) == pytest.approx(2 / 64)
    assert mcnemar_p(1, 3) == pytest.approx(2 * 5 / 16)
    assert mcnemar_p(2, 12) == pytest.approx(0.0129, abs=1e-4)


def test_score_counts_rows_by_label_and_columns_by_top_class():
    probs = np.eye(len(EMOTIONS), dtype=np.float32)[[3, 3, 4, 3, 6]]  # happy, happy, sad, happy, neutral
    s = score(["happy", "happy", "sad", "neutral", "neutral"], probs, 1.5)
    happy, sad, neutral = (EMOTIONS.index(c) for c in ("happy", "sad", "neutral"))
    assert s["confusion"][happy][happy] == 2 and s["confusion"][neutral][happy] == 1
    assert s["confusion"][neutral][neutral] == 1 and s["confusion"][sad][sad] == 1
    assert s["accuracy"] == pytest.approx(4 / 5)
    assert s["recall"] == pytest.approx({"happy": 1.0, "sad": 1.0, "neutral": 0.5})
    assert s["macro_recall"] == pytest.approx(2.5 / 3) and s["ms"] == 1.5


def test_a_folder_not_named_after_a_class_is_refused_by_name(tmp_path):
    (tmp_path / "happy").mkdir()
    (tmp_path / "joy").mkdir()
    shutil.copy(EXPRESSIONS / "happy" / "obama.jpg", tmp_path / "happy")
    with pytest.raises(ConfigError, match="joy"):
        labelled_photos(tmp_path)
    with pytest.raises(ConfigError, match="--labels"):
        labelled_photos(tmp_path / "missing")


def test_an_unknown_model_is_refused_before_anything_runs():
    result = vcam("eval", "emotion", "--labels", str(EXPRESSIONS), "--models", "emotion-nope")
    assert result.returncode != 0 and "emotion-nope" in result.stderr and "emotion-fer" in result.stderr

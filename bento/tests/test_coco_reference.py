"""The fixture tests/fixtures/coco-agreement.json is what pycocotools computes on its detections.

tests/test_detection_metrics.py holds `evaluate`'s metrics (mini_streamio.detection_metrics) to the
pycocotools numbers stored there; this test keeps those numbers honest.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.coco_reference import FIXTURE, fixture


def test_when_the_fixture_is_regenerated_then_its_images_and_pycocotools_scores_are_unchanged() -> None:
    stored: dict[str, Any] = json.loads(FIXTURE.read_text())
    fresh: dict[str, Any] = json.loads(json.dumps(fixture()))
    assert [c["name"] for c in stored["cases"]] == [c["name"] for c in fresh["cases"]]
    for stored_case, fresh_case in zip(stored["cases"], fresh["cases"], strict=True):
        assert stored_case["images"] == fresh_case["images"], stored_case["name"]
        assert _flat(stored_case["pycocotools"]) == pytest.approx(_flat(fresh_case["pycocotools"]), abs=1e-12)


def _flat(scores: dict[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in scores.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[prefix + key] = value
    return flat


def test_when_cases_are_generated_then_they_cover_what_the_comparison_needs() -> None:
    cases = fixture()["cases"]
    images = [image for case in cases for image in case["images"]]
    truth_classes = {b["classId"] for image in images for b in image["groundTruth"]}
    predicted = [p for image in images for p in image["predictions"]]
    confidences = [p["confidence"] for p in predicted]
    assert truth_classes == {0, 1, 2, 3}
    assert 4 in {p["classId"] for p in predicted}  # a class predicted but never labelled
    assert len(set(confidences)) < len(confidences)  # ties in confidence
    assert min(confidences) < 0.1 < 0.9 < max(confidences)
    assert any(not image["predictions"] and image["groundTruth"] for image in images)  # all missed
    assert any(image["predictions"] and not image["groundTruth"] for image in images)  # only false positives
    random_cases = [c["pycocotools"] for c in cases if c["name"].startswith("random")]
    assert all(0.2 < c["mAP50"] < 0.9 and c["mAP50_95"] < c["mAP50"] for c in random_cases)

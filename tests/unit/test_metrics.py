"""The request metrics: each request counted under its labels, each labelled series looked up once."""

from __future__ import annotations

import pytest
from prometheus_client import Counter, Histogram

from modelport.metrics import Metrics


def _value(metrics: Metrics, name: str, labels: dict[str, str]) -> float | None:
    return metrics.collectors.get_sample_value(name, labels)


def test_requests_are_counted_by_their_labels_and_each_series_is_looked_up_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metrics = Metrics()
    looked_up: list[tuple[str, ...]] = []
    for kind in (Counter, Histogram):
        labels = kind.labels

        def counting(self: Counter | Histogram, *values: str, labels: object = labels) -> object:
            looked_up.append(values)
            return labels(self, *values)  # type: ignore[operator]

        monkeypatch.setattr(kind, "labels", counting)
    for _ in range(3):
        metrics.request_finished("m", "/v1/embeddings", 200, 0.002)
    metrics.request_finished(None, "unmatched", 404, 0.5)
    metrics.embedding_batch("m", 4)
    metrics.embedding_batch("m", 8)

    seconds = {"model": "m", "endpoint": "/v1/embeddings"}
    assert _value(metrics, "modelport_requests_total", {**seconds, "status": "200"}) == 3
    assert _value(metrics, "modelport_requests_total", {"model": "", "endpoint": "unmatched", "status": "404"}) == 1
    assert _value(metrics, "modelport_request_duration_seconds_count", seconds) == 3
    assert _value(metrics, "modelport_request_duration_seconds_sum", seconds) == pytest.approx(0.006)
    assert _value(metrics, "modelport_request_duration_seconds_bucket", {**seconds, "le": "0.005"}) == 3
    assert _value(metrics, "modelport_embedding_batch_size_sum", {"model": "m"}) == 12
    assert sorted(looked_up) == sorted(
        [("m", "/v1/embeddings", "200"), ("m", "/v1/embeddings"), ("", "unmatched", "404"), ("", "unmatched"), ("m",)]
    )

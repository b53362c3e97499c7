"""The explicit list of detectors an engine runs. No import-time discovery: callers register.

Third parties add their own detector classes with ``registry.register(MyDetector.from_policy(p))``
(see docs/detectors.md, "Writing a detector").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from detectors.base import Detector


class DuplicateDetectorError(ValueError):
    pass


class DetectorRegistry:
    def __init__(self) -> None:
        self._detectors: dict[str, Detector[Any]] = {}

    def register(self, detector: Detector[Any]) -> Detector[Any]:
        if detector.name in self._detectors:
            raise DuplicateDetectorError(f"a detector named {detector.name!r} is already registered")
        self._detectors[detector.name] = detector
        return detector

    def get(self, name: str) -> Detector[Any]:
        return self._detectors[name]

    def names(self) -> list[str]:
        return list(self._detectors)

    def __iter__(self) -> Iterator[Detector[Any]]:
        return iter(list(self._detectors.values()))

    def __len__(self) -> int:
        return len(self._detectors)

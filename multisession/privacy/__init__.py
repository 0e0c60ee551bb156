"""Privacy: what a memory or message holds, by sensitivity class and detector.

Every write is classified offline (:class:`SensitivityClassifier`, configured by
:class:`PrivacyConfig`); the class and the detectors that fired are stored beside the
text, so memories can be listed, counted, reported and erased by class.
"""

from __future__ import annotations

from .classifier import (
    DEFAULT_CLASSES,
    DEFAULT_DETECTOR_CLASSES,
    Classification,
    PrivacyConfig,
    SensitivityClassifier,
)
from .detectors import DETECTORS, Detection, Detector

__all__ = [
    "DEFAULT_CLASSES",
    "DEFAULT_DETECTOR_CLASSES",
    "DETECTORS",
    "Classification",
    "Detection",
    "Detector",
    "PrivacyConfig",
    "SensitivityClassifier",
]

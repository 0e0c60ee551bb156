"""Sensitivity classes: which detectors run, which class each implies, and a custom hook.

A text's class is the highest class among the detectors that fired in it, or the lowest
class when none did. The defaults follow the usual split of data-protection law:
contact details and birth dates are *personal*; payment and bank details, identity
numbers, credentials and the special categories (health, sexual orientation, religion,
political opinion) are *sensitive*.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from ..errors import ConfigurationError
from .detectors import DETECTORS, Detection, Detector, screen

__all__ = [
    "DEFAULT_CLASSES",
    "DEFAULT_DETECTOR_CLASSES",
    "Classification",
    "PrivacyConfig",
    "SensitivityClassifier",
]

#: The classes from least to most sensitive.
DEFAULT_CLASSES: Final = ("public", "personal", "sensitive")

#: Which class each built-in detector implies.
DEFAULT_DETECTOR_CLASSES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "email": "personal",
        "phone": "personal",
        "street_address": "personal",
        "date_of_birth": "personal",
        "payment_card": "sensitive",
        "iban": "sensitive",
        "national_id": "sensitive",
        "credential": "sensitive",
        "health": "sensitive",
        "sexual_orientation": "sensitive",
        "religion": "sensitive",
        "political_opinion": "sensitive",
    }
)


@dataclass(frozen=True)
class Classification:
    """What a text was found to hold.

    Attributes:
        sensitivity: The text's class.
        detections: Every finding, in the order of the text.
    """

    sensitivity: str
    detections: tuple[Detection, ...] = ()

    @property
    def detectors(self) -> list[str]:
        """The names of the detectors that fired, sorted, each once."""
        return sorted({detection.detector for detection in self.detections})


@dataclass(frozen=True)
class PrivacyConfig:
    """How memories and messages are classified on every write.

    Example:
        >>> config = PrivacyConfig(detector_classes={"email": "sensitive"})
        >>> SensitivityClassifier(config).classify("mail me: ann@example.org").sensitivity
        'sensitive'

    Attributes:
        classes: The class names from least to most sensitive; the first is given to
            text in which nothing was found.
        detector_classes: The class each detector implies; entries given here replace
            the defaults' (:data:`DEFAULT_DETECTOR_CLASSES`). A built-in detector left
            without a class (mapped to ``None``) does not run.
        custom: An extra classifier, called with the text after the built-in detectors:
            a callable ``text -> iterable of Detection`` (a model, a service, more
            rules). Its detectors need a class in ``detector_classes``; a name without
            one counts as the highest class, so an unknown finding is never under-rated.
    """

    classes: tuple[str, ...] = DEFAULT_CLASSES
    detector_classes: Mapping[str, str | None] = field(default_factory=dict)
    custom: Callable[[str], Iterable[Detection]] | None = None

    def __post_init__(self) -> None:
        if (
            not isinstance(self.classes, tuple)
            or not self.classes
            or not all(isinstance(name, str) and name for name in self.classes)
            or len(set(self.classes)) != len(self.classes)
        ):
            raise ConfigurationError(
                "PrivacyConfig.classes must be a non-empty tuple of distinct names from "
                f"least to most sensitive, e.g. ('public', 'personal', 'sensitive'); got "
                f"{self.classes!r}"
            )
        if not isinstance(self.detector_classes, Mapping):
            raise ConfigurationError(
                "PrivacyConfig.detector_classes must map detector names to class names, "
                f"e.g. {{'email': 'sensitive'}}; got {self.detector_classes!r}"
            )
        for detector, name in self.resolved_classes().items():
            if name not in self.classes:
                raise ConfigurationError(
                    f"detector {detector!r} maps to class {name!r}, which is not one of "
                    f"PrivacyConfig.classes {self.classes}: add it there or map the "
                    "detector to one of them"
                )
        if self.custom is not None and not callable(self.custom):
            raise ConfigurationError(
                "PrivacyConfig.custom must be a callable text -> iterable of Detection"
            )

    def resolved_classes(self) -> dict[str, str]:
        """Each running detector's class: the defaults with this config's entries over them."""
        merged: dict[str, str | None] = {**DEFAULT_DETECTOR_CLASSES, **self.detector_classes}
        return {name: value for name, value in merged.items() if value is not None}


class SensitivityClassifier:
    """Classifies text with the built-in detectors and the configured hook.

    Example:
        >>> classifier = SensitivityClassifier()
        >>> result = classifier.classify("my card is 4111 1111 1111 1111")
        >>> result.sensitivity, result.detectors
        ('sensitive', ['payment_card'])
    """

    def __init__(self, config: PrivacyConfig | None = None) -> None:
        self.config = config or PrivacyConfig()
        self._classes = self.config.resolved_classes()
        self._rank = {name: rank for rank, name in enumerate(self.config.classes)}
        self._detectors: tuple[tuple[str, Detector], ...] = tuple(
            (name, detector) for name, detector in DETECTORS.items() if name in self._classes
        )

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names, least sensitive first."""
        return self.config.classes

    def classify(self, text: str) -> Classification:
        """The class of a text and every detection in it.

        Raises:
            ConfigurationError: The custom classifier failed or returned something
                other than detections (the write it was called for stores nothing).
        """
        found: list[Detection] = []
        possible = screen(text)  # the detectors that cannot fire are not run
        if possible:
            for name, detector in self._detectors:
                if name in possible:
                    found.extend(detector(text))
        if self.config.custom is not None:
            found.extend(self._custom(text))
        if not found:
            return Classification(self.config.classes[0])
        top = len(self.config.classes) - 1
        rank = max(
            self._rank[self._classes[d.detector]] if d.detector in self._classes else top
            for d in found
        )
        found.sort(key=lambda detection: (detection.start, detection.end, detection.detector))
        return Classification(self.config.classes[rank], tuple(found))

    def _custom(self, text: str) -> list[Detection]:
        assert self.config.custom is not None
        try:
            extra = list(self.config.custom(text))
        except Exception as error:
            raise ConfigurationError(
                f"the custom privacy classifier failed ({type(error).__name__}): fix it or "
                "leave PrivacyConfig.custom unset; nothing was stored"
            ) from error
        for item in extra:
            if not isinstance(item, Detection):
                raise ConfigurationError(
                    "the custom privacy classifier must return Detection objects, got "
                    f"{type(item).__name__}; nothing was stored"
                )
        return extra

    def rank(self, sensitivity: str) -> int:
        """A class's position, 0 for the least sensitive; raises ValueError if unknown."""
        try:
            return self._rank[sensitivity]
        except KeyError:
            raise ValueError(
                f"unknown sensitivity class {sensitivity!r}: use one of {self.config.classes}"
            ) from None

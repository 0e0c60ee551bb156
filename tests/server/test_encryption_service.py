"""The service on an encrypted store: the key from the environment, no content in its
log, and a deletion receipt that says the user's data key was destroyed."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import start_service, stop_service


def test_the_receipt_says_the_data_key_was_destroyed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTISESSION_MASTER_KEY", bytes(range(32)).hex())
    service = start_service(tmp_path / "store", "--slow-search-ms", "0", keys={"acme": ("acme",)})
    try:
        with service.client("acme") as acme:
            made = acme.post(
                "/v1/users/ines/memories",
                json={"content": "I was diagnosed with epilepsy", "metadata": {"dr": "Quill"}},
            )
            assert made.status_code == 201, made.text
            assert made.json()["sensitivity"] == "sensitive"
            hits = acme.post("/v1/users/ines/search", json={"query": "epilepsy"}).json()
            assert hits["hits"][0]["memory"]["metadata"] == {"dr": "Quill"}
            receipt = acme.delete("/v1/users/ines")
            assert receipt.status_code == 200, receipt.text
            assert receipt.json()["data_key_destroyed"] is True
            assert "epilepsy" not in receipt.text
            # A user whose content was never encrypted had no key to destroy.
            acme.post("/v1/users/jon/memories", json={"content": "I like tea"})
            assert acme.delete("/v1/users/jon").json()["data_key_destroyed"] is False
    finally:
        stop_service(service)
    log = service.log.read_text()
    assert "slow search" in log  # every search was logged, with the user hashed
    assert "epilepsy" not in log and "Quill" not in log

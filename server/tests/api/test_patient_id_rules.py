"""patient_id values that could never be addressed again are refused up front."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize("bad", ["a/b", "/leading", "tab\there", "nul\x00"])
async def test_unaddressable_patient_ids_are_400(api: httpx.AsyncClient, bad: str) -> None:
    for path, body in (
        ("/patients", {"patient_id": bad}),
        ("/sessions", {"patient_id": bad, "return_url": "https://app.example.com/back"}),
    ):
        response = await api.post(path, json=body)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["code"], error["param"]) == ("invalid_data", "patient_id")

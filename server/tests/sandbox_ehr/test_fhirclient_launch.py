"""A full standalone launch driven by PyPI ``fhirclient`` (SMART's Python client) against the
sandbox running as a real server.

fhirclient 4.4 does PKCE itself: ``FHIROAuth2Auth._authorize_params`` adds a random
``code_verifier``'s S256 ``code_challenge`` and ``code_challenge_method=S256`` to the authorize
URL and sends ``code_verifier`` with the code exchange, so the test adds nothing to its URL. It
discovers the OAuth endpoints from the CapabilityStatement's ``oauth-uris`` extension and sends
``aud`` = the FHIR base URL. The login and consent pages are driven with httpx by following the
pages' forms, as a browser would.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fhirclient import client
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient
from sandbox_helpers import ALBERTO, PASSWORD, PUBLIC_CLIENT, PUBLIC_REDIRECT, Portal


def test_standalone_launch_with_fhirclient(sandbox_url: str) -> None:
    fhir_base = f"{sandbox_url}/normal/fhir"
    smart = client.FHIRClient(
        settings={
            "app_id": PUBLIC_CLIENT,
            "api_base": fhir_base,
            "redirect_uri": PUBLIC_REDIRECT,
            "scope": "openid fhirUser offline_access patient/*.read",
        }
    )
    authorize_url = smart.authorize_url
    query = parse_qs(urlsplit(authorize_url).query)
    assert authorize_url.startswith(f"{sandbox_url}/normal/oauth/authorize?")
    assert query["code_challenge_method"] == ["S256"]
    assert query["aud"] == [fhir_base]
    assert "launch/patient" in query["scope"][0]

    portal = Portal(sandbox_url)
    try:
        redirect = portal.follow_url(authorize_url, ALBERTO[0], PASSWORD)
    finally:
        portal.close()
    assert redirect.startswith(PUBLIC_REDIRECT + "?")

    smart.handle_callback(redirect)
    assert smart.ready
    assert smart.patient_id == ALBERTO[1]
    assert smart.launch_context is not None
    assert "id_token" in smart.launch_context
    first_access_token = smart.server.auth.access_token
    first_refresh_token = smart.server.auth.refresh_token
    assert first_refresh_token

    patient = Patient.read(smart.patient_id, smart.server)
    assert patient.name[0].family == "Atencio"

    search = Observation.where(struct={"patient": smart.patient_id, "_count": "7"})
    bundles = list(search.perform_iter(smart.server))
    assert len(bundles) > 1  # followed next links
    observations = [entry.resource for bundle in bundles for entry in bundle.entry or []]
    assert len(observations) == bundles[0].total == 35
    assert len({o.id for o in observations}) == 35
    assert all(o.subject.reference == f"Patient/{ALBERTO[1]}" for o in observations)

    assert smart.reauthorize()
    assert smart.server.auth.access_token != first_access_token
    assert smart.server.auth.refresh_token != first_refresh_token
    again = Patient.read(smart.patient_id, smart.server)
    assert again.id == ALBERTO[1]

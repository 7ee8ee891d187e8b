"""What an endpoint URL says about itself: vendor type, FHIR version, and whether it belongs here.

Vendor `type` decides which OAuth client registration applies by default (one per vendor
developer program), so it names the program, not the product: Allscripts and Veradigm are
one `veradigm`; healow is eClinicalWorks' patient brand, so `eclinicalworks`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ehrconnect.catalog.text import fold


@dataclass(frozen=True)
class Vendor:
    type: str
    display: str
    #: Extra words a patient might type for this vendor (indexed on the source's primary name).
    keywords: str = ""


VENDORS: dict[str, Vendor] = {
    v.type: v
    for v in (
        Vendor("epic", "Epic", "epic mychart epic systems"),
        Vendor("cerner", "Oracle Health (Cerner)", "cerner oracle health millennium"),
        Vendor("athena", "athenahealth", "athenahealth athena athenaone athenaclinicals"),
        Vendor("meditech", "MEDITECH", "meditech expanse"),
        Vendor("eclinicalworks", "eClinicalWorks", "eclinicalworks ecw healow"),
        Vendor("nextgen", "NextGen Healthcare", "nextgen"),
        Vendor("veradigm", "Veradigm (Allscripts)", "veradigm allscripts touchworks"),
        Vendor("practicefusion", "Practice Fusion", "practice fusion patient fusion"),
        Vendor("greenway", "Greenway Health", "greenway intergy prime suite"),
        Vendor("altera", "Altera Digital Health", "altera sunrise paragon"),
        Vendor("meldrx", "MeldRx (Darena Solutions)", "meldrx darena"),
        Vendor("modmed", "Modernizing Medicine", "modmed ema modernizing medicine"),
    )
}

#: Folded vendor names (from Lantern's file names / CHPL list) -> type.
_NAME_RULES: tuple[tuple[str, str], ...] = (
    ("epic", "epic"),
    ("cerner", "cerner"),
    ("oracle health", "cerner"),
    ("athena", "athena"),
    ("meditech", "meditech"),
    ("medical information technology", "meditech"),
    ("eclinicalworks", "eclinicalworks"),
    ("healow", "eclinicalworks"),
    ("nextgen", "nextgen"),
    ("veradigm", "veradigm"),
    ("allscripts", "veradigm"),
    ("practice fusion", "practicefusion"),
    ("greenway", "greenway"),
    ("altera", "altera"),
    ("darena", "meldrx"),
    ("modernizing medicine", "modmed"),
)

#: Lists that gather many vendors' endpoints: their file says nothing about the vendor.
AGGREGATOR_LISTS = frozenset({"1up", "careevolution", "lantern", "medicaidstate", "medicaid state"})

#: Host suffix -> type, for endpoints whose list does not name the vendor.
_HOST_RULES: tuple[tuple[str, str], ...] = (
    ("epichosted.com", "epic"),
    ("cerner.com", "cerner"),
    ("athenahealth.com", "athena"),
    ("healow.com", "eclinicalworks"),
    ("eclinicalworks.com", "eclinicalworks"),
    ("nextgen.com", "nextgen"),
    ("allscripts.com", "veradigm"),
    ("allscriptscloud.com", "veradigm"),
    ("allscriptstw.com", "veradigm"),
    ("practicefusion.com", "practicefusion"),
    ("patientfusion.com", "practicefusion"),
    ("greenwayhealth.com", "greenway"),
    ("meldrx.com", "meldrx"),
    ("ema-api.com", "modmed"),
)

_CORPORATE_SUFFIX = re.compile(r"\b(inc|llc|corp|corporation|co|ltd|lp|llp|plc)\b|\b\d+$")
_DSTU2_SEGMENTS = frozenset({"dstu2", "stu2", "r2", "dstu1", "argonaut"})
_STU3_SEGMENTS = frozenset({"stu3", "dstu3", "r3"})
_R4_SEGMENTS = frozenset({"r4", "fhir-r4", "r4b"})


def vendor_type_from_list_name(list_name: str) -> str | None:
    """The vendor type a single-vendor list's name implies; None for aggregator lists.

    Unknown vendors get a slug of their name ("Carepaths, Inc." -> "carepaths"), so their
    endpoints still share one default OAuth client registration.
    """
    folded = fold(list_name)
    if folded.replace(" ", "") in {a.replace(" ", "") for a in AGGREGATOR_LISTS}:
        return None
    for needle, vendor_type in _NAME_RULES:
        if needle in folded:
            return vendor_type
    slug = "-".join(_CORPORATE_SUFFIX.sub(" ", folded).split())
    return slug[:64] or None


def vendor_type_from_url(url: str) -> str | None:
    """The vendor a FHIR base URL's host (or Epic's well-known path) gives away, if any."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    for suffix, vendor_type in _HOST_RULES:
        if host == suffix or host.endswith("." + suffix):
            return vendor_type
    path = parts.path.lower()
    # Epic's Interconnect path: .../api/FHIR/R4 behind a FHIRProxy or Interconnect instance.
    if "/api/fhir/" in path and ("fhirproxy" in path or "interconnect" in path):
        return "epic"
    return None


def vendor_words(vendor_type: str | None) -> str:
    """Folded words indexed for a vendor (its type, display name and keywords)."""
    if not vendor_type:
        return ""
    vendor = VENDORS.get(vendor_type)
    text = f"{vendor_type.replace('-', ' ')} {vendor.display} {vendor.keywords}" if vendor else vendor_type
    return " ".join(dict.fromkeys(fold(text).split()))


def vendor_display(vendor_type: str | None) -> str | None:
    if not vendor_type:
        return None
    vendor = VENDORS.get(vendor_type)
    return vendor.display if vendor else None


def fhir_version_from_url(url: str) -> str | None:
    """"1.0.2" (DSTU2), "3.0.2" (STU3) or "4.0.1" (R4) when a path segment names the version.

    Meditech's `/argonaut/` endpoints implement the Argonaut Data Query guide, a DSTU2 profile.
    """
    segments = [s for s in urlsplit(url).path.lower().split("/") if s]
    for segment in segments:
        if segment in _DSTU2_SEGMENTS:
            return "1.0.2"
        if segment in _STU3_SEGMENTS:
            return "3.0.2"
    if any(s in _R4_SEGMENTS for s in segments):
        return "4.0.1"
    return None


def is_r4(version: str | None) -> bool:
    """R4 (4.0.x) or R4B (4.3.x); an unknown version is given the benefit of the doubt."""
    return version is None or version.startswith("4")


def skip_reason(url: str, environment: str) -> str | None:
    """Why an endpoint does not belong in a patient-facing catalog, or None.

    - `not_fhir_base`: documentation pages listed as endpoints (…/http.html).
    - `provider_facing`: Oracle Health publishes separate provider (`fhir-ehr*`) and patient
      (`fhir-myrecord*`) bases; patients authorize only against the latter.
    - `open_endpoint`: unauthenticated "open" bases (Allscripts/Altera `.../open`,
      `.../open-r4`, Oracle `fhir-open`) cannot carry a patient's authorization.
    - live only: `insecure_url` (SMART App Launch requires TLS) and `private_host`.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = parts.path.lower()
    segments = [s for s in path.split("/") if s]
    if path.endswith((".html", ".htm", ".pdf")) or host in {"hl7.org", "www.hl7.org", "build.fhir.org"}:
        return "not_fhir_base"
    if host.endswith("cerner.com") and host.startswith("fhir-ehr"):
        return "provider_facing"
    if host.startswith("fhir-open.") or any(s == "open" or s.startswith("open-") for s in segments):
        return "open_endpoint"
    if environment == "live":
        if parts.scheme != "https":
            return "insecure_url"
        if _is_private_host(host):
            return "private_host"
    return None


def _is_private_host(host: str) -> bool:
    if host == "localhost" or host.endswith((".local", ".localhost", ".internal", ".lan")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host
    return address.is_private or address.is_loopback or address.is_link_local

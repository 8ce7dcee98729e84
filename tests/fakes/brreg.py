"""A fake of Enhetsregisteret's open data API, faithful to its OpenAPI document.

It answers ``GET {base}/enhetsregisteret/api/enheter/{organisasjonsnummer}`` (and the same for
``underenheter``) from an in-memory table, with bodies shaped like the document's ``Enhet``
schema, ``_links`` included. Per the document, 404 ("Enheten finnes ikke") and 410 ("Enheten er
fjernet") carry no content, and a 200 is ``application/json`` or
``application/vnd.enhetsregisteret.enhet.v1+json`` as the ``Accept`` header asks; any other
``Accept`` gets 406.

The document (brreg/openAPI ``specs/enhetsregisteret.json``) does not list the address fields
or ``slettedato``; its schemas allow extra properties, and the fake adds those fields in the
shape the live service answers with (``adresse`` lines, ``postnummer``, ``poststed``,
``land``, ``landkode``, ``kommune``, ``kommunenummer``).

Failures on demand: :meth:`FakeBrreg.fail` makes the next requests end in a refused connection,
a read timeout or a 5xx; :meth:`FakeBrreg.serve_raw` answers one number with any bytes.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError

__all__ = ["BASE_URL", "Failure", "FakeBrreg", "address", "enhet"]

BASE_URL = "https://data.brreg.no"
API = f"{BASE_URL}/enhetsregisteret/api"
_MEDIA = ("application/json", "application/vnd.enhetsregisteret.enhet.v1+json")
_PATH = re.compile(rf"^{re.escape(API)}/(enheter|underenheter)/([^/?#]+)$")

Failure = Literal["refused", "timeout", "500", "502", "503", "504"]

ORG_FORMS = {
    "AS": "Aksjeselskap",
    "ASA": "Allmennaksjeselskap",
    "ENK": "Enkeltpersonforetak",
    "NUF": "Norskregistrert utenlandsk foretak",
    "DA": "Selskap med delt ansvar",
}


def _links(href: str) -> dict[str, Any]:
    return {"self": {"href": href}}


def address(
    lines: list[str], postnummer: str, poststed: str, *, landkode: str = "NO"
) -> dict[str, Any]:
    """An address object as the live service writes one."""
    return {
        "land": "Norge" if landkode == "NO" else landkode,
        "landkode": landkode,
        "postnummer": postnummer,
        "poststed": poststed,
        "adresse": lines,
        "kommune": poststed,
        "kommunenummer": "0301",
    }


def enhet(orgnr: str, navn: str, *, orgform: str = "AS", **fields: Any) -> dict[str, Any]:
    """A unit shaped like the ``Enhet`` schema, with the live service's defaults."""
    body: dict[str, Any] = {
        "organisasjonsnummer": orgnr,
        "navn": navn,
        "organisasjonsform": {
            "kode": orgform,
            "beskrivelse": ORG_FORMS.get(orgform, orgform),
            "_links": _links(f"{API}/organisasjonsformer/{orgform}"),
        },
        "registreringsdatoEnhetsregisteret": "2019-03-01",
        "registrertIMvaregisteret": True,
        "naeringskode1": {"kode": "62.010", "beskrivelse": "Programmeringstjenester"},
        "antallAnsatte": 4,
        "institusjonellSektorkode": {"kode": "2100", "beskrivelse": "Private aksjeselskaper mv."},
        "registrertIForetaksregisteret": True,
        "registrertIStiftelsesregisteret": False,
        "registrertIFrivillighetsregisteret": False,
        "konkurs": False,
        "underAvvikling": False,
        "underTvangsavviklingEllerTvangsopplosning": False,
        "maalform": "Bokmål",
        "forretningsadresse": address(["Testgata 1"], "0150", "OSLO"),
        "_links": _links(f"{API}/enheter/{orgnr}"),
    }
    body.update(fields)
    return body


@dataclass
class _Raw:
    body: bytes
    content_type: str
    status: int = 200


class FakeBrreg:
    """The registry's table and failure plan; :meth:`install` registers it on ``responses``."""

    def __init__(self) -> None:
        self.enheter: dict[str, dict[str, Any]] = {}
        self.underenheter: dict[str, dict[str, Any]] = {}
        self.removed: set[str] = set()
        self.raw: dict[str, _Raw] = {}
        self._failures: deque[Failure] = deque()
        self.down: Failure | None = None

    # the table ---------------------------------------------------------------------------

    def add(self, orgnr: str, navn: str, **fields: Any) -> dict[str, Any]:
        self.enheter[orgnr] = enhet(orgnr, navn, **fields)
        return self.enheter[orgnr]

    def remove_for_legal_reasons(self, orgnr: str) -> None:
        self.enheter.pop(orgnr, None)
        self.removed.add(orgnr)

    def serve_raw(
        self, orgnr: str, body: bytes, content_type: str = "application/json", status: int = 200
    ) -> None:
        """Answer ``orgnr`` with exactly these bytes: for hostile-body tests."""
        self.raw[orgnr] = _Raw(body, content_type, status)

    def fail(self, kind: Failure, times: int = 1) -> None:
        """The next ``times`` requests fail this way (before the table is consulted)."""
        self._failures.extend([kind] * times)

    # responses plumbing ------------------------------------------------------------------

    def install(self, rsps: responses.RequestsMock) -> None:
        rsps.add_callback(responses.GET, _PATH, callback=self._answer)
        rsps.add_callback(responses.HEAD, _PATH, callback=self._answer)

    def _answer(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        failure = self._failures.popleft() if self._failures else self.down
        if failure is not None:
            return self._failure(failure, request)
        match = _PATH.match(request.url or "")
        assert match is not None  # responses only calls us for matching URLs
        collection, orgnr = match.groups()
        media = _negotiate(request.headers.get("Accept", "*/*"))
        if media is None:
            return 406, {}, b""
        if orgnr in self.raw:
            raw = self.raw[orgnr]
            return raw.status, {"Content-Type": raw.content_type}, raw.body
        if orgnr in self.removed:
            return 410, {}, b""
        table = self.enheter if collection == "enheter" else self.underenheter
        if orgnr not in table:
            return 404, {}, b""
        body = json.dumps(table[orgnr], ensure_ascii=False).encode()
        return 200, {"Content-Type": f"{media};charset=UTF-8"}, body

    @staticmethod
    def _failure(
        kind: Failure, request: requests.PreparedRequest
    ) -> tuple[int, dict[str, str], bytes]:
        if kind == "refused":
            reason = NewConnectionError(None, "Failed to establish a new connection: refused")  # type: ignore[arg-type]
            raise requests.exceptions.ConnectionError(
                MaxRetryError(None, request.url or "", reason),  # type: ignore[arg-type]
                request=request,
            )
        if kind == "timeout":
            raise requests.exceptions.ReadTimeout("read timed out", request=request)
        return int(kind), {}, b""  # the document's "default: Udefinert feil" has no content


def _negotiate(accept: str) -> str | None:
    """The media type to answer with, or None when the ``Accept`` header allows neither."""
    for item in accept.split(","):
        media = item.split(";")[0].strip().lower()
        if media in _MEDIA:
            return media
        if media in {"*/*", "application/*"}:
            return _MEDIA[0]
    return None

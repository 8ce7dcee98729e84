"""The postal register: which postal codes exist in a country, and the city each belongs to.

Washing checks a debtor's postal code and city against it (``address.postal_code_unknown``,
``address.city_mismatch``). The register ships with the package as one small text file per
country in ``quality/data/`` (``postal_NO.tsv``: ``postal code<TAB>city``, ``#`` comments), so
washing needs no network; where the data came from, its date and licence are in
``quality/data/SOURCES.md``.

:func:`refresh_register` replaces a country's file from a published register: Bring's
*Postnummerregister* (tab-separated ``postnummer, poststed, kommunenummer, kommune, kategori``,
Windows-1252) for Norway, or a GeoNames postal-code dump (``NO.zip`` / ``NO.txt``) for any
country. The new file is written to a temporary name and renamed, so a reader never sees half
a register.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from claimbridge.errors import ParseError, UsageError
from claimbridge.quality.address import normalize_postal_code

__all__ = [
    "DATA_DIR",
    "PostalCodeRegister",
    "RefreshResult",
    "RegisterFormat",
    "default_register",
    "load_register",
    "parse_bring",
    "parse_geonames",
    "read_register_file",
    "refresh_register",
    "register_path",
    "write_register_file",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
RegisterFormat = Literal["bring", "geonames"]

_MAX_DOWNLOAD = 32 * 1024 * 1024  # a whole country's register is well under 2 MB
_MAX_CITY = 100


def register_path(country: str, directory: Path = DATA_DIR) -> Path:
    """Where the register file of ``country`` lives in ``directory``."""
    return directory / f"postal_{country.upper()}.tsv"


class PostalCodeRegister:
    """Postal codes and their cities, per country, read from register files on first use.

    ``tables`` gives registers directly (tests, a caller's own data); otherwise each country's
    file is read from ``directory`` the first time that country is asked for. A country with
    no file is not covered: washing then checks only the code's format, never calls every
    code of that country unknown.
    """

    def __init__(
        self,
        tables: Mapping[str, Mapping[str, str]] | None = None,
        *,
        directory: Path | None = DATA_DIR,
    ) -> None:
        self._directory = directory
        self._tables: dict[str, dict[str, str] | None] = {
            country.upper(): dict(table) for country, table in (tables or {}).items()
        }

    def _table(self, country: str) -> dict[str, str] | None:
        country = country.upper()
        if country not in self._tables:
            path = None if self._directory is None else register_path(country, self._directory)
            self._tables[country] = (
                read_register_file(path) if path is not None and path.is_file() else None
            )
        return self._tables[country]

    def covers(self, country: str) -> bool:
        """True if the register knows the postal codes of ``country``."""
        return self._table(country) is not None

    def lookup(self, country: str, postal_code: str) -> str | None:
        """The city of ``postal_code`` in ``country``, or None if it is not in the register."""
        table = self._table(country)
        if table is None:
            return None
        city = table.get(postal_code)
        if city is None:
            written = normalize_postal_code(postal_code, country.upper())
            city = table.get(written) if written is not None else None
        return city

    def __len__(self) -> int:
        return sum(len(t) for t in self._tables.values() if t is not None)


def load_register(directory: Path = DATA_DIR) -> PostalCodeRegister:
    """A register over the files in ``directory`` (the shipped data by default)."""
    return PostalCodeRegister(directory=directory)


_DEFAULT: PostalCodeRegister | None = None


def default_register() -> PostalCodeRegister:
    """The register over the shipped data, shared by every washer (files read once)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_register()
    return _DEFAULT


# --- the register file ------------------------------------------------------------------------


def read_register_file(path: Path) -> dict[str, str]:
    """``postal code -> city`` from a register file; a malformed line is a ParseError."""
    table: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParseError(
            f"postal register unreadable ({type(exc).__name__})", file=path.name
        ) from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        code, sep, city = line.partition("\t")
        if not sep or not code or not city.strip() or "\t" in city:
            raise ParseError("expected 'postal code<TAB>city'", file=path.name, line=number)
        table[code] = city.strip()
    return table


def write_register_file(
    path: Path, country: str, entries: Mapping[str, str], *, source: str
) -> None:
    """Write ``entries`` sorted, with a header naming the source, atomically (temp + rename)."""
    today = datetime.now(UTC).date().isoformat()
    lines = [
        f"# postal register {country.upper()}: postal code<TAB>city",
        f"# source: {source}; fetched {today}",
        *(f"{code}\t{entries[code]}" for code in sorted(entries)),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write("\n".join(lines) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- published formats ------------------------------------------------------------------------


def _decode(data: bytes, *, name: str) -> str:
    """UTF-8 if it is, else Windows-1252 (Bring's 'ANSI' file)."""
    if b"\x00" in data:
        raise ParseError("binary data where a text register was expected", file=name)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _add(
    table: dict[str, str], country: str, code: str, city: str, *, name: str, line: int
) -> None:
    written = normalize_postal_code(code, country)
    city = " ".join(city.split())
    if written is None:
        raise ParseError(f"not a postal code of {country}", file=name, line=line, field="code")
    if not city or len(city) > _MAX_CITY:
        raise ParseError("missing or overlong city name", file=name, line=line, field="city")
    table.setdefault(written, city)


def parse_bring(data: bytes, *, name: str = "Postnummerregister") -> dict[str, str]:
    """Bring's register: ``postnummer, poststed, kommunenummer, kommune, kategori`` per line.

    A header line (a first field that is not a number) is skipped; any other line that does not
    fit is a ParseError naming the line.
    """
    table: dict[str, str] = {}
    for number, line in enumerate(_decode(data, name=name).splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if number == 1 and not fields[0].strip().isdigit():
            continue
        if len(fields) < 2:
            raise ParseError("expected tab-separated fields", file=name, line=number)
        _add(table, "NO", fields[0].strip(), fields[1], name=name, line=number)
    return table


def parse_geonames(data: bytes, country: str, *, name: str = "geonames") -> dict[str, str]:
    """A GeoNames postal-code dump (``XX.zip`` or its ``XX.txt``) for ``country``.

    Columns: country code, postal code, place name, then admin areas and coordinates. Where
    GeoNames lists several places for one code, the first is kept.
    """
    country = country.upper()
    if data[:4] == b"PK\x03\x04":
        data = _unzip_member(data, f"{country}.txt", name=name)
    table: dict[str, str] = {}
    for number, line in enumerate(_decode(data, name=name).splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            raise ParseError("expected tab-separated fields", file=name, line=number)
        if fields[0].strip().upper() != country:
            continue
        _add(table, country, fields[1], fields[2], name=name, line=number)
    return table


def _unzip_member(data: bytes, member: str, *, name: str) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo(member)
            if info.file_size > _MAX_DOWNLOAD:
                raise ParseError(f"{member} is too large to be a postal register", file=name)
            return archive.read(info)
    except KeyError:
        raise ParseError(f"the archive has no {member}", file=name) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
        raise ParseError(f"unreadable zip archive ({type(exc).__name__})", file=name) from None


# --- refresh ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefreshResult:
    country: str
    path: Path
    entries: int


BRING_URL = "https://www.bring.no/postnummerregister-ansi.txt"
"""Posten/Bring's published Norwegian register (tab-separated, ISO-8859-1)."""


def _download(url: str) -> bytes:
    # Imported here: washing must not pull in the HTTP stack just to read the register.
    from claimbridge.transport.http import HttpClient, HttpSettings

    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    try:
        settings = HttpSettings(base_url=origin, timeout_read=120, max_retries=3)
    except ValueError as exc:
        raise UsageError(f"register URL rejected: {exc}") from None
    with HttpClient(settings, name="postal-register") as client:
        response = client.get(url)
    if len(response.content) > _MAX_DOWNLOAD:
        raise ParseError("download too large to be a postal register", file=parts.path)
    return response.content


def refresh_register(
    country: str,
    url: str,
    destination: Path = DATA_DIR,
    *,
    fmt: RegisterFormat | None = None,
    min_entries: int = 500,
) -> RefreshResult:
    """Download a published register for ``country`` and replace its file in ``destination``.

    ``fmt`` defaults to ``"bring"`` for NO and ``"geonames"`` elsewhere. A download with fewer
    than ``min_entries`` codes is refused (a truncated or wrong file must not replace a good
    register); the old file stays as it was on any error.
    """
    country = country.upper()
    fmt = fmt or ("bring" if country == "NO" else "geonames")
    if fmt == "bring" and country != "NO":
        raise UsageError("Bring's register holds Norwegian postal codes only")
    name = Path(urlsplit(url).path).name or url
    data = _download(url)
    table = parse_bring(data, name=name) if fmt == "bring" else parse_geonames(data, country)
    if len(table) < min_entries:
        raise ParseError(
            f"only {len(table)} postal codes found (at least {min_entries} expected); "
            "the register was not replaced",
            file=name,
        )
    path = register_path(country, destination)
    write_register_file(path, country, table, source=url)
    return RefreshResult(country, path, len(table))

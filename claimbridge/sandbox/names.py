"""Word lists for the sample ledgers: Norwegian names, streets, real postal codes with their cities.

Kept apart from the generators so the data can grow without touching the logic. Everything is
tuples (never sets) so that iteration order, and therefore every generated file, is fixed.
"""

from __future__ import annotations

__all__ = [
    "COMPANY_FORMS",
    "COMPANY_STEMS",
    "COMPANY_TRADES",
    "EMAIL_DOMAINS",
    "FEMALE_FIRST_NAMES",
    "MALE_FIRST_NAMES",
    "MONTHS_NB",
    "POSTAL_PLACES",
    "POSTBOX_PLACES",
    "SERVICES",
    "STREETS",
    "SURNAMES",
    "TYPO_DOMAINS",
]

MALE_FIRST_NAMES: tuple[str, ...] = (
    "Ole", "Per", "Lars", "Jan", "Bjørn", "Knut", "Eirik", "Håkon", "Øystein", "Jonas",
    "Jakob", "Magnus", "Aksel", "Henrik", "Sindre", "Tor", "Geir", "Arne", "Kjetil", "Trond",
    "Espen", "Morten", "Andreas", "Mohammed", "Ali", "Even", "Sverre", "Ådne", "Emil", "Kristian",
)  # fmt: skip

FEMALE_FIRST_NAMES: tuple[str, ...] = (
    "Kari", "Anne", "Ingrid", "Marit", "Nina", "Hilde", "Silje", "Ida", "Sigrid", "Åse",
    "Emma", "Nora", "Sofie", "Thea", "Ingeborg", "Liv", "Randi", "Tone", "Kristin", "Solveig",
    "Maja", "Hanne", "Mari", "Fatima", "Camilla", "Ragnhild", "Synnøve", "Tuva", "Frida", "Eva",
)  # fmt: skip

SURNAMES: tuple[str, ...] = (
    "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen",
    "Jensen", "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen",
    "Johannessen", "Andreassen", "Jacobsen", "Dahl", "Jørgensen", "Halvorsen", "Henriksen",
    "Lund", "Sørensen", "Moen", "Gundersen", "Iversen", "Strand", "Solberg", "Svendsen", "Eide",
    "Knutsen", "Martinsen", "Bakken", "Mathisen", "Lie", "Amundsen", "Nguyen", "Rasmussen",
    "Lunde", "Solheim", "Berge", "Nygård", "Bakke", "Holm", "Lien", "Hauge", "Sæther", "Aas",
    "Myhre", "Ahmed", "Haugland", "Sandvik", "Rønning", "Næss", "Vik", "Ødegård", "Bøe",
    "Tveit", "Brekke", "Ruud", "Aasen", "Strøm", "Myklebust", "Kowalski", "Helland", "Aune",
)  # fmt: skip

COMPANY_STEMS: tuple[str, ...] = (
    "Fjord", "Nordlys", "Vestkyst", "Fjell", "Skog", "Havblikk", "Midnattsol", "Polar",
    "Bryggen", "Tindekjær", "Solsiden", "Elvebredd", "Lofot", "Trollheim", "Sentrum", "Viking",
    "Bølgen", "Furulund", "Kystlys", "Haugen", "Bakkebyen", "Nordkapp", "Østlandet", "Sørlandet",
)  # fmt: skip

COMPANY_TRADES: tuple[str, ...] = (
    "Bygg", "Rør", "Elektro", "Maling", "Regnskap", "Transport", "Frisør", "Kafé", "Bakeri",
    "Snekkerverksted", "Eiendom", "Havbruk", "Tannlegesenter", "Blomster", "Bilverksted",
    "Graving", "Renhold", "Catering", "Invest", "Data", "Tak", "Gartneri",
)  # fmt: skip

# Aksjeselskap, allmennaksjeselskap, enkeltpersonforetak: weighted towards AS, as in reality.
COMPANY_FORMS: tuple[str, ...] = ("AS", "AS", "AS", "AS", "AS", "ENK", "ENK", "ASA")

STREETS: tuple[str, ...] = (
    "Storgata", "Kirkegata", "Dronningens gate", "Kongens gate", "Skolegata", "Parkveien",
    "Strandveien", "Solbakken", "Granveien", "Bjørkeveien", "Furuveien", "Eikeveien",
    "Lønneveien", "Markveien", "Thorvald Meyers gate", "Jernbanegata", "Fjellveien", "Sjøgata",
    "Øvre Slottsgate", "Industriveien", "Havnegata", "Torggata", "Bygdøy allé", "Kvernhusveien",
    "Åsveien", "Nedre Storgate", "Prestegårdsveien", "Ringveien", "Sandbakken", "Løkkeveien",
)  # fmt: skip

# Real postal codes with the post town as Posten writes it (upper case).
POSTAL_PLACES: tuple[tuple[str, str], ...] = (
    ("0150", "OSLO"), ("0151", "OSLO"), ("0250", "OSLO"), ("0468", "OSLO"), ("0554", "OSLO"),
    ("0661", "OSLO"), ("0956", "OSLO"), ("1337", "SANDVIKA"), ("1400", "SKI"), ("1530", "MOSS"),
    ("1606", "FREDRIKSTAD"), ("2000", "LILLESTRØM"), ("2317", "HAMAR"),
    ("2609", "LILLEHAMMER"), ("2815", "GJØVIK"), ("3015", "DRAMMEN"), ("3111", "TØNSBERG"),
    ("3210", "SANDEFJORD"), ("3616", "KONGSBERG"), ("3724", "SKIEN"), ("3915", "PORSGRUNN"),
    ("4006", "STAVANGER"), ("4306", "SANDNES"), ("4610", "KRISTIANSAND S"), ("4836", "ARENDAL"),
    ("5003", "BERGEN"), ("5014", "BERGEN"), ("5527", "HAUGESUND"), ("6002", "ÅLESUND"),
    ("6413", "MOLDE"), ("6800", "FØRDE"), ("7010", "TRONDHEIM"), ("7030", "TRONDHEIM"),
    ("7600", "LEVANGER"), ("8006", "BODØ"), ("8514", "NARVIK"), ("9008", "TROMSØ"),
    ("9600", "HAMMERFEST"), ("9900", "KIRKENES"),
)  # fmt: skip

# Postal codes reserved for post-office boxes (postboks) in the same towns.
POSTBOX_PLACES: tuple[tuple[str, str], ...] = (
    ("0101", "OSLO"), ("4001", "STAVANGER"), ("7401", "TRONDHEIM"), ("8001", "BODØ"),
)  # fmt: skip

EMAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com", "gmail.com", "hotmail.com", "online.no", "outlook.com", "yahoo.no",
    "icloud.com", "live.no",
)  # fmt: skip

# Misspellings people really type; the washer should catch each of them.
TYPO_DOMAINS: tuple[str, ...] = ("gmial.com", "hotmial.com", "gmail.co", "online.nno", "yahooo.no")

# What an electricity / telecom supplier invoices for, with the billing month appended.
SERVICES: tuple[str, ...] = (
    "Strøm", "Strøm", "Nettleie", "Mobilabonnement", "Mobilabonnement", "Bredbånd 500/500",
    "TV og bredbånd", "Fastpris strøm",
)  # fmt: skip

MONTHS_NB: tuple[str, ...] = (
    "januar", "februar", "mars", "april", "mai", "juni", "juli", "august", "september",
    "oktober", "november", "desember",
)  # fmt: skip

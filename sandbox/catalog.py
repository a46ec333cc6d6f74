"""The deterministic catalog: generation from a seed, visibility, prices, drift and sync pages.

``generate(n, seed)`` always yields the same offers for the same ``(n, seed)``: mobile-game
top-ups (some needing a game server), game codes, platform gift cards by region, Telegram Stars
and the documented test offer 999. Products are repeated as regional / edition variants until
``n`` offers exist. Offer ids are numeric, increasing with small gaps, and never change.

The catalog is stored in the state file (so a restart does not regenerate it) and mirrored in
memory, where each offer's sync row is kept pre-serialised: a 5,000-row sync page is a join of
cached byte strings, which is what keeps it far below 100 ms. Any change made through the admin
API bumps ``meta.catalog_version`` and updates the in-memory mirror in place; a version that moved
under us (another process) forces a full reload.

Prices are per unit, in the offer's currency, with two decimals. The optional price drift moves a
deterministic share of prices in each time bucket (see ``Catalog.price``). An account may have
its own price and / or stock for an offer (``AccountTerms``, table ``account_offers``): they are
few, read from the state file per request, and their sync rows are built fresh, never cached.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sandbox import wire
from sandbox.money import DEFAULT_FX, round_price

TEST_OFFER_ID = 999

COMPATIBLE = {
    "FIAT": frozenset({"FIAT", "MIXED"}),
    "USDT": frozenset({"USDT", "MIXED"}),
    "MIXED": frozenset({"FIAT", "USDT", "MIXED"}),
}

TOP_UP = "Top Up"
GIFT_CARDS = "Gift Cards"
CATEGORY_ALIASES = {
    "top up": TOP_UP,
    "top_up": TOP_UP,
    "topup": TOP_UP,
    "gift cards": GIFT_CARDS,
    "gift_card": GIFT_CARDS,
    "gift_cards": GIFT_CARDS,
}

REGIONS = (("US", "USD"), ("EU", "EUR"), ("TR", "TRY"), ("KZ", "KZT"), ("RU", "RUB"))

GIFT_DENOMINATIONS = {
    "USD": (5, 10, 20, 25, 50, 100),
    "EUR": (5, 10, 20, 25, 50, 100),
    "TRY": (50, 100, 250, 500, 1000),
    "KZT": (2000, 5000, 10000, 20000),
    "RUB": (500, 1000, 2000, 3000, 5000),
}

GIFT_CARDS_PLATFORMS = (
    "Steam Wallet",
    "PlayStation Network",
    "Xbox",
    "Google Play",
    "App Store & iTunes",
    "Razer Gold",
    "Nintendo eShop",
    "Roblox",
    "Valorant",
    "Spotify Premium",
)

SERVERS = {
    "genshin": {
        "Europe": "os_euro",
        "America": "os_usa",
        "Asia": "os_asia",
        "TW, HK, MO": "os_cht",
    },
    "hsr": {
        "Europe": "prod_official_eur",
        "America": "prod_official_usa",
        "Asia": "prod_official_asia",
        "TW, HK, MO": "prod_official_cht",
    },
    "zzz": {
        "Europe": "prod_gf_eu",
        "America": "prod_gf_us",
        "Asia": "prod_gf_jp",
        "TW, HK, MO": "prod_gf_sg",
    },
    "ww": {"Europe": "eu", "America": "na", "Asia": "asia", "SEA": "sea", "HMT": "hmt"},
}

HOYO_PACKS = ((60, 0.99), (330, 4.99), (1090, 14.99), (2240, 29.99), (3880, 49.99), (8080, 99.99))

#: (game, unit, [(amount, usd price)], server list key, name of a key/code variant)
GAMES = (
    (
        "PUBG Mobile",
        "UC",
        ((60, 0.99), (325, 4.99), (660, 9.99), (1800, 24.99), (3850, 49.99), (8100, 99.99)),
        None,
        "PUBG MOBILE GIFT",
    ),
    (
        "Mobile Legends",
        "Diamonds",
        (
            (86, 1.49),
            (172, 2.99),
            (257, 4.49),
            (344, 5.99),
            (514, 8.99),
            (706, 11.99),
            (2195, 36.99),
        ),
        None,
        None,
    ),
    ("Genshin Impact", "Genesis Crystals", HOYO_PACKS, "genshin", None),
    (
        "Free Fire",
        "Diamonds",
        ((100, 0.99), (310, 2.99), (520, 4.99), (1060, 9.99), (2180, 19.99), (5600, 49.99)),
        None,
        "Free Fire Diamonds Code",
    ),
    ("Honkai: Star Rail", "Oneiric Shards", HOYO_PACKS, "hsr", None),
    ("Zenless Zone Zero", "Monochrome", HOYO_PACKS, "zzz", None),
    (
        "Wuthering Waves",
        "Lunite",
        ((60, 0.99), (300, 4.99), (980, 14.99), (1980, 29.99), (3280, 49.99), (6480, 99.99)),
        "ww",
        None,
    ),
    (
        "Call of Duty: Mobile",
        "CP",
        ((80, 0.99), (420, 4.99), (880, 9.99), (2400, 24.99), (5000, 49.99)),
        None,
        "COD Mobile CP Code",
    ),
    (
        "Clash of Clans",
        "Gems",
        ((80, 0.99), (500, 4.99), (1200, 9.99), (2500, 19.99), (6500, 49.99)),
        None,
        None,
    ),
    (
        "Brawl Stars",
        "Gems",
        ((30, 1.99), (80, 4.99), (170, 9.99), (360, 19.99), (950, 49.99)),
        None,
        None,
    ),
    (
        "Honor of Kings",
        "Tokens",
        ((16, 0.19), (80, 0.99), (240, 2.99), (400, 4.99), (800, 9.99), (2000, 24.99)),
        None,
        None,
    ),
    (
        "Blood Strike",
        "Gold",
        ((100, 0.99), (300, 2.99), (500, 4.99), (1000, 9.99), (2000, 19.99)),
        None,
        None,
    ),
    (
        "Arena Breakout",
        "Bonds",
        ((60, 0.99), (310, 4.99), (630, 9.99), (1580, 24.99), (3200, 49.99)),
        None,
        None,
    ),
    ("Delta Force", "Coins", ((60, 0.99), (320, 4.99), (660, 9.99), (1800, 24.99)), None, None),
)

STARS = ((50, "0.39"), (100, "0.77"), (500, "3.85"), (1000, "7.70"))

EDITIONS = (
    "Global",
    "Direct",
    "Express",
    "Instant",
    "Official",
    "Promo",
    "Partner",
    "Prime",
    "Select",
    "Value",
)

OFFER_COLUMNS = (
    "id",
    "product_id",
    "product_name",
    "offer_name",
    "category",
    "price",
    "currency",
    "in_stock",
    "listed",
    "settlement",
    "kind",
    "is_key",
    "req_user",
    "req_server",
    "servers",
    "count",
    "stars",
)


@dataclass(slots=True)
class Offer:
    """One offer group (the ``offerId`` a client buys)."""

    id: int
    product_id: int
    product_name: str
    offer_name: str
    category: str
    price: Decimal
    currency: str
    in_stock: bool
    listed: bool
    settlement: str
    kind: str  # "key", "topup", "stars" or "test"
    is_key: bool
    req_user: bool
    req_server: bool
    servers: dict[str, str] | None
    count: int
    stars: int
    name_lc: str = ""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Offer:
        return cls(
            id=row["id"],
            product_id=row["product_id"],
            product_name=row["product_name"],
            offer_name=row["offer_name"],
            category=row["category"],
            price=Decimal(row["price"]),
            currency=row["currency"],
            in_stock=bool(row["in_stock"]),
            listed=bool(row["listed"]),
            settlement=row["settlement"],
            kind=row["kind"],
            is_key=bool(row["is_key"]),
            req_user=bool(row["req_user"]),
            req_server=bool(row["req_server"]),
            servers=json.loads(row["servers"]) if row["servers"] else None,
            count=row["count"],
            stars=row["stars"],
            name_lc=row["product_name"].lower(),
        )


@dataclass(frozen=True, slots=True)
class AccountTerms:
    """One account's own price and / or stock for one offer (``None``: the catalog's)."""

    price: Decimal | None
    in_stock: bool | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AccountTerms:
        return cls(
            price=None if row["price"] is None else Decimal(row["price"]),
            in_stock=None if row["in_stock"] is None else bool(row["in_stock"]),
        )


# -- generation -----------------------------------------------------------------------------


def _templates() -> list[dict[str, Any]]:
    """Every product of one generation round: (name, category, kind, currency, offers...)."""
    templates: list[dict[str, Any]] = []
    for game, unit, packs, servers, code_name in GAMES:
        for region, currency in REGIONS:
            suffix = "" if region == "US" else f" ({region})"
            templates.append(
                {
                    "name": game + suffix,
                    "category": TOP_UP,
                    "kind": "topup",
                    "currency": currency,
                    "servers": SERVERS.get(servers) if servers else None,
                    "offers": [(f"{amount} {unit}", usd, None) for amount, usd in packs],
                }
            )
            if code_name:
                templates.append(
                    {
                        "name": code_name + suffix,
                        "category": GIFT_CARDS,
                        "kind": "key",
                        "currency": currency,
                        "servers": None,
                        "offers": [(f"{amount} {unit}", usd, None) for amount, usd in packs],
                    }
                )
    for platform in GIFT_CARDS_PLATFORMS:
        for region, currency in REGIONS:
            templates.append(
                {
                    "name": f"{platform} {region}",
                    "category": GIFT_CARDS,
                    "kind": "key",
                    "currency": currency,
                    "servers": None,
                    "offers": [
                        (f"{face} {currency}", None, face) for face in GIFT_DENOMINATIONS[currency]
                    ],
                }
            )
    return templates


def _price(rng: random.Random, usd: float | None, face: int | None, currency: str) -> Decimal:
    """A sensible price in ``currency``: face value or game pack value, with a small markup."""
    markup = Decimal(str(round(rng.uniform(0.93, 1.08), 4)))
    if face is not None:
        return round_price(Decimal(face) * markup)
    rate = Decimal(DEFAULT_FX[currency])
    return round_price(Decimal(str(usd)) / rate * markup)


def generate(n: int, seed: int) -> list[tuple]:
    """``n`` offer rows (offer 999 included) for the ``offers`` table, the same for one seed."""
    rng = random.Random(f"sandbox-catalog:{seed}")
    rows: list[tuple] = [
        (
            TEST_OFFER_ID,
            TEST_OFFER_ID,
            "Steam US",
            "TEST OFFER GROUP",
            GIFT_CARDS,
            "23.09",
            "KZT",
            1,
            1,
            "MIXED",
            "test",
            1,
            0,
            0,
            None,
            1,
            0,
        )
    ]
    product_id = 0
    offer_id = 1000

    def next_product() -> int:
        nonlocal product_id
        product_id += 1
        if product_id == TEST_OFFER_ID:
            product_id += 1
        return product_id

    def next_offer() -> int:
        nonlocal offer_id
        offer_id += rng.choice((1, 1, 1, 2, 3))
        return offer_id

    if n > 1:
        stars_product = next_product()
        for stars, price in STARS[: n - 1]:
            rows.append(
                (
                    next_offer(),
                    stars_product,
                    "Telegram Stars",
                    f"{stars} Stars",
                    TOP_UP,
                    price,
                    "USD",
                    1,
                    1,
                    "MIXED",
                    "stars",
                    1,
                    1,
                    0,
                    None,
                    1,
                    stars,
                )
            )
    templates = _templates()
    rng.shuffle(templates)
    round_no = 0
    while len(rows) < n:
        if round_no == 0:
            suffix = ""
        else:
            edition = EDITIONS[(round_no - 1) % len(EDITIONS)]
            lot = (round_no - 1) // len(EDITIONS)
            suffix = f" [{edition}]" if lot == 0 else f" [{edition} {lot + 1}]"
        for template in templates:
            if len(rows) >= n:
                break
            pid = next_product()
            kind = template["kind"]
            servers = template["servers"]
            for offer_name, usd, face in template["offers"]:
                if len(rows) >= n:
                    break
                price = _price(rng, usd, face, template["currency"])
                count = 1
                if kind == "key" and rng.random() < 0.03:
                    count = rng.choice((3, 5))
                    offer_name = f"{count} x {offer_name}"
                settlement = rng.choices(("FIAT", "USDT", "MIXED"), weights=(35, 35, 30))[0]
                in_stock = rng.random() < 0.94
                rows.append(
                    (
                        next_offer(),
                        pid,
                        template["name"] + suffix,
                        offer_name,
                        template["category"],
                        str(price),
                        template["currency"],
                        int(in_stock),
                        1,
                        settlement,
                        kind,
                        int(kind == "key"),
                        int(kind == "topup"),
                        int(kind == "topup" and servers is not None),
                        json.dumps(servers) if kind == "topup" and servers else None,
                        count,
                        0,
                    )
                )
        round_no += 1
    rows.sort(key=lambda row: row[0])
    return rows


def store(db: sqlite3.Connection, rows: Iterable[tuple]) -> None:
    placeholders = ",".join("?" for _ in OFFER_COLUMNS)
    db.executemany(
        f"INSERT INTO offers({','.join(OFFER_COLUMNS)}) VALUES ({placeholders})",  # noqa: S608
        rows,
    )


def normalise_category(value: str) -> str | None:
    """``"Top Up"``/``"TOP_UP"`` → ``"Top Up"``; an unknown category matches nothing."""
    return CATEGORY_ALIASES.get(value.strip().lower())


# -- the in-memory mirror -------------------------------------------------------------------


class Catalog:
    """The catalog as served: visibility, current prices, drift, and cached sync rows."""

    def __init__(self, state, seed: int) -> None:
        self.state = state
        self.seed = seed
        self.lock = threading.RLock()
        self.version: str | None = None
        self.offers: list[Offer] = []
        self.by_id: dict[int, Offer] = {}
        self._rows: dict[int, bytes] = {}
        self._filters: dict[tuple, list[Offer]] = {}
        self._drift_key: tuple | None = None
        self._drift: dict[int, Decimal] = {}

    # loading and versions

    def refresh(self) -> None:
        """Reload if the stored catalog version moved without us (cheap when it did not)."""
        version = self.state.meta("catalog_version", "0")
        if version != self.version:
            with self.lock:
                if version != self.version:
                    self._load(version)

    def _load(self, version: str) -> None:
        with self.state.read() as db:
            rows = db.execute("SELECT * FROM offers ORDER BY id").fetchall()
        self.offers = [Offer.from_row(row) for row in rows]
        self.by_id = {offer.id: offer for offer in self.offers}
        self._rows.clear()
        self._filters.clear()
        self._drift_key = None
        self._drift = {}
        self.version = version

    def bump(self, db: sqlite3.Connection) -> str:
        """Record a catalog change in the state file (inside the caller's transaction)."""
        row = db.execute("SELECT value FROM meta WHERE key = 'catalog_version'").fetchone()
        version = str(int(row["value"] if row else 0) + 1)
        self.state.set_meta(db, "catalog_version", version)
        return version

    # visibility and prices

    def visible(self, offer_id: int, profile: str) -> Offer | None:
        """The offer if it is listed and compatible with ``profile``; else ``None``."""
        offer = self.by_id.get(offer_id)
        if offer is None or not offer.listed:
            return None
        if offer.settlement not in COMPATIBLE.get(profile, COMPATIBLE["MIXED"]):
            return None
        return offer

    def _drift_for(self, settings: dict[str, Any], now: float) -> None:
        """Choose the drifted offers of the current time bucket (once per bucket).

        In bucket ``floor(now / price_drift_seconds)`` a share ``price_drift.share`` of the
        offers (never offer 999) is priced ``base * (1 ± up to pct %)``; all others are at their
        base price. Drift is not cumulative: each bucket draws afresh from (seed, bucket), so the
        same seed and time give the same prices in any process.
        """
        drift = settings.get("price_drift") or {}
        share = float(drift.get("share", 0) or 0)
        pct = float(drift.get("pct", 0) or 0)
        seconds = float(settings.get("price_drift_seconds") or 60)
        key = None
        if share > 0 and pct > 0:
            key = (int(now // seconds), share, pct)
        if key == self._drift_key:
            return
        chosen: dict[int, Decimal] = {}
        if key is not None:
            rng = random.Random(f"sandbox-drift:{self.seed}:{key[0]}")
            ids = [offer.id for offer in self.offers if offer.id != TEST_OFFER_ID]
            for offer_id in rng.sample(ids, min(len(ids), round(share * len(ids)))):
                step = pct * rng.uniform(0.2, 1.0) / 100
                sign = rng.choice((-1, 1))
                chosen[offer_id] = Decimal(str(round(1 + sign * step, 6)))
        for offer_id in self._drift.keys() | chosen.keys():
            self._rows.pop(offer_id, None)
        self._drift = chosen
        self._drift_key = key

    def price(
        self,
        offer: Offer,
        settings: dict[str, Any],
        now: float,
        terms: AccountTerms | None = None,
    ) -> Decimal:
        """The price a client sees (and must confirm) right now.

        An account's own price (``terms``) takes the place of the base price; drift moves it
        the same way.
        """
        base = terms.price if terms is not None and terms.price is not None else offer.price
        with self.lock:
            self._drift_for(settings, now)
            factor = self._drift.get(offer.id)
        if factor is None:
            return base
        drifted = round_price(base * factor)
        if drifted == base:
            drifted = round_price(base + (Decimal("0.01") if factor > 1 else Decimal("-0.01")))
        return drifted

    @staticmethod
    def in_stock(offer: Offer, terms: AccountTerms | None = None) -> bool:
        """Whether the offer can be bought, by the account's own stock state if it has one."""
        if terms is not None and terms.in_stock is not None:
            return terms.in_stock
        return offer.in_stock

    # per-account terms (few rows, read from the state file on each request)

    def account_terms(self, account_id: int) -> dict[int, AccountTerms]:
        """Every offer the account has its own price or stock for, by offer id."""
        with self.state.read() as db:
            rows = db.execute(
                "SELECT offer_id, price, in_stock FROM account_offers WHERE account_id = ?",
                (account_id,),
            ).fetchall()
        return {row["offer_id"]: AccountTerms.from_row(row) for row in rows}

    def terms_for(self, account_id: int, offer_id: int) -> AccountTerms | None:
        """The account's own terms for one offer, if any."""
        with self.state.read() as db:
            row = db.execute(
                "SELECT price, in_stock FROM account_offers WHERE account_id = ? AND offer_id = ?",
                (account_id, offer_id),
            ).fetchone()
        return AccountTerms.from_row(row) if row else None

    # sync

    def _row(
        self,
        offer: Offer,
        settings: dict[str, Any],
        now: float,
        terms: AccountTerms | None = None,
    ) -> bytes:
        """One sync row; only rows at the catalog's own terms are cached (shared by accounts)."""
        row = None if terms is not None else self._rows.get(offer.id)
        if row is None:
            price = self.price(offer, settings, now, terms)
            in_stock = self.in_stock(offer, terms)
            row = (
                f'{{"productId":{offer.product_id},"productName":{wire.quote(offer.product_name)},'
                f'"offerGroupId":{offer.id},"offerGroupName":{wire.quote(offer.offer_name)},'
                f'"price":{format(price, "f")},"currency":"{offer.currency}",'
                f'"inStock":{"true" if in_stock else "false"},'
                f'"isRequiredGameUserId":{"true" if offer.req_user else "false"},'
                f'"isRequiredGameServerId":{"true" if offer.req_server else "false"}}}'
            ).encode()
            if terms is None:
                self._rows[offer.id] = row
        return row

    def matching(self, profile: str, category: str | None, search: str | None) -> list[Offer]:
        """Listed offers visible to ``profile`` matching the filters, sorted by id (cached)."""
        key = (profile, category, search)
        found = self._filters.get(key)
        if found is None:
            methods = COMPATIBLE.get(profile, COMPATIBLE["MIXED"])
            needle = search.lower() if search else None
            found = [
                offer
                for offer in self.offers
                if offer.listed
                and offer.settlement in methods
                and (category is None or offer.category == category)
                and (needle is None or needle in offer.name_lc)
            ]
            if len(self._filters) > 256:
                self._filters.clear()
            self._filters[key] = found
        return found

    def sync_page(
        self,
        profile: str,
        category: str | None,
        search: str | None,
        page: int,
        limit: int,
        settings: dict[str, Any],
        now: float,
        nothing: bool = False,
        terms: dict[int, AccountTerms] | None = None,
    ) -> bytes:
        """The whole sync response body, built from cached rows and the account's own terms."""
        terms = terms or {}
        with self.lock:
            self._drift_for(settings, now)
            found = [] if nothing else self.matching(profile, category, search)
            start = (page - 1) * limit
            rows = b",".join(
                self._row(offer, settings, now, terms.get(offer.id))
                for offer in found[start : start + limit]
            )
        return b'{"count":%d,"rows":[%s]}' % (len(found), rows)

    # admin changes (the caller has already written them to the state file)

    def changed(self, version: str, offer_ids: Iterable[int], listing_changed: bool) -> None:
        """Re-read changed offers into the mirror after an admin change."""
        ids = list(offer_ids)
        with self.lock:
            if self.version is None:
                return
            if self.version != str(int(version) - 1):
                self._load(version)
                return
            with self.state.read() as db:
                for offer_id in ids:
                    row = db.execute("SELECT * FROM offers WHERE id = ?", (offer_id,)).fetchone()
                    fresh = Offer.from_row(row)
                    current = self.by_id.get(offer_id)
                    if current is None:
                        self._load(version)
                        return
                    for name in Offer.__slots__:
                        setattr(current, name, getattr(fresh, name))
                    self._rows.pop(offer_id, None)
            if listing_changed:
                self._filters.clear()
            self.version = version

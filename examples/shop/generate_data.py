"""Write data/events.jsonl: the shop's sample events, the same every time this runs.

A few hundred Segment-spec messages (identify, page and track calls) over the 60 days before
2026-11-28, with a handful of people whose outcome is known in advance:

- bob@example.com (u1): four orders above 100 in the last 40 days, so a high-value user.
- amy@example.com (u2): one big order, one small; not high value. She logs in on the browser
  bob used (anonymous id a1) without a reset, so a1 is seen with u1 and u2; identity resolution
  must not merge two user ids.
- carol@example.com (u3): adds a product to the cart two days before and never orders: a cart
  abandoner.
- dan@example.com (u4): signs up, adds a card, never subscribes: onboarding's not_subscribed.
- erin@example.com (u5): signs up, adds a card and subscribes.
- frank@example.com (u6): an enterprise plan; views an atlas three days before and never adds it.
- u90 and u91 both identify with team@company.com, a blocked value, so they stay apart.
- u100…u129: background shoppers with random (seeded) browsing and orders.

Usage: python generate_data.py [OUTPUT]   (default: data/events.jsonl next to this script)
"""

from __future__ import annotations

import json
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

AS_OF = datetime(2026, 11, 28, tzinfo=timezone.utc)
START = AS_OF - timedelta(days=60)
SHOP_URL = "https://shop.example.com"
CATEGORIES = ("outdoor", "kitchen", "books", "garden", "toys")
UTM_SOURCES = ("google", "newsletter", "facebook", None)
PLANS = ("free", "starter", "pro", "enterprise")
PRODUCTS = {
    f"p-{100 + index}": (name, CATEGORIES[index % len(CATEGORIES)], price)
    for index, (name, price) in enumerate([
        ("Trail tent", 240.0), ("Chef knife", 89.0), ("Field guide", 24.0), ("Pruning shears", 35.0),
        ("Kite", 19.0), ("Down jacket", 310.0), ("Cast iron pan", 65.0), ("Atlas", 45.0),
        ("Seed kit", 15.0), ("Puzzle", 22.0),
    ])
}


class Messages:
    """Collects messages; each gets a deterministic messageId once they are sorted by time."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def add(self, when: datetime, message: dict) -> None:
        self.items.append({"type": message.pop("type"), **message, "timestamp": _iso(when)})

    def identify(self, when: datetime, user_id: str, traits: dict, anonymous_id: str | None = None) -> None:
        message = {"type": "identify", "userId": user_id, "traits": traits}
        if anonymous_id:
            message["anonymousId"] = anonymous_id
        self.add(when, message)

    def page(self, when: datetime, path: str, title: str, *, user_id: str | None = None,
             anonymous_id: str | None = None, utm_source: str | None = None) -> None:
        url = SHOP_URL + path + (f"?utm_source={utm_source}" if utm_source else "")
        properties = {"path": path, "title": title, "url": url}
        context: dict = {"page": dict(properties)}
        if utm_source:
            properties["utm_source"] = utm_source
            context["campaign"] = {"source": utm_source, "medium": "referral"}
        self.add(when, {"type": "page", "name": title, **_ids(user_id, anonymous_id),
                        "properties": properties, "context": context})

    def track(self, when: datetime, event: str, properties: dict, *, user_id: str | None = None,
              anonymous_id: str | None = None) -> None:
        self.add(when, {"type": "track", "event": event, **_ids(user_id, anonymous_id), "properties": properties})

    def product(self, when: datetime, event: str, product_id: str, **ids) -> None:
        name, category, price = PRODUCTS[product_id]
        self.track(when, event, {"product_id": product_id, "name": name, "category": category, "price": price}, **ids)

    def order(self, when: datetime, order_id: str, product_ids: list[str], revenue: float,
              currency: str = "USD", **ids) -> None:
        products = [{"product_id": p, "category": PRODUCTS[p][1], "price": PRODUCTS[p][2]} for p in product_ids]
        self.track(when, "Order Completed", {
            "order_id": order_id, "revenue": revenue, "currency": currency,
            "category": PRODUCTS[product_ids[0]][1], "products": products,
        }, **ids)

    def sorted(self) -> list[dict]:
        ordered = sorted(self.items, key=lambda m: m["timestamp"])
        return [{"messageId": f"shop-{index:05d}", **message} for index, message in enumerate(ordered, start=1)]


def _ids(user_id: str | None, anonymous_id: str | None) -> dict:
    ids = {}
    if user_id:
        ids["userId"] = user_id
    if anonymous_id:
        ids["anonymousId"] = anonymous_id
    return ids


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def days_before(days: float, hour: int = 12) -> datetime:
    """A moment `days` before the as-of, at a fixed hour: the stories read in calendar days."""
    return (AS_OF - timedelta(days=days)).replace(hour=hour, minute=0, second=0)


def known_people(messages: Messages) -> None:
    # bob (u1) browses anonymously as a1, logs in, and orders big four times
    messages.page(days_before(45, 9), "/", "Home", anonymous_id="a1", utm_source="newsletter")
    messages.identify(days_before(45, 10), "u1", {"email": "bob@example.com", "name": "Bob", "plan": "pro"},
                      anonymous_id="a1")
    for day, order_id, products, revenue in [(38, "o-1001", ["p-100"], 240.0), (25, "o-1002", ["p-105"], 310.0),
                                             (12, "o-1003", ["p-100", "p-102"], 264.0),
                                             (4, "o-1004", ["p-105"], 150.0)]:
        messages.product(days_before(day, 8), "Product Viewed", products[0], user_id="u1", anonymous_id="a1")
        messages.product(days_before(day, 9), "Product Viewed", products[0], user_id="u1", anonymous_id="a1")
        messages.product(days_before(day, 10), "Product Added", products[0], user_id="u1", anonymous_id="a1")
        messages.order(days_before(day, 11), order_id, products, revenue, user_id="u1", anonymous_id="a1")
        messages.page(days_before(day, 12), "/orders", "Orders", user_id="u1", anonymous_id="a1")

    # amy (u2) logs in on the same browser (a1) without a reset; one big order, one small
    messages.identify(days_before(20, 18), "u2", {"email": "amy@example.com", "name": "Amy", "plan": "free"},
                      anonymous_id="a1")
    messages.page(days_before(20, 18), "/kitchen", "Kitchen", user_id="u2", anonymous_id="a1", utm_source="google")
    messages.product(days_before(20, 19), "Product Viewed", "p-101", user_id="u2", anonymous_id="a1")
    messages.order(days_before(19, 9), "o-2001", ["p-101", "p-106"], 154.0, user_id="u2", anonymous_id="a1")
    messages.order(days_before(6, 9), "o-2002", ["p-102"], 24.0, user_id="u2")

    # carol (u3) adds a tent to the cart two days ago and never orders
    messages.identify(days_before(30, 9), "u3", {"email": "carol@example.com", "name": "Carol", "plan": "starter"},
                      anonymous_id="a3")
    messages.page(days_before(2, 8), "/outdoor", "Outdoor", user_id="u3", anonymous_id="a3", utm_source="facebook")
    messages.product(days_before(2, 9), "Product Viewed", "p-100", user_id="u3", anonymous_id="a3")
    messages.product(days_before(2, 10), "Product Added", "p-100", user_id="u3", anonymous_id="a3")
    messages.page(days_before(2, 11), "/cart", "Cart", user_id="u3", anonymous_id="a3")

    # dan (u4) signs up and adds a card, but never subscribes
    messages.page(days_before(4, 9), "/signup", "Sign up", anonymous_id="a4", utm_source="google")
    messages.track(days_before(4, 10), "Signed Up", {"method": "email"}, user_id="u4", anonymous_id="a4")
    messages.identify(days_before(4, 10), "u4", {"email": "dan@example.com", "name": "Dan", "plan": "free"},
                      anonymous_id="a4")
    messages.track(days_before(4, 11), "Credit Card Added", {"brand": "visa"}, user_id="u4")

    # erin (u5) signs up, adds a card and subscribes
    messages.track(days_before(5, 10), "Signed Up", {"method": "google"}, user_id="u5")
    messages.identify(days_before(5, 10), "u5", {"email": "erin@example.com", "name": "Erin", "plan": "pro"})
    messages.track(days_before(5, 12), "Credit Card Added", {"brand": "mastercard"}, user_id="u5")
    messages.track(days_before(3, 9), "Subscribed", {"plan": "pro"}, user_id="u5")

    # frank (u6) is on the enterprise plan
    messages.identify(days_before(50, 9), "u6", {"email": "frank@example.com", "name": "Frank",
                                                 "plan": "enterprise"})
    messages.page(days_before(10, 9), "/books", "Books", user_id="u6", utm_source="newsletter")
    # … and looks at an atlas three days ago without adding it: a browse abandoner
    messages.product(days_before(3, 9), "Product Viewed", "p-107", user_id="u6")

    # two staff accounts share a team mailbox, a blocked value: they must stay two profiles
    for user_id in ("u90", "u91"):
        messages.identify(days_before(15, 9), user_id, {"email": "team@company.com", "plan": "free"})
        messages.page(days_before(15, 10), "/admin", "Admin", user_id=user_id)


def background_shoppers(messages: Messages, rng: random.Random) -> None:
    for number in range(100, 130):
        user_id, anonymous_id = f"u{number}", f"a{number}"
        first_seen = START + timedelta(hours=rng.randrange(0, 50 * 24))
        messages.page(first_seen, "/", "Home", anonymous_id=anonymous_id, utm_source=rng.choice(UTM_SOURCES))
        signed_up = first_seen + timedelta(minutes=rng.randrange(5, 120))
        messages.track(signed_up, "Signed Up", {"method": rng.choice(["email", "google"])},
                       user_id=user_id, anonymous_id=anonymous_id)
        messages.identify(signed_up, user_id, {"email": f"shopper{number}@example.net", "plan": rng.choice(PLANS)},
                          anonymous_id=anonymous_id)
        if rng.random() < 0.5:
            messages.track(signed_up + timedelta(hours=1), "Credit Card Added", {"brand": "visa"}, user_id=user_id)
        for visit in range(rng.randrange(1, 5)):
            when = first_seen + timedelta(hours=rng.randrange(2, 24 * 9))
            if when >= AS_OF:
                continue
            category = rng.choice(CATEGORIES)
            messages.page(when, f"/{category}", category.title(), user_id=user_id, anonymous_id=anonymous_id,
                          utm_source=rng.choice(UTM_SOURCES))
            product_id = rng.choice(sorted(PRODUCTS))
            messages.product(when + timedelta(minutes=3), "Product Viewed", product_id, user_id=user_id)
            if rng.random() < 0.5:
                messages.product(when + timedelta(minutes=6), "Product Added", product_id, user_id=user_id)
                if rng.random() < 0.6:
                    price = PRODUCTS[product_id][2]
                    currency = "EUR" if rng.random() < 0.1 else "USD"
                    messages.order(when + timedelta(minutes=9), f"o-{number}{visit}", [product_id], price,
                                   currency=currency, user_id=user_id)


def generate() -> list[dict]:
    messages = Messages()
    known_people(messages)
    background_shoppers(messages, random.Random(20261128))
    return messages.sorted()


def main(argv: list[str]) -> int:
    output = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent / "data" / "events.jsonl"
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8", newline="\n") as file:
        for message in generate():
            file.write(json.dumps(message, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

"""A deterministic generator of Segment-spec JSON lines for the benchmarks.

`python -m bench.generate OUT.jsonl --people N --events M [--seed S] [--offset-days D]`

N people, each with one to three devices (anonymous ids) and an email. Each device browses
anonymously (page calls, Product Viewed), then the person identifies (userId + anonymousId +
email traits) and goes on as a known user: Product Viewed, Product Added, Order Completed (revenue,
category), Signed Up, Credit Card Added, Subscribed and page calls. About 1% of people log in on a
shared kiosk whose anonymous id is never reset, and a few share the mailbox team@company.com —
the cases merge protection exists for. The same arguments always give the same bytes.
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2024, 1, 1, tzinfo=UTC)
CATEGORIES = ("shoes", "shirts", "books", "games", "garden", "kitchen")
PLANS = ("free", "pro", "team")
KIOSKS = 20
SHARED_MAILBOX = "team@company.com"
KNOWN_EVENTS = (
    ("Product Viewed", 40), ("Product Added", 15), ("page", 25), ("Order Completed", 8), ("Signed Up", 2),
    ("Credit Card Added", 2), ("Subscribed", 2),
)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def generate(path: str | Path, people: int, events: int, seed: int = 7, first_person: int = 0,
             offset_days: int = 0, message_prefix: str = "m") -> int:
    """Write about `events` messages for people `first_person`… to `path`; returns how many."""
    rng = random.Random(seed)
    per_person = max(events // max(people, 1), 4)
    names = [name for name, _ in KNOWN_EVENTS]
    weights = [weight for _, weight in KNOWN_EVENTS]
    written = 0
    counter = 0
    with open(path, "w", encoding="utf-8") as out:
        for person in range(first_person, first_person + people):
            user_id = f"user-{person}"
            roll = rng.random()
            email = SHARED_MAILBOX if roll < 0.001 else f"person{person}@example.com"
            devices = [f"anon-{person}-{d}-{seed}" for d in range(rng.randint(1, 3))]
            if roll > 0.99:
                devices[0] = f"kiosk-{rng.randrange(KIOSKS)}"
            moment = START + timedelta(days=offset_days + rng.random() * 300, seconds=rng.randrange(86400))
            budget = per_person + rng.randint(-2, 2)
            lines = []
            for device in devices:
                anonymous = rng.randint(1, 3)
                for _ in range(anonymous):
                    moment += timedelta(seconds=rng.randrange(30, 3600))
                    counter += 1
                    if rng.random() < 0.5:
                        lines.append(f'{{"type":"page","anonymousId":"{device}","messageId":"{message_prefix}{counter}",'
                                     f'"timestamp":"{_stamp(moment)}","properties":{{"path":"/p/{rng.randrange(500)}"}}}}')
                    else:
                        lines.append(f'{{"type":"track","event":"Product Viewed","anonymousId":"{device}",'
                                     f'"messageId":"{message_prefix}{counter}","timestamp":"{_stamp(moment)}",'
                                     f'"properties":{{"product_id":"p{rng.randrange(500)}","category":"{rng.choice(CATEGORIES)}"}}}}')
                moment += timedelta(seconds=rng.randrange(30, 3600))
                counter += 1
                lines.append(f'{{"type":"identify","userId":"{user_id}","anonymousId":"{device}",'
                             f'"messageId":"{message_prefix}{counter}","timestamp":"{_stamp(moment)}",'
                             f'"traits":{{"email":"{email}","plan":"{rng.choice(PLANS)}","name":"Person {person}"}}}}')
            known = max(budget - len(lines), 0)
            for _ in range(known):
                moment += timedelta(seconds=rng.randrange(60, 86400))
                counter += 1
                device = rng.choice(devices)
                name = rng.choices(names, weights)[0]
                head = (f'"userId":"{user_id}","anonymousId":"{device}","messageId":"{message_prefix}{counter}",'
                        f'"timestamp":"{_stamp(moment)}"')
                if name == "page":
                    lines.append(f'{{"type":"page",{head},"properties":{{"path":"/p/{rng.randrange(500)}"}}}}')
                elif name == "Order Completed":
                    lines.append(f'{{"type":"track","event":"Order Completed",{head},"properties":'
                                 f'{{"revenue":{rng.randrange(500, 50000) / 100},"category":"{rng.choice(CATEGORIES)}"}}}}')
                else:
                    lines.append(f'{{"type":"track","event":"{name}",{head},"properties":'
                                 f'{{"product_id":"p{rng.randrange(500)}","category":"{rng.choice(CATEGORIES)}"}}}}')
            out.write("\n".join(lines))
            out.write("\n")
            written += len(lines)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--first-person", type=int, default=0)
    parser.add_argument("--offset-days", type=int, default=0)
    args = parser.parse_args(argv)
    count = generate(args.out, args.people, args.events, args.seed, args.first_person, args.offset_days)
    print(f"{count:,} messages written to {args.out}")


if __name__ == "__main__":
    main()

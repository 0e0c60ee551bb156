"""Knowledge updates: after a fact changes, does search answer with the newest version?

Synthetic users, each with a year of everyday filler memories, chains of two or three
contradicting statements about personal slots (where they live, work, their role, diet,
phone, car, partner, a favourite, a weekly schedule, a tool they switched), each
statement worded differently, and old facts nothing replaced. Every slot is then asked
about in words of its own, as is every untouched fact.

Printed, for the lifecycle off and on and for the default settings and the ``recall``
preset:

- **newest first**: the share of chains whose newest statement is the first hit and
  none of whose older statements is in the top 5 (target >= 95 % with the lifecycle on);
- **untouched in top 5**: the share of old, never-replaced facts found in the top 5
  (target >= 98 %);
- how many memories the lifecycle marked, and how many of them were not chain
  statements (false supersessions).

Usage::

    .venv/bin/python benchmarks/knowledge_update.py
    .venv/bin/python benchmarks/knowledge_update.py --users 80 --seed 3
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

START = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)

# Each slot: values, statement wordings (the first statement of a chain, then changes),
# and question wordings. "{v}" is the value, "{o}" the previous value.
SLOTS: dict[str, dict[str, list[str]]] = {
    "residence": {
        "values": ["Porto", "Austin", "Lyon", "Leeds", "Denver", "Kraków", "Osaka", "Halifax"],
        "first": ["I live in {v}", "I've been living in {v} for a few years now"],
        "change": [
            "We just moved to {v}, still unpacking boxes",
            "I relocated to {v} last month for a fresh start",
            "Big news: I moved to {v}!",
            "These days I'm living in {v}",
        ],
        "questions": ["Which city is home these days?", "Where am I based right now?"],
    },
    "employer": {
        "values": ["Acme", "Globex", "Initech", "Umbrella Labs", "Hooli", "Stark Industries"],
        "first": ["I work at {v}", "I've worked for {v} since college"],
        "change": [
            "I joined {v} this week",
            "Started my new job at {v} today",
            "I accepted an offer from {v}",
            "I'm working at {v} now",
        ],
        "questions": ["Which company employs me?", "Who is my employer at the moment?"],
    },
    "role": {
        "values": [
            "data engineer",
            "product manager",
            "nurse",
            "graphic designer",
            "teacher",
            "software architect",
        ],
        "first": ["I work as a {v}", "I'm a {v}"],
        "change": [
            "I got promoted to {v}",
            "My job title is now {v}",
            "I retrained and now I work as a {v}",
        ],
        "questions": ["What is my job title?", "What's my current role at work?"],
    },
    "diet": {
        "values": ["vegetarian", "vegan", "pescatarian", "keto"],
        "first": ["I'm {v}", "I've been {v} for a while"],
        "change": ["I went {v} in the spring", "I'm {v} now", "I'm fully {v} these days"],
        "questions": ["What kind of diet do I follow?", "Am I on any particular diet?"],
    },
    "phone": {
        "values": ["iPhone 13", "Pixel 8", "Galaxy S23", "Fairphone 5", "iPhone 15"],
        "first": ["My phone is a {v}", "I use a {v} phone"],
        "change": [
            "I got a new {v} phone",
            "I bought a {v} phone on sale",
            "My new phone is a {v}",
        ],
        "questions": ["What phone do I carry?", "Which smartphone model do I have?"],
    },
    "car": {
        "values": ["Honda Civic", "Tesla Model 3", "Volvo XC40", "Ford Focus", "Mazda 3"],
        "first": ["I drive a {v}", "My car is a {v}"],
        "change": [
            "I bought a {v} car last weekend",
            "I'm driving a {v} now",
            "I got a used {v} car",
        ],
        "questions": ["What car do I drive?", "Which vehicle do I own?"],
    },
    "partner": {
        "values": ["Sam", "Alex", "Jordan", "Robin", "Casey"],
        "first": ["I'm dating {v}", "My partner is {v}"],
        "change": [
            "I'm seeing {v} now",
            "My girlfriend is {v}",
            "I got engaged to {v}!",
        ],
        "questions": ["Who is my partner?", "Who am I in a relationship with?"],
    },
    "favourite": {
        "values": ["Radiohead", "Taylor Swift", "Daft Punk", "Beyoncé", "The Beatles"],
        "first": ["My favourite band is {v}", "My favorite artist is {v}"],
        "change": [
            "My favourite band is now {v}",
            "These days my favorite artist is {v}",
        ],
        "questions": ["Which musician do I like most?", "Who's my top music act?"],
    },
    "schedule": {
        "values": ["Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Saturdays"],
        "first": ["My yoga class is on {v}", "My yoga classes are on {v}"],
        "change": [
            "My yoga class moved to {v}",
            "My yoga class got rescheduled to {v}",
            "My yoga class is now on {v}",
        ],
        "questions": ["When do I do yoga?", "Which day is yoga for me?"],
    },
    "tool": {
        "values": ["the dark theme", "the light theme", "the solarized theme", "the nord theme"],
        "first": ["I like {v} in my code editor", "I use {v} in my code editor"],
        "change": [
            "I switched to {v} in my code editor, the old one strained my eyes",
            "I changed my code editor to {v}",
            "I now prefer {v} in my code editor",
        ],
        "questions": ["What colour scheme does my editor have?", "Which editor theme do I use?"],
    },
}

UNTOUCHED: list[tuple[str, str]] = [
    ("I'm allergic to shellfish", "Is there any food that makes me ill?"),
    ("My sister's name is Lena", "What is my sibling called?"),
    ("My birthday is on the 3rd of May", "When do I celebrate turning a year older?"),
    ("I have two cats called Miso and Tofu", "Do I have any pets?"),
    ("I studied physics at university", "What was my degree subject?"),
    ("I'm afraid of heights", "Is there anything I'm scared of?"),
    ("My blood type is O negative", "What blood group do I have?"),
    ("I speak Portuguese and a little Japanese", "Which languages do I know?"),
]

FILLER = [
    "Went to the farmers market and bought {x}",
    "Watched a documentary about {x} last night",
    "Tried a new recipe with {x}, turned out okay",
    "Spent the afternoon reading about {x}",
    "Had coffee with an old friend and talked about {x}",
    "The weather was awful today, stayed in and thought about {x}",
    "Listened to a podcast on {x} during my run",
    "Cleaned the whole flat and found an old note about {x}",
    "Booked tickets for a talk on {x}",
    "Fixed the leaking tap in the bathroom, then read about {x}",
    "My neighbour lent me a book on {x}",
    "Spent way too long choosing {x} at the shop",
]
TOPICS = [
    "peaches",
    "octopuses",
    "ancient Rome",
    "sourdough",
    "black holes",
    "jazz history",
    "urban gardening",
    "chess openings",
    "medieval castles",
    "bird migration",
    "volcanoes",
    "tea ceremonies",
    "origami",
    "renewable energy",
    "deep sea fish",
    "board games",
    "street photography",
    "climbing routes",
    "knitting patterns",
    "the history of maps",
]


@dataclass
class User:
    """One synthetic user: memories to add and questions to ask."""

    user_id: str
    memories: list[tuple[str, datetime]] = field(default_factory=list)
    # slot -> the chain's statements, oldest first
    chains: dict[str, list[str]] = field(default_factory=dict)
    chain_questions: dict[str, str] = field(default_factory=dict)
    untouched: list[tuple[str, str]] = field(default_factory=list)
    now: datetime = START


def make_user(number: int, rng: random.Random, filler: int) -> User:
    """A user with a year of filler, chains of 2-3 statements and untouched facts."""
    user = User(f"user-{number:03d}")
    day = timedelta(days=1)
    for _ in range(filler):
        text = rng.choice(FILLER).format(x=rng.choice(TOPICS))
        user.memories.append(
            (
                text,
                START + rng.randrange(365) * day + rng.randrange(600) * 60 * timedelta(seconds=1),
            )
        )
    for slot in rng.sample(sorted(SLOTS), 6):
        spec = SLOTS[slot]
        values = rng.sample(spec["values"], rng.choice((2, 3)))
        when = sorted(rng.sample(range(0, 360), len(values)))
        wordings = [rng.choice(spec["first"])] + rng.sample(spec["change"], len(values) - 1)
        chain = [wording.format(v=value) for wording, value in zip(wordings, values, strict=True)]
        user.chains[slot] = chain
        user.chain_questions[slot] = rng.choice(spec["questions"])
        for text, offset in zip(chain, when, strict=True):
            user.memories.append((text, START + offset * day + timedelta(hours=rng.randrange(10))))
    for fact, question in rng.sample(UNTOUCHED, 4):
        user.untouched.append((fact, question))
        user.memories.append((fact, START + rng.randrange(30) * day))
    user.memories.sort(key=lambda item: item[1])
    user.now = START + 370 * day
    return user


def evaluate(
    engine: Any, users: Sequence[User], config: Any, show: bool = False
) -> tuple[float, float, float]:
    """Percentages: newest first and older out of the top 5; newest in the top 5 and
    older out; untouched facts in the top 5."""
    chains_ok = chains = untouched_ok = untouched = in_top = 0
    for user in users:
        for slot, chain in user.chains.items():
            hits = engine.search(
                user.user_id, user.chain_questions[slot], k=5, now=user.now, config=config
            )
            texts = [hit.memory.content for hit in hits]
            chains += 1
            older_out = not set(chain[:-1]) & set(texts)
            in_top += older_out and chain[-1] in texts
            if texts and texts[0] == chain[-1] and older_out:
                chains_ok += 1
            elif show:
                print(f"  chain {chain} / {user.chain_questions[slot]!r} -> {texts}")
        for fact, question in user.untouched:
            hits = engine.search(user.user_id, question, k=5, now=user.now, config=config)
            untouched += 1
            found = fact in {hit.memory.content for hit in hits}
            untouched_ok += found
            if show and not found:
                print(f"  untouched {fact!r} / {question!r} -> {[h.memory.content for h in hits]}")
    return 100 * chains_ok / chains, 100 * in_top / chains, 100 * untouched_ok / untouched


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=48)
    parser.add_argument("--filler", type=int, default=150, help="filler memories per user")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--show", action="store_true", help="print the misses")
    parser.add_argument("--only-on", action="store_true", help="skip the lifecycle-off run")
    args = parser.parse_args(argv)

    from multisession import PRESETS, MemoryEngine, MemoryInput, RetrievalConfig
    from multisession.lifecycle import LifecycleConfig

    rng = random.Random(args.seed)
    users = [make_user(number, rng, args.filler) for number in range(args.users)]
    chains = sum(len(user.chains) for user in users)
    print(
        f"{len(users)} users, {sum(len(u.memories) for u in users)} memories, {chains} chains "
        f"({sum(len(c) for u in users for c in u.chains.values())} statements), "
        f"{sum(len(u.untouched) for u in users)} untouched facts"
    )
    configs = {"default": RetrievalConfig(), "recall preset": PRESETS["recall"]}
    print(
        f"\n{'lifecycle':<10}{'settings':<16}{'newest first':>14}{'newest in top 5':>17}"
        f"{'untouched top 5':>17}   (older statements out of the top 5 in both)"
    )
    with tempfile.TemporaryDirectory(prefix="multisession-ku-") as directory:
        for label, lifecycle in (
            ("off", LifecycleConfig(supersede=False, deduplicate=False)),
            ("on", LifecycleConfig()),
        ):
            if args.only_on and label == "off":
                continue
            with MemoryEngine(Path(directory) / label, lifecycle=lifecycle) as engine:
                for user in users:
                    # One memory per write, as a chat app records them.
                    for text, when in user.memories:
                        engine.add_many(
                            user.user_id, [MemoryInput(text, created_at=when)], now=when
                        )
                for name, config in configs.items():
                    newest, top5, untouched = evaluate(engine, users, config, args.show)
                    print(f"{label:<10}{name:<16}{newest:>13.1f}%{top5:>16.1f}%{untouched:>16.1f}%")
                if label == "on":
                    statements = {
                        text for user in users for c in user.chains.values() for text in c[:-1]
                    }
                    marked = [
                        memory
                        for user in users
                        for memory in engine.list(
                            user.user_id, include_superseded=True, limit=100_000
                        )
                        if not memory.is_current
                    ]
                    wrong = [
                        m
                        for m in marked
                        if m.content not in statements and m.supersede_reason != "duplicate"
                    ]
                    print(
                        f"\nmarked superseded or duplicate: {len(marked)} (repeated filler: "
                        f"{sum(m.supersede_reason == 'duplicate' for m in marked)}); superseded "
                        f"but not an older chain statement: {len(wrong)}"
                    )
                    for memory in wrong[:10]:
                        print(f"  [{memory.supersede_reason}] {memory.content}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

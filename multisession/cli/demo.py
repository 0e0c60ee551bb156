"""The demo: one user's story over three sessions, each in its own process.

Run it with ``python -m multisession.cli.demo`` (``make demo`` does). It uses only the
offline defaults: SQLite and embedded Chroma in one directory, the bundled
all-MiniLM-L6-v2 model on onnxruntime. No API key, no service, no network.

- Session 1, day 1: alice tells the assistant her name and job, her peanut allergy, two
  preferences and the project she is halfway through; :meth:`MemoryEngine.record_exchange`
  keeps what is worth remembering. bob, another user of the same app, says a few things
  too.
- Session 2, three days later, in a new process: :meth:`MemoryEngine.resume` picks the
  resumption mode, alice asks what to cook, and the demo shows the memories found with
  their score breakdowns and the budgeted prompt that
  :meth:`MemoryEngine.build_context` built, with its token count.
- Session 3, four months later: alice has switched editor themes; the newer preference
  supersedes the old one, which leaves the current results and is kept as history
  (found with include_superseded=True). A search as alice for bob's words finds none of
  bob's memories.

Each session runs in its own process, so everything alice is remembered for went
through the store on disk. The clock is scripted (``MemoryEngine(clock=...)``).

With ``OPENAI_API_KEY`` set and the ``openai`` package installed
(``pip install 'multisession[openai]'``), alice's questions get real model answers
(model ``$MULTISESSION_OPENAI_MODEL``, default ``gpt-4o-mini``; ``OPENAI_BASE_URL`` is
honoured). Without the key the answers are scripted and labelled so, and ``openai`` is
never imported. A failed API call prints a warning and the story goes on offline.

``--store DIR`` keeps the store for exploring afterwards. ``DIR`` must not exist yet or
be empty: the demo never writes its users into a store that already holds data, so
running it twice with the same ``--store`` stops with a message saying so.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich import box
from rich.console import Console, Group
from rich.markdown import Markdown
from rich.markup import escape
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from ..clock import ManualClock
from ..context.builder import BuiltContext
from ..context.sessions import Resumption
from ..context.tokens import token_counter
from ..engine import MemoryEngine
from ..extraction.worthiness import assess
from ..records import ContextMessage, SearchHit
from ..retrieval.config import RetrievalConfig, TemporalConfig
from .render import age, new_console, score_cells

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

__all__ = ["main"]

USER = "alice"
OTHER_USER = "bob"
DAY_ONE = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
SESSION_STARTS = {
    1: DAY_ONE,
    2: datetime(2026, 3, 5, 18, 45, tzinfo=timezone.utc),
    3: datetime(2026, 6, 30, 11, 0, tzinfo=timezone.utc),
}
SESSION_LABELS = {1: "day 1", 2: "3 days later", 3: "4 months later"}

#: alice's first chat: what she says, and the assistant's short scripted replies.
FIRST_CHAT = [
    (
        "Hi! My name is Alice and I work at Acme Corp as a data engineer.",
        "Nice to meet you, Alice! What are you working on?",
    ),
    (
        "Please keep your answers short and show code examples.",
        "Will do: short answers, with code.",
    ),
    ("By the way, I'm allergic to peanuts.", "Thanks for telling me, I'll keep it in mind."),
    ("I like the blue theme in my code editor.", "Blue it is."),
    (
        "I'm working on migrating our billing pipeline to Airflow, about halfway done.",
        "Halfway already, nice. Which part is next?",
    ),
    (
        "Thanks! How do I declare a DAG again?",
        "with DAG('billing', schedule='@daily', start_date=datetime(2026, 1, 1)) as dag: ...",
    ),
]
BOB_CHAT = [
    (
        "My name is Bob and I work at Globex. I love peanut butter sandwiches.",
        "Hi Bob, noted!",
    )
]
DINNER_QUESTION = "What should I cook for dinner tonight?"
DINNER_ANSWER = (
    "A quick, peanut-free stir-fry: chicken, broccoli and ginger in soy sauce over rice, "
    "about 20 minutes. Skip satay or peanut sauce; a splash of rice vinegar does the job."
)
THEME_CHANGE = (
    "Hi again! I switched to the red theme in my code editor, the blue one tired my eyes.",
    "Red it is, then.",
)
THEME_QUERY = "Which theme do I like in my code editor?"
LAPTOP_QUESTION = "Which editor theme should I install on my new laptop?"
LAPTOP_ANSWER = "The red one: you switched from blue because it tired your eyes."
ISOLATION_QUERY = "peanut butter sandwiches at Globex"

OPENAI_MODEL_ENV = "MULTISESSION_OPENAI_MODEL"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
TIMELESS = RetrievalConfig(temporal=TemporalConfig(enabled=False))


# -- output -------------------------------------------------------------------------------


def _hits_table(title: str, hits: Sequence[SearchHit], now: datetime, weight: float) -> Table:
    table = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        caption=(
            "BM25: rank, Okapi score · vector: rank, cosine similarity · fused: weighted "
            f"reciprocal rank fusion · final = fused × ({1 - weight:g} + {weight:g} × recency)"
        ),
        caption_justify="left",
    )
    table.add_column("#", justify="right")
    table.add_column("memory  kind", ratio=1, min_width=20)
    table.add_column("final", justify="right", style="bold")
    table.add_column("fused", justify="right")
    table.add_column("BM25", justify="right")
    table.add_column("vector", justify="right")
    table.add_column("recency", justify="right")
    table.add_column("age", justify="right")
    for position, hit in enumerate(hits, start=1):
        table.add_row(
            str(position),
            Text.assemble(hit.memory.content, (f"  {hit.memory.kind}", "dim")),
            *score_cells(hit.breakdown),
            age(now - hit.memory.created_at),
        )
    return table


def _resumption_panel(resumption: Resumption) -> Panel:
    body = Text(resumption.render())
    if resumption.preferences:
        body.append("\nKnown preferences: ", style="bold")
        body.append("; ".join(resumption.preferences))
    gap = f" after {age(resumption.gap)}" if resumption.gap is not None else ""
    return Panel(
        body,
        title=f"engine.resume(): mode = [bold]{resumption.mode}[/]{gap}",
        title_align="left",
        border_style="cyan",
    )


def _session_header(console: Console, number: int) -> None:
    start = SESSION_STARTS[number]
    console.print()
    console.print(
        Rule(
            f"[bold]Session {number}[/] · {start:%a %d %b %Y, %H:%M} UTC · "
            f"{SESSION_LABELS[number]} · process {os.getpid()}",
            style="magenta",
        )
    )


def _open(store: Path, clock: ManualClock, console: Console) -> MemoryEngine:
    engine = MemoryEngine(store, clock=clock)
    if engine.embedder is None:
        console.print("[yellow]No local model found: search runs on keywords (BM25) only.[/]")
    return engine


# -- the assistant's answers --------------------------------------------------------------


def _openai_model() -> str | None:
    """The model to ask, or None: offline unless a key is set and the client installed."""
    if not os.environ.get("OPENAI_API_KEY"):
        return None
    if importlib.util.find_spec("openai") is None:
        return None
    return os.environ.get(OPENAI_MODEL_ENV) or DEFAULT_OPENAI_MODEL


def _ask_openai(model: str, messages: list[dict[str, str]]) -> str:
    import openai

    # The client reads OPENAI_API_KEY and OPENAI_BASE_URL from the environment.
    with openai.OpenAI(max_retries=1, timeout=30.0) as client:
        response = client.chat.completions.create(
            model=model, messages=cast("list[ChatCompletionMessageParam]", messages)
        )
    content = response.choices[0].message.content if response.choices else None
    if not content or not content.strip():
        raise ValueError("the model returned no text")
    return content.strip()


def _offline_hint() -> str:
    install = "pip install 'multisession[openai]'"
    if os.environ.get("OPENAI_API_KEY") and _openai_model() is None:
        return f"{install} for a real one"
    return f"set OPENAI_API_KEY ({install}) for a real one"


def _answer(console: Console, context: BuiltContext, question: str, scripted: str) -> str:
    """The assistant's reply to ``question`` with ``context``: the model's, or scripted."""
    model = _openai_model()
    if model is not None:
        messages = [*context.packed.as_dicts(), {"role": "user", "content": question}]
        try:
            reply = _ask_openai(model, messages)
        except Exception as error:
            reason = " ".join(str(error).split())[:120]
            console.print(
                f"[yellow]! The OpenAI call failed ({type(error).__name__}: {escape(reason)}); "
                "using the offline answer.[/]",
                soft_wrap=True,
            )
        else:
            console.print(
                Panel(
                    Markdown(reply),
                    title=f"assistant · real answer from {escape(model)} (OpenAI API)",
                    title_align="left",
                    border_style="green",
                )
            )
            return reply
    console.print(
        Panel(
            Text(scripted),
            title="assistant · offline scripted answer",
            subtitle=escape(_offline_hint()),
            title_align="left",
            subtitle_align="left",
            border_style="green",
        )
    )
    return scripted


# -- the sessions -------------------------------------------------------------------------


def _chat(
    engine: MemoryEngine,
    clock: ManualClock,
    user: str,
    conversation_id: str,
    turns: Sequence[tuple[str, str]],
    title: str,
) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD)
    table.add_column(f"{user} said", ratio=1)
    table.add_column("remembered", ratio=1)
    table.add_column("kind", style="dim")
    for said, reply in turns:
        clock.advance(minutes=2)
        kept = engine.record_exchange(user, conversation_id, said, reply)
        if kept:
            table.add_row(
                Text(said),
                Text("\n".join(memory.content for memory in kept)),
                "\n".join(memory.kind for memory in kept),
            )
        else:
            table.add_row(Text(said), Text(f"nothing ({assess(said).reason})", style="dim"), "")
    return table


def session_one(store: Path, console: Console) -> None:
    """Day 1: alice (and bob) chat; record_exchange keeps what is worth remembering."""
    _session_header(console, 1)
    clock = ManualClock(SESSION_STARTS[1])
    with _open(store, clock, console) as engine:
        console.print(
            f"{USER} chats with the assistant. After each turn, engine.record_exchange() "
            "stores it and keeps what is worth remembering."
        )
        console.print(
            _chat(
                engine,
                clock,
                USER,
                f"chat-{clock.now:%Y-%m-%d}",
                FIRST_CHAT,
                f"What {USER} said, and what the engine remembered",
            )
        )
        console.print(
            _chat(
                engine,
                clock,
                OTHER_USER,
                f"chat-{clock.now:%Y-%m-%d}",
                BOB_CHAT,
                f"Meanwhile {OTHER_USER}, another user of the same app",
            )
        )
        console.print(
            f"Stored on disk: {engine.count(USER)} memories of {USER}, "
            f"{engine.count(OTHER_USER)} of {OTHER_USER}, and both conversations."
        )


def session_two(store: Path, console: Console) -> None:
    """Three days later: resume, a question answered from memory, the budgeted prompt."""
    _session_header(console, 2)
    clock = ManualClock(SESSION_STARTS[2])
    conversation = f"chat-{clock.now:%Y-%m-%d}"
    with _open(store, clock, console) as engine:
        console.print(
            f"A new process opens the same store: {engine.count(USER)} memories of {USER} "
            "are there from session 1."
        )
        resumption = engine.resume(USER, conversation)
        console.print(_resumption_panel(resumption))
        if resumption.last_interaction is not None:
            later = {
                gap: engine.resume(USER, conversation, now=resumption.last_interaction + gap).mode
                for gap in (timedelta(minutes=20), timedelta(hours=5))
            }
            steps = [f"{mode} after {age(gap)}" for gap, mode in later.items()]
            steps.append(f"{resumption.mode} after {age(resumption.gap or timedelta())} (now)")
            console.print(
                f"[dim]The mode follows the gap since the last message: {', '.join(steps)}.[/]"
            )

        console.print(f'\n{USER}: [bold]"{escape(DINNER_QUESTION)}"[/]')
        context = engine.build_context(
            USER, DINNER_QUESTION, conversation_id=conversation, resumption=resumption
        )
        weight = engine.config.temporal.weight
        console.print(
            _hits_table(
                "Memories found for the question (the hybrid search inside build_context)",
                context.hits,
                clock.now,
                weight,
            )
        )
        allergy = next(
            (
                (position, hit)
                for position, hit in enumerate(context.hits, start=1)
                if "peanut" in hit.memory.content
            ),
            None,
        )
        if allergy is not None:
            position, hit = allergy
            if hit.breakdown.bm25_rank is None:
                how = "by meaning alone: no word in common with the question"
            elif hit.breakdown.vector_rank is None:
                how = "by keyword alone"
            else:
                how = "by keyword and by meaning"
            console.print(
                f"[green]✓[/] The peanut allergy is hit #{position} of {len(context.hits)}, "
                f"found {how}."
            )
        else:
            console.print("[red]✗ The peanut allergy was not found.[/]")

        counter = token_counter(engine.context_config.model)
        full = [*context.messages, ContextMessage("user", DINNER_QUESTION)]
        total = counter.count_messages(full)
        prompt = Text(context.as_text())
        prompt.append(f"\n\nuser: {DINNER_QUESTION}", style="bold")
        console.print(
            Panel(
                prompt,
                title=f"The final prompt: {total} tokens, budget {context.packed.budget}",
                subtitle=(
                    f"build_context: {context.tokens} tokens, "
                    f"{len(context.packed.memories)} memories, "
                    f"{len(context.packed.dropped)} items left out; then the question"
                ),
                title_align="left",
                subtitle_align="left",
                border_style="blue",
            )
        )
        reply = _answer(console, context, DINNER_QUESTION, DINNER_ANSWER)
        clock.advance(minutes=1)
        kept = engine.record_exchange(USER, conversation, DINNER_QUESTION, reply)
        console.print(
            f"[dim]record_exchange() stored the turn; memories kept from it: {len(kept)} "
            "(a question is not a memory).[/]"
        )


def session_three(store: Path, console: Console) -> None:
    """Months later: a changed preference wins over the old one; bob stays invisible."""
    _session_header(console, 3)
    clock = ManualClock(SESSION_STARTS[3])
    conversation = f"chat-{clock.now:%Y-%m-%d}"
    with _open(store, clock, console) as engine:
        console.print(_resumption_panel(engine.resume(USER, conversation)))
        console.print(
            _chat(
                engine,
                clock,
                USER,
                conversation,
                [THEME_CHANGE],
                f"{USER} has changed her mind",
            )
        )

        clock.advance(minutes=5)
        hits = engine.search(USER, THEME_QUERY, k=3)
        timeless = engine.search(USER, THEME_QUERY, k=3, config=TIMELESS, include_superseded=True)
        console.print(
            _hits_table(
                f'engine.search("{USER}", "{THEME_QUERY}")',
                hits,
                clock.now,
                engine.config.temporal.weight,
            )
        )
        console.print(_order_table(hits, timeless, clock.now))
        newest = hits[0].memory
        older = [hit.memory for hit in timeless if hit.memory.superseded_by == newest.id]
        current = {hit.memory.id for hit in hits}
        if older and older[0].id not in current:
            console.print(
                "[green]✓[/] The newer preference ranks first and superseded the older one "
                f"(from {older[0].created_at:%d %b}, rule {older[0].supersede_reason}): it "
                "is out of the current results and kept as history, found with "
                "include_superseded=True."
            )
        else:
            console.print("[red]✗ The newer preference did not replace the older one.[/]")
        console.print(
            f"[dim]The weighting is bounded: a memory of any age keeps at least "
            f"{1 - engine.config.temporal.weight:.0%} of its score, so it reorders near-ties "
            "and never buries a clearly relevant old memory.[/]"
        )

        clock.advance(hours=2)
        laptop = f"laptop-{clock.now:%Y-%m-%d}"
        resumption = engine.resume(USER, laptop)
        console.print(
            f"\nTwo hours later, in a new chat (resume mode: [bold]{resumption.mode}[/]), {USER}: "
            f'[bold]"{escape(LAPTOP_QUESTION)}"[/]'
        )
        context = engine.build_context(
            USER, LAPTOP_QUESTION, conversation_id=laptop, resumption=resumption
        )
        system = context.messages[0].content
        preferences = [p for p in resumption.preferences if "theme" in p and f"- {p}" in system]
        console.print(
            f"[dim]Prompt: {context.tokens} tokens; the theme preferences in it, newest "
            f"first: {escape(' / '.join(preferences))}[/]"
        )
        reply = _answer(console, context, LAPTOP_QUESTION, LAPTOP_ANSWER)
        clock.advance(minutes=1)
        engine.record_exchange(USER, laptop, LAPTOP_QUESTION, reply)

        _show_isolation(engine, console)


def _order_table(hits: Sequence[SearchHit], timeless: Sequence[SearchHit], now: datetime) -> Table:
    table = Table(
        title="The same search of the history, with temporal weighting off "
        "(include_superseded=True, RetrievalConfig(temporal=TemporalConfig(enabled=False)))",
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("memory", ratio=1)
    table.add_column("age", justify="right")
    table.add_column("current", justify="right")
    table.add_column("history", justify="right")
    on = {hit.memory.id: (rank, hit) for rank, hit in enumerate(hits, start=1)}
    off = {hit.memory.id: (rank, hit) for rank, hit in enumerate(timeless, start=1)}
    shown = [hit.memory for hit in hits]
    shown += [hit.memory for hit in timeless if hit.memory.id not in on]
    for memory in shown:
        mine, other = on.get(memory.id), off.get(memory.id)
        table.add_row(
            Text(memory.content),
            age(now - memory.created_at),
            f"#{mine[0]} {mine[1].score:.4f}" if mine else "superseded",
            f"#{other[0]} {other[1].score:.4f}" if other else "-",
        )
    return table


def _show_isolation(engine: MemoryEngine, console: Console) -> None:
    console.print()
    console.print(Rule(f"Isolation: {USER} and {OTHER_USER} share the store, not memories"))
    others = {memory.id for memory in engine.list(OTHER_USER)}
    as_alice = engine.search(USER, ISOLATION_QUERY, k=10)
    as_bob = engine.search(OTHER_USER, ISOLATION_QUERY, k=10)
    leaked = [hit for hit in as_alice if hit.memory.id in others or hit.memory.user_id != USER]
    table = Table(
        title=f'The same search, "{ISOLATION_QUERY}", as each user',
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("searching as")
    table.add_column("hits", justify="right")
    table.add_column(f"{OTHER_USER}'s among them", justify="right")
    table.add_column("top hit", ratio=1)
    for user, found in ((USER, as_alice), (OTHER_USER, as_bob)):
        table.add_row(
            user,
            str(len(found)),
            str(sum(hit.memory.id in others for hit in found)),
            Text(found[0].memory.content if found else "-"),
        )
    console.print(table)
    mark = "[green]✓[/]" if not leaked else "[red]✗[/]"
    console.print(
        f"{mark} {OTHER_USER}'s memories seen by {USER}: {len(leaked)}; "
        f"{OTHER_USER}'s own search finds {sum(hit.memory.id in others for hit in as_bob)}."
    )


SESSIONS = {1: session_one, 2: session_two, 3: session_three}


# -- the story: one process per session ---------------------------------------------------


@dataclass(frozen=True)
class _Timing:
    session: int
    seconds: float


def _store_problem(store: Path) -> str | None:
    """Why the demo will not write into ``store``, or None when it may."""
    if not store.exists():
        return None
    if not store.is_dir():
        return f"{store} exists and is not a directory"
    if (store / "memory.db").exists():
        return (
            f"{store} already holds a store (memory.db), from an earlier run perhaps. The demo "
            "writes its users into a new store only: remove it, or pass another --store."
        )
    if any(store.iterdir()):
        return (
            f"{store} is not empty. The demo writes its users into a new store only: "
            "remove it, or pass another --store."
        )
    return None


def _answers_note() -> str:
    if not os.environ.get("OPENAI_API_KEY"):
        return (
            "offline, scripted (set OPENAI_API_KEY and pip install 'multisession[openai]' "
            "for real model answers)"
        )
    model = _openai_model()
    if model is None:
        return (
            "offline, scripted: OPENAI_API_KEY is set but the openai package is missing "
            "(pip install 'multisession[openai]')"
        )
    base = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
    return f"from {model} via the OpenAI API ({base})"


def _run_story(store: Path, console: Console, *, keep: bool) -> int:
    console.print(
        Panel(
            Group(
                Text.from_markup(
                    "[bold]multisession demo[/]: persistent memory across sessions, "
                    "one process per session"
                ),
                Text(f"Store: {store} (SQLite + embedded Chroma)"),
                Text("Embeddings: all-MiniLM-L6-v2 on onnxruntime, offline"),
                Text(f"Assistant answers: {_answers_note()}"),
            ),
            border_style="magenta",
        )
    )
    timings: list[_Timing] = []
    for number in SESSIONS:
        sys.stdout.flush()
        started = time.perf_counter()
        command = [
            sys.executable,
            "-m",
            "multisession.cli.demo",
            "--session",
            str(number),
            "--store",
            str(store),
        ]
        try:
            code = subprocess.run(command, check=False).returncode
        except KeyboardInterrupt:
            console.print("\n[yellow]Interrupted.[/]")
            return 130
        timings.append(_Timing(number, time.perf_counter() - started))
        if code != 0:
            console.print(f"[red]Session {number} failed (exit code {code}).[/]")
            return code
    _summary(console, store, timings, keep=keep)
    return 0


def _summary(console: Console, store: Path, timings: Sequence[_Timing], *, keep: bool) -> None:
    console.print()
    console.print(Rule("Summary", style="magenta"))
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("session")
    table.add_column("story date")
    table.add_column("wall time", justify="right")
    for timing in timings:
        start = SESSION_STARTS[timing.session]
        table.add_row(
            f"{timing.session} ({SESSION_LABELS[timing.session]})",
            f"{start:%d %b %Y}",
            f"{timing.seconds:.1f} s",
        )
    table.add_row("total", "", f"{sum(t.seconds for t in timings):.1f} s", style="bold")
    console.print(table)
    console.print("Each session ran in a new process; its time includes loading the model.")
    if keep:
        console.print(f"The store is kept in {store}. Explore it with the command-line tool:")
        console.print(f"  multisession search --store {store} ...", style="bold", soft_wrap=True)
    else:
        console.print(f"The temporary store {store} is removed now.")
        console.print(
            "Run with --store DIR to keep it, then explore it with "
            "[bold]multisession search --store DIR ...[/]"
        )
    console.print(
        "Or run it as a service for your apps: [bold]multisession serve --store DIR[/] "
        "(REST API at /v1, memory browser at /ui, metrics at /metrics; "
        "[bold]multisession mcp[/] for assistants)",
        soft_wrap=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the demo story; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m multisession.cli.demo",
        description="A scripted multi-session story on the offline defaults.",
    )
    parser.add_argument(
        "--store",
        type=Path,
        help="directory for the store, kept afterwards; must not exist yet or be empty "
        "(default: a temporary directory, removed at the end)",
    )
    parser.add_argument("--session", type=int, choices=sorted(SESSIONS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.session is not None:
        if args.store is None:
            parser.error("--session needs --store")
        SESSIONS[args.session](args.store, new_console(highlight=True))
        return 0
    if args.store is not None:
        store = args.store.expanduser().resolve()
        problem = _store_problem(store)
        if problem is not None:
            errors = new_console(stderr=True, highlight=True)
            errors.print(f"[red]{escape(problem)}[/]", soft_wrap=True)
            return 2
        return _run_story(store, new_console(highlight=True), keep=True)
    with tempfile.TemporaryDirectory(prefix="multisession-demo-") as temporary:
        return _run_story(Path(temporary) / "store", new_console(highlight=True), keep=False)


if __name__ == "__main__":
    sys.exit(main())

"""History on vs off: what keeping conversations in DynamoDB costs our chatbot.

Part of the chatbot benchmark (bench.py calls `compare`; `bench.py --only history`
runs it alone). In one run, against one Bedrock stand-in and one moto server (the
local DynamoDB; both on core 0 with the drivers):

- our chatbot without history (the browser sends the conversation, `Kind::Chatbot`),
- the same binary keeping history in a DynamoDB table on moto (`chatbot-history`:
  the question and the stored conversation's id),
- the same again with no memory of recent conversations (`CHATBOT_HISTORY_CACHE_MIB=0`:
  every continued question reads its conversation first, as one that reaches another
  task does), for continued conversations only,
- the same binary built with a smaller profile (`release-small` in Cargo.toml),
  keeping history,
- the reference app as written (Converse), for RSS with 50 conversations.

Figures: added time to first token over history off (new conversations, and
conversations continued for 5 questions, whose context the answering task remembers,
or with no memory reads from DynamoDB before Bedrock is called), idle RSS, RSS with 50 active conversations, binary size. Nothing
is asserted: the report says which goals were met and which were missed.
"""

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import bench
from bench import AWS_ENV, Ours, Process, Streamlit, fmt, log, mib, run_driver, rss_kib, anon_kib, step

ROOT = bench.ROOT
SMALL = ROOT / "target" / "release-small"
TABLE = "bench-history"
SEQUENTIAL = 200
TURNS = 5
# Continued conversations read each answer whole, as a user does before asking again
# (so its saving is done): 6 conversations of 5 questions, about 2 s an answer.
CONTINUED = 30
CONVERSATIONS = 50


class Moto:
    """moto's server (the project's pinned one, from ./scripts/setup-aws-emulator), as
    scripts/aws-emulator.py runs it for the tests and the quick start."""

    def __init__(self):
        self.port = bench.free_port()
        python = ROOT / ".venv" / "bin" / "python"
        launcher = ROOT / "scripts" / "aws-emulator.py"
        self.process = Process(
            "moto", [str(python), str(launcher), "-H", "127.0.0.1", "-p", str(self.port)], core=bench.DRIVER_CORE
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while not bench.http_ok(f"{self.url}/moto-api/", timeout=0.5):
            if self.process.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto did not start; see {self.process.log_path}")
            time.sleep(0.1)

    def create_table(self):
        """The chatbot's table, as the operator makes it (chatbot/src/history_table.rs:
        keys pk/sk, the byUpdated local index on updatedAt, TTL on expiresAt)."""
        import boto3

        client = boto3.client(
            "dynamodb", endpoint_url=self.url, region_name=AWS_ENV["AWS_REGION"],
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "updatedAt", "AttributeType": "N"},
            ],
            LocalSecondaryIndexes=[{
                "IndexName": "byUpdated",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "updatedAt", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }],
        )
        client.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"})

    def stop(self):
        self.process.stop()


class OursWithoutCaching(Ours):
    """Our chatbot without history, not marking cache points (prompt caching off)."""

    def extra_env(self):
        return {"CHATBOT_PROMPT_CACHING": "off"}


class OursWithHistory(Ours):
    """Our chatbot keeping history in moto's DynamoDB; Bedrock stays the stand-in.
    `remembering=False`: with no memory of recent conversations
    (`CHATBOT_HISTORY_CACHE_MIB=0`), so every continued question reads its
    conversation first, as one that reaches another task behind the load balancer."""

    def __init__(self, key, label, standin_url, dynamodb_url, binary, remembering=True):
        super().__init__(key, label, standin_url)
        self.dynamodb_url = dynamodb_url
        self.binary = binary
        self.remembering = remembering

    def extra_env(self):
        env = {
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_url,
            "CHATBOT_HISTORY_TABLE": TABLE,
            "CHATBOT_HISTORY_RETENTION_DAYS": "90",
        }
        if not self.remembering:
            env["CHATBOT_HISTORY_CACHE_MIB"] = "0"
        return env

    def target_kind(self):
        return "chatbot-history"


def measure(app, standin, continued_only=False):
    """Idle RSS after one question, time to first token (new and continued
    conversations), and one load level of 50 conversations (`continued_only`: only
    the continued conversations)."""
    app.start()
    try:
        warm = run_driver(app.driver("sequential", "--count", "1"))
        if warm["errors"]:
            raise RuntimeError(f"{app.key} could not answer: {warm['error_samples']}")
        time.sleep(2)
        figures = {"idle_rss_kib": rss_kib(app.process.pid), "idle_anon_kib": anon_kib(app.process.pid)}
        if continued_only:
            figures["ttft_continued"] = run_driver(app.driver(
                "sequential", "--count", str(CONTINUED), "--turns-per-conversation", str(TURNS),
            ))
            log(f"{app.key}: ttft p99 continued {fmt(figures['ttft_continued']['ttft_ms']['p99'])} ms")
            return figures
        if isinstance(app, Ours):
            figures["ttft_new"] = run_driver(app.driver("sequential", "--count", str(SEQUENTIAL), "--first-token-only"))
            figures["ttft_continued"] = run_driver(app.driver(
                "sequential", "--count", str(CONTINUED), "--turns-per-conversation", str(TURNS),
            ))
        figures["fifty"] = step(app, standin, CONVERSATIONS)
        log(
            f"{app.key}: idle rss {figures['idle_rss_kib']} KiB, rss x{CONVERSATIONS} "
            f"{figures['fifty']['rss_max_kib']} KiB, errors {figures['fifty']['errors']}"
            + (f", ttft p99 new {fmt(figures['ttft_new']['ttft_ms']['p99'])} continued "
               f"{fmt(figures['ttft_continued']['ttft_ms']['p99'])} ms" if "ttft_new" in figures else "")
        )
        return figures
    finally:
        app.stop()


def compare(standin, standin_url, direct):
    """Every figure of this section, measured side by side in this run."""
    moto = Moto()
    try:
        moto.create_table()
        off = Ours("ours", "history off", standin_url)
        uncached = OursWithoutCaching("ours_uncached", "history off, prompt caching off", standin_url)
        on = OursWithHistory("ours_history", "history on", standin_url, moto.url, bench.RELEASE / "bedrock-chatbot")
        forgetting = OursWithHistory(
            "ours_history_forgetting", "history on, no memory of recent conversations", standin_url, moto.url,
            bench.RELEASE / "bedrock-chatbot", remembering=False,
        )
        small = OursWithHistory("ours_history_small", "history on, release-small", standin_url, moto.url, SMALL / "bedrock-chatbot")
        reference = Streamlit("reference", "reference (Streamlit, Converse)", standin_url, streaming=False)
        results = {"direct": run_driver(direct + ["sequential", "--count", str(SEQUENTIAL), "--first-token-only"])}
        for app in (off, uncached, on, forgetting, small, reference):
            if isinstance(app, OursWithHistory) and not app.binary.exists():
                log(f"{app.key}: {app.binary} not built; skipped")
                continue
            results[app.key] = measure(app, standin, continued_only=app is forgetting)
        results["binary_bytes"] = {
            "release": (bench.RELEASE / "bedrock-chatbot").stat().st_size,
            "release_small": (SMALL / "bedrock-chatbot").stat().st_size if (SMALL / "bedrock-chatbot").exists() else None,
        }
        return results
    finally:
        moto.stop()


def report(r):
    """The section's Markdown lines."""
    def p(app, which, q):
        return r.get(app, {}).get(which, {}).get("ttft_ms", {}).get(q)

    def added(app, which, q):
        a, b = p(app, which, q), p("ours", which, q)
        return None if a is None or b is None else a - b

    def rss(app, key="idle_rss_kib"):
        return mib(r.get(app, {}).get(key))

    def rss50(app):
        return mib(r.get(app, {}).get("fifty", {}).get("rss_max_kib"))

    def verdict(ok):
        return "met" if ok else "**missed**"

    new99, cont99 = added("ours_history", "ttft_new", "p99"), added("ours_history", "ttft_continued", "p99")
    idle_on = rss("ours_history")
    shipped = rss("ours_history_small")
    ref50 = rss50("reference")
    lines = [
        "### Conversation history on vs off",
        "",
        f"The same release binary without history and keeping history in DynamoDB (moto {TABLE!r} table on "
        "loopback, core 0, beside the stand-in and the drivers), one after the other in this run; the reference "
        f"app as written beside them for memory. Time to first token: {SEQUENTIAL} questions one at a time, each on "
        "a new connection, dropped after the first token, each starting a conversation (\"new\"); "
        f"\"continued\": {CONTINUED} questions, {TURNS} per conversation, each answer read whole before the next "
        "question, as a user does (with history off, the browser sends the context; with it on, the task that "
        "answered the previous question remembers it and calls Bedrock at once, the question's conditional claim "
        "checking it beside the call — the row \"no memory\" is the same binary with "
        "`CHATBOT_HISTORY_CACHE_MIB=0`, which reads the context from DynamoDB before Bedrock is called, as a "
        "question that reaches another task does; a p99 of 30 is their largest). Added time is each percentile "
        "minus history off's same percentile. moto is much slower than DynamoDB (a Python server on a shared "
        "core): the figures are an upper bound of what the table costs. With 2 cores, moto shares core 0 with "
        "the stand-in and the drivers: with history on, its work also delays the stand-in's tokens, so the "
        "inter-token row at 50 conversations mostly measures that core, not the chatbot. A question whose "
        "new conversation could not be saved (the `history` event says `conversation: null`) starts a new "
        "conversation next, as the page does.",
        "",
        "| Figure | History off | History on | release-small (shipped), history on | Goal | Verdict |",
        "|---|---|---|---|---|---|",
        f"| Time to first token p50 / p99, new conversation | {fmt(p('ours', 'ttft_new', 'p50'), 2)} / {fmt(p('ours', 'ttft_new', 'p99'), 2)} ms | "
        f"{fmt(p('ours_history', 'ttft_new', 'p50'), 2)} / {fmt(p('ours_history', 'ttft_new', 'p99'), 2)} ms | "
        f"{fmt(p('ours_history_small', 'ttft_new', 'p50'), 2)} / {fmt(p('ours_history_small', 'ttft_new', 'p99'), 2)} ms | "
        f"added p99 < 5 ms | added {fmt(new99, 2)} ms, {verdict(new99 is not None and new99 < 5)} |",
        f"| Time to first token p50 / p99, continued conversation | {fmt(p('ours', 'ttft_continued', 'p50'), 2)} / {fmt(p('ours', 'ttft_continued', 'p99'), 2)} ms | "
        f"{fmt(p('ours_history', 'ttft_continued', 'p50'), 2)} / {fmt(p('ours_history', 'ttft_continued', 'p99'), 2)} ms | "
        f"{fmt(p('ours_history_small', 'ttft_continued', 'p50'), 2)} / {fmt(p('ours_history_small', 'ttft_continued', 'p99'), 2)} ms | "
        f"added p99 < 5 ms | added {fmt(cont99, 2)} ms, {verdict(cont99 is not None and cont99 < 5)} |",
        f"| Time to first token p50 / p99, continued conversation on another task (no memory: read first) | – | "
        f"{fmt(p('ours_history_forgetting', 'ttft_continued', 'p50'), 2)} / {fmt(p('ours_history_forgetting', 'ttft_continued', 'p99'), 2)} ms | – | "
        f"– | added {fmt(added('ours_history_forgetting', 'ttft_continued', 'p99'), 2)} ms: one DynamoDB read on moto |",
        f"| Prompt caching: time to first token p50 / p99, continued conversation, history off, caching off → on "
        f"(the stand-in models no prefill, so this is the marking's own cost; Bedrock's saving comes on top) | "
        f"{fmt(p('ours_uncached', 'ttft_continued', 'p50'), 2)} / {fmt(p('ours_uncached', 'ttft_continued', 'p99'), 2)} → "
        f"{fmt(p('ours', 'ttft_continued', 'p50'), 2)} / {fmt(p('ours', 'ttft_continued', 'p99'), 2)} ms | – | – | no added cost | – |",
        f"| Idle RSS (after one question) | {fmt(rss('ours'))} MiB | {fmt(idle_on)} MiB | {fmt(rss('ours_history_small'))} MiB | "
        f"≤ 11.6 MiB (compass: ≤ a tenth of the reference, {fmt(rss('reference') / 10 if rss('reference') else None)} MiB) | "
        f"{verdict(shipped is not None and shipped <= 11.6)} with `release-small`, the image's profile; compass "
        f"{verdict(shipped is not None and rss('reference') and shipped <= rss('reference') / 10)} |",
        f"| RSS with {CONVERSATIONS} active conversations | {fmt(rss50('ours'))} MiB | {fmt(rss50('ours_history'))} MiB | "
        f"{fmt(rss50('ours_history_small'))} MiB | reference: {fmt(ref50)} MiB | "
        f"{fmt(bench.ratio(rss50('ours_history'), ref50))}× less than the reference |",
        f"| Errors at {CONVERSATIONS} conversations | {r.get('ours', {}).get('fifty', {}).get('errors')} | "
        f"{r.get('ours_history', {}).get('fifty', {}).get('errors')} | {r.get('ours_history_small', {}).get('fifty', {}).get('errors')} | 0 | – |",
        f"| p99 inter-token delay at {CONVERSATIONS} conversations | {fmt(r.get('ours', {}).get('fifty', {}).get('itl_ms', {}).get('p99'))} ms | "
        f"{fmt(r.get('ours_history', {}).get('fifty', {}).get('itl_ms', {}).get('p99'))} ms | "
        f"{fmt(r.get('ours_history_small', {}).get('fifty', {}).get('itl_ms', {}).get('p99'))} ms | – | – |",
        f"| Binary (stripped) | {fmt(mib(r['binary_bytes']['release'] / 1024), 2)} MiB | same | "
        f"{fmt(mib((r['binary_bytes']['release_small'] or 0) / 1024) if r['binary_bytes']['release_small'] else None, 2)} MiB | – | – |",
        "",
        "`release-small` is `[profile.release-small]` in Cargo.toml (opt-level \"s\", fat LTO, one codegen unit); "
        "the chat app's image ships `release-small` (Dockerfile). `panic = \"abort\"` is not tried: a panic in one request's task would end "
        "the whole server, where unwinding ends only that task.",
    ]
    return lines

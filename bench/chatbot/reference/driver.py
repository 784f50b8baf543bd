"""Load driver for the reference Streamlit app, speaking Streamlit's own protocol.

Each virtual user is what a browser tab does: it opens the websocket
/_stcore/stream, asks for the first script run (BackMsg.rerun_script), learns the
chat input's widget id from the deltas, then asks questions one after the other by
sending the chat input's value in a rerun, reading ForwardMsg deltas until the
script run finishes. The answer is the markdown element in the newest assistant
chat block; every delta that makes it longer is a visible update.

    driver.py load --port P --concurrency N --ramp S --warmup S --duration S --tokens T
    driver.py sequential --port P --count N --tokens T

Prints one JSON object (the same shape as the Rust driver's): time to first token
and the gaps between visible updates, measured only inside the window, and errors.
"""

import argparse
import asyncio
import json
import time

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg


def percentiles(values):
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(values)

    def at(q):
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"n": len(ordered), "p50": at(0.50), "p99": at(0.99), "max": ordered[-1]}


class Record:
    def __init__(self, window_start, window_end):
        self.window = (window_start, window_end)
        self.ttft_ms = []
        self.gaps_ms = []
        self.tokens = 0
        self.answers = 0
        self.errors = 0
        self.error_samples = []

    def inside(self, t):
        return self.window[0] <= t <= self.window[1]

    def error(self, what):
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what)


class Session:
    """One browser tab on the app."""

    def __init__(self, port):
        self.port = port
        self.ws = None
        self.chat_id = None
        self.page_script_hash = ""
        self.turns = 0

    async def open(self):
        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{self.port}/_stcore/stream",
            subprotocols=["streamlit"],
            origin=f"http://127.0.0.1:{self.port}",
            max_size=None,
            open_timeout=60,
            ping_interval=None,
        )
        message = BackMsg()
        message.rerun_script.query_string = ""
        message.rerun_script.page_script_hash = ""
        await self.ws.send(message.SerializeToString())
        while True:
            forward = await self._receive()
            kind = forward.WhichOneof("type")
            if kind == "new_session" and forward.new_session.page_script_hash:
                self.page_script_hash = forward.new_session.page_script_hash
            elif kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                element = forward.delta.new_element
                if element.WhichOneof("type") == "chat_input":
                    self.chat_id = element.chat_input.id
            elif kind == "script_finished":
                if self.chat_id is None:
                    raise RuntimeError("the first script run showed no chat input")
                return

    async def _receive(self):
        forward = ForwardMsg()
        forward.ParseFromString(await self.ws.recv())
        return forward

    async def ask(self, question, on_update):
        """Asks one question; calls on_update(time, tokens_visible) per visible update.
        Returns the tokens of the finished answer."""
        message = BackMsg()
        message.rerun_script.page_script_hash = self.page_script_hash
        widget = message.rerun_script.widget_states.widgets.add()
        widget.id = self.chat_id
        widget.chat_input_value.data = question
        await self.ws.send(message.SerializeToString())
        # Blocks of this run: past user and assistant turns, the new question, then
        # the new answer's block.
        answer_block_number = 2 * self.turns + 2
        blocks = 0
        answer_path = None
        visible = 0
        while True:
            forward = await self._receive()
            kind = forward.WhichOneof("type")
            if kind == "script_finished":
                if forward.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                    raise RuntimeError(f"script run ended with status {forward.script_finished}")
                self.turns += 1
                return visible
            if kind != "delta":
                continue
            delta = forward.delta
            path = list(forward.metadata.delta_path)
            which = delta.WhichOneof("type")
            if which == "add_block":
                blocks += 1
                if blocks == answer_block_number:
                    answer_path = path
            elif which == "new_element":
                element = delta.new_element
                element_kind = element.WhichOneof("type")
                if element_kind == "exception":
                    raise RuntimeError("the app raised: " + element.exception.message[:200])
                if (
                    element_kind == "markdown"
                    and answer_path is not None
                    and path[: len(answer_path)] == answer_path
                ):
                    tokens = len(element.markdown.body.split())
                    if tokens > visible:
                        visible = tokens
                        on_update(time.monotonic(), tokens)

    async def close(self):
        if self.ws is not None:
            await self.ws.close()


async def virtual_user(number, args, record, start_at, stop_at):
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    session = Session(args.port)
    seen = {"token": False}
    try:
        await session.open()
        question = 0
        while time.monotonic() < stop_at:
            question += 1
            sent = time.monotonic()
            state = {"first": None, "last": None}

            def on_update(t, _tokens, state=state, sent=sent):
                seen["token"] = True
                if state["first"] is None:
                    state["first"] = t
                    if record.inside(sent) and record.inside(t):
                        record.ttft_ms.append((t - sent) * 1000)
                elif record.inside(state["last"]) and record.inside(t):
                    record.gaps_ms.append((t - state["last"]) * 1000)
                if record.inside(t):
                    record.tokens += _tokens - state.get("tokens", 0)
                state["tokens"] = _tokens
                state["last"] = t

            tokens = await session.ask(f"Question {question} from user {number}", on_update)
            if tokens != args.tokens:
                record.error(f"answer had {tokens} of {args.tokens} tokens")
            elif record.inside(time.monotonic()):
                record.answers += 1
    except asyncio.CancelledError:
        raise
    except Exception as e:  # every failure a user would see counts
        if time.monotonic() < stop_at:
            record.error(f"{type(e).__name__}: {e}"[:300])
    finally:
        if not seen["token"]:
            # A user who saw nothing in the whole run has been failed too.
            record.error("no answer text before the window closed")
        try:
            await asyncio.wait_for(session.close(), 5)
        except Exception:
            pass


async def load(args):
    began = time.monotonic()
    window_start = began + args.ramp + args.warmup
    window_end = window_start + args.duration
    record = Record(window_start, window_end)
    tasks = [
        asyncio.create_task(
            virtual_user(i, args, record, began + args.ramp * i / max(1, args.concurrency), window_end)
        )
        for i in range(args.concurrency)
    ]
    await asyncio.sleep(max(0.0, window_end - time.monotonic()))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return summary(args, record, window_start, window_end)


async def sequential(args):
    """One user, one question after the other: latency without load."""
    record = Record(0.0, float("inf"))
    session = Session(args.port)
    await session.open()
    started = time.time()
    for question in range(args.count):
        if question and question % 5 == 0:
            # A new tab every five questions keeps the re-rendered history short.
            await session.close()
            session = Session(args.port)
            await session.open()
        sent = time.monotonic()
        state = {"first": None}

        def on_update(t, _tokens, state=state, sent=sent):
            if state["first"] is None:
                state["first"] = t
                record.ttft_ms.append((t - sent) * 1000)

        try:
            tokens = await session.ask(f"Sequential question {question}", on_update)
            if tokens != args.tokens:
                record.error(f"answer had {tokens} of {args.tokens} tokens")
            else:
                record.answers += 1
        except Exception as e:
            record.error(f"{type(e).__name__}: {e}"[:300])
    await session.close()
    out = summary(args, record, None, None)
    out["window_epoch"] = [started, time.time()]
    return out


def summary(args, record, window_start, window_end):
    now_mono, now_epoch = time.monotonic(), time.time()
    epoch = None
    if window_start is not None:
        epoch = [now_epoch - (now_mono - window_start), now_epoch - (now_mono - window_end)]
    return {
        "driver": "python-websockets",
        "concurrency": getattr(args, "concurrency", 1),
        "window_epoch": epoch,
        "answers": record.answers,
        "tokens": record.tokens,
        "errors": record.errors,
        "error_samples": record.error_samples,
        "ttft_ms": percentiles(record.ttft_ms),
        "itl_ms": percentiles(record.gaps_ms),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("load", "sequential"):
        command = commands.add_parser(name)
        command.add_argument("--port", type=int, required=True)
        command.add_argument("--tokens", type=int, required=True, help="tokens in every answer")
    load_command = commands.choices["load"]
    load_command.add_argument("--concurrency", type=int, required=True)
    load_command.add_argument("--ramp", type=float, default=2.0)
    load_command.add_argument("--warmup", type=float, default=3.0)
    load_command.add_argument("--duration", type=float, default=8.0)
    commands.choices["sequential"].add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    run = load if args.command == "load" else sequential
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()

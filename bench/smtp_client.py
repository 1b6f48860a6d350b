"""The relay's client: SMTP sessions to the VIP, continuously, one JSON line per session.

`python3 -m bench.smtp_client --vip A --port P --prefix TAG [--rate R] [--concurrency C]
[--duration S] [--max-sessions N]`, run inside the client namespace (bench/relay.py starts it
with the lab's Topology.popen). Sessions start at R per second, at most C at once; each sends one
small message whose `X-Bench-Id` header is unique (TAG-NNNNNN), so the harness can count every
delivered id on the nodes. It stops at SIGTERM (no new session; those in flight finish, bounded
by their timeouts), after S seconds or N sessions, whichever comes first.

A session's line: id, t0/t1 (wall clock at connect and at its end), result and the stage it
reached:
- ok: the relay answered 250 to the end of DATA (the id is *accepted*: it must be delivered);
- refused (connect got RST), reset (the connection was reset or closed under it), timeout
  (connect 2 s, each reply 5 s), rejected (a 4xx/5xx reply), error (any other OSError);
- data_sent: the message's final dot went out. A failed session with data_sent may or may not
  have been delivered; a real client would retry it, and a retry of a delivered message is a
  duplicate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import sys
import time

CONNECT_TIMEOUT = 2.0
REPLY_TIMEOUT = 5.0


class Rejected(Exception):
    pass


async def reply(reader: asyncio.StreamReader) -> str:
    """One SMTP reply (multi-line replies joined); raises Rejected on 4xx/5xx, EOF as reset."""
    lines = []
    while True:
        line = await asyncio.wait_for(reader.readline(), REPLY_TIMEOUT)
        if not line:
            raise ConnectionResetError("connection closed")
        lines.append(line.decode("ascii", "replace").rstrip())
        if len(line) < 4 or line[3:4] != b"-":
            break
    code = lines[-1][:3]
    if not code.startswith(("2", "3")):
        raise Rejected(lines[-1])
    return lines[-1]


async def session(vip: str, port: int, ident: str) -> dict:
    rec = {"id": ident, "t0": time.time(), "t1": 0.0, "result": "ok", "stage": "connect", "data_sent": False}
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(vip, port), CONNECT_TIMEOUT)
        rec["stage"] = "banner"
        await reply(reader)
        steps = [("ehlo", b"EHLO client.lab.example\r\n"), ("mail", b"MAIL FROM:<bench@client.lab.example>\r\n"),
                 ("rcpt", b"RCPT TO:<box@relay.example>\r\n"), ("data", b"DATA\r\n")]
        for stage, line in steps:
            rec["stage"] = stage
            writer.write(line)
            await writer.drain()
            await reply(reader)
        rec["stage"] = "dot"
        body = (f"From: bench@client.lab.example\r\nTo: box@relay.example\r\nSubject: {ident}\r\n"
                f"X-Bench-Id: {ident}\r\n\r\nmessage {ident}\r\n.\r\n")
        writer.write(body.encode())
        await writer.drain()
        rec["data_sent"] = True
        await reply(reader)
        rec["stage"] = "quit"
        rec["t1"] = time.time()  # accepted: QUIT's fate does not change that
        writer.write(b"QUIT\r\n")
        try:
            await asyncio.wait_for(writer.drain(), 1.0)
        except (TimeoutError, OSError):
            pass
    except ConnectionRefusedError:
        rec["result"] = "refused"
    except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError):
        rec["result"] = "reset"
    except TimeoutError:
        rec["result"] = "timeout"
    except Rejected as exc:
        rec["result"] = "rejected"
        rec["reply"] = str(exc)[:80]
    except OSError as exc:
        rec["result"] = "error"
        rec["reply"] = str(exc)[:80]
    finally:
        if not rec["t1"]:
            rec["t1"] = time.time()
        if writer is not None:
            writer.close()
    return rec


async def run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    slots = asyncio.Semaphore(args.concurrency)
    tasks: set[asyncio.Task] = set()
    started = time.monotonic()
    next_start = started
    n = 0

    async def one(ident: str) -> None:
        try:
            rec = await session(args.vip, args.port, ident)
            sys.stdout.write(json.dumps(rec) + "\n")
            sys.stdout.flush()
        finally:
            slots.release()

    while not stop.is_set() and n < args.max_sessions and time.monotonic() - started < args.duration:
        delay = next_start - time.monotonic()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), delay)
                break
            except TimeoutError:
                pass
        await slots.acquire()
        if stop.is_set():
            slots.release()
            break
        n += 1
        task = asyncio.create_task(one(f"{args.prefix}-{n:06d}"))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        next_start = max(next_start + 1.0 / args.rate, time.monotonic() - 1.0)
    if tasks:
        await asyncio.wait(tasks, timeout=CONNECT_TIMEOUT + 6 * REPLY_TIMEOUT)
    sys.stdout.write(json.dumps({"end": time.time(), "sessions": n}) + "\n")
    sys.stdout.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m bench.smtp_client", description=__doc__.splitlines()[0])
    ap.add_argument("--vip", required=True)
    ap.add_argument("--port", type=int, default=2525)
    ap.add_argument("--prefix", required=True, help="id prefix, unique per client run")
    ap.add_argument("--rate", type=float, default=10.0, help="sessions started per second")
    ap.add_argument("--concurrency", type=int, default=4, help="sessions open at once, at most")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds, at most")
    ap.add_argument("--max-sessions", type=int, default=10000)
    args = ap.parse_args(argv)
    socket.setdefaulttimeout(CONNECT_TIMEOUT + REPLY_TIMEOUT)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())

"""etcd v3 through its JSON gateway (`/v3/...`), over aiohttp: the only I/O the witness does.

Rule kept
---------
Never block the event loop, never wait longer than `timeout` for one answer, and never decide
anything: every method returns what etcd said (or raises `EtcdUnavailable` when no endpoint
answered in time), and witness/claim.py decides what it means.

How
---
etcd's gateway speaks the gRPC API as JSON: keys and values base64, 64-bit integers as strings,
fields with their zero value left out (a failed transaction has no "succeeded"). Requests go to
the endpoint that answered last; on a failure the next endpoint is tried, each once, within the
caller's time budget. A member cut off from the majority cannot serve lease or transaction
requests (they wait for a leader), which is exactly the case the timeout turns into an answer.
`watch()` is a streaming POST; etcd writes one JSON message per event batch.

The daemon imports asyncio without TLS support (vipkeeper/asyncio_tls.py); importing this module
gives it back (`asyncio_tls.enable()`), so https endpoints work whether the witness came with the
configuration the daemon started with or with a reload. read_config imports this module for any
`vipkeeper_witness`, so a failure is one line there, before anything is applied.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from vipkeeper import asyncio_tls

asyncio_tls.enable()


class EtcdUnavailable(Exception):
    """No endpoint gave an answer in time."""


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def unb64(text: str | None) -> str | None:
    return None if text is None else base64.b64decode(text).decode(errors="replace")


@dataclass(frozen=True)
class KeyValue:
    value: str | None  # None: the key is absent
    lease: int
    mod_revision: int


@dataclass(frozen=True)
class TxnAnswer:
    succeeded: bool
    current: KeyValue  # the key as the failure branch read it (absent when succeeded)
    revision: int


class EtcdGateway:
    def __init__(self, endpoints: tuple[str, ...], timeout: float, cacert: str | None = None,
                 cert: str | None = None, key: str | None = None) -> None:
        if not endpoints:
            raise ValueError("no etcd endpoints")
        self.endpoints = tuple(e.rstrip("/") for e in endpoints)
        self.timeout = timeout
        self.current = 0
        self._ssl: ssl.SSLContext | None = None
        if cacert or cert:
            ctx = ssl.create_default_context(cafile=cacert)
            if cert:
                ctx.load_cert_chain(cert, key)
            self._ssl = ctx
        self._session: aiohttp.ClientSession | None = None

    @property
    def endpoint(self) -> str:
        return self.endpoints[self.current]

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else False,
                                             limit_per_host=8, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, path: str, body: dict[str, Any], budget: float | None = None) -> dict[str, Any]:
        """POST `body` to /v3/`path`; one answer within `budget` (default: the timeout), trying
        each endpoint once, the last good one first."""
        budget = self.timeout if budget is None else budget
        end = time.monotonic() + budget
        last: Exception | None = None
        for step in range(len(self.endpoints)):
            left = end - time.monotonic()
            if left <= 0:
                break
            index = (self.current + step) % len(self.endpoints)
            url = f"{self.endpoints[index]}/v3/{path}"
            # One endpoint may use the whole budget left only if it is the last one to try.
            share = left if step == len(self.endpoints) - 1 else max(left / (len(self.endpoints) - step), 0.05)
            try:
                async with self._client().post(url, json=body,
                                               timeout=aiohttp.ClientTimeout(total=share)) as resp:
                    text = await resp.text()
                data = json.loads(text) if text else {}
                if resp.status != 200:
                    message = data.get("message") or data.get("error") or text
                    if resp.status == 404 or "lease not found" in str(message):
                        return {"error": str(message), "status": resp.status}
                    raise EtcdUnavailable(f"{url}: HTTP {resp.status}: {message}")
                self.current = index
                return data
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError, EtcdUnavailable) as exc:
                last = exc
        raise EtcdUnavailable(f"no etcd endpoint answered: {type(last).__name__}: {last}")

    # -- the few calls the witness needs ---------------------------------------------------------

    async def grant(self, ttl: int) -> tuple[int, int]:
        data = await self.call("lease/grant", {"TTL": ttl})
        if "ID" not in data:
            raise EtcdUnavailable(f"lease grant refused: {data}")
        return int(data["ID"]), int(data.get("TTL", 0))

    async def keepalive(self, lease: int) -> int:
        """The TTL etcd granted again; 0 when the lease no longer exists."""
        data = await self.call("lease/keepalive", {"ID": lease})
        if "error" in data:
            return 0
        result = data.get("result", data)
        return int(result.get("TTL", 0))

    async def revoke(self, lease: int) -> None:
        await self.call("lease/revoke", {"ID": lease})

    async def get(self, key: str) -> tuple[KeyValue, int]:
        data = await self.call("kv/range", {"key": b64(key)})
        return _kv(data.get("kvs")), int(data.get("header", {}).get("revision", 0))

    async def acquire(self, key: str, owner: str, lease: int) -> TxnAnswer:
        """Put key=owner under `lease` iff the key is absent, or (second transaction) its value
        is already `owner` and it was not changed in between."""
        put = {"request_put": {"key": b64(key), "value": b64(owner), "lease": lease}}
        read = {"request_range": {"key": b64(key)}}
        first = await self.call("kv/txn", {
            "compare": [{"target": "CREATE", "key": b64(key), "create_revision": 0, "result": "EQUAL"}],
            "success": [put], "failure": [read]})
        answer = _txn(first)
        if answer.succeeded or answer.current.value != owner:
            return answer
        second = await self.call("kv/txn", {
            "compare": [{"target": "MOD", "key": b64(key), "mod_revision": answer.current.mod_revision,
                         "result": "EQUAL"}],
            "success": [put], "failure": [read]})
        return _txn(second)

    async def release(self, key: str, owner: str) -> bool:
        data = await self.call("kv/txn", {
            "compare": [{"target": "VALUE", "key": b64(key), "value": b64(owner), "result": "EQUAL"}],
            "success": [{"request_delete_range": {"key": b64(key)}}]})
        return bool(data.get("succeeded"))

    async def watch(self, key: str, start_revision: int) -> AsyncIterator[KeyValue]:
        """Every change of `key` from `start_revision` on; ends (or raises) when the stream does."""
        body = {"create_request": {"key": b64(key), "start_revision": start_revision}}
        url = f"{self.endpoint}/v3/watch"
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout)
        async with self._client().post(url, json=body, timeout=timeout) as resp:
            if resp.status != 200:
                raise EtcdUnavailable(f"{url}: HTTP {resp.status}")
            decoder = json.JSONDecoder()
            buffer = ""
            async for chunk in resp.content.iter_any():
                buffer += chunk.decode()
                while True:
                    buffer = buffer.lstrip()
                    if not buffer:
                        break
                    try:
                        message, used = decoder.raw_decode(buffer)
                    except ValueError:
                        break  # incomplete: wait for more
                    buffer = buffer[used:]
                    result = message.get("result", {})
                    if "error" in message or result.get("canceled"):
                        raise EtcdUnavailable(f"watch ended: {message}")
                    for event in result.get("events", ()):
                        kv = event.get("kv", {})
                        if event.get("type") == "DELETE":
                            yield KeyValue(None, 0, int(kv.get("mod_revision", 0)))
                        else:
                            yield _kv([kv])


def _kv(kvs: list[dict[str, Any]] | None) -> KeyValue:
    if not kvs:
        return KeyValue(None, 0, 0)
    kv = kvs[0]
    return KeyValue(unb64(kv.get("value", "")), int(kv.get("lease", 0)), int(kv.get("mod_revision", 0)))


def _txn(data: dict[str, Any]) -> TxnAnswer:
    current = KeyValue(None, 0, 0)
    for response in data.get("responses", ()):
        if "response_range" in response:
            current = _kv(response["response_range"].get("kvs"))
    return TxnAnswer(bool(data.get("succeeded")), current, int(data.get("header", {}).get("revision", 0)))

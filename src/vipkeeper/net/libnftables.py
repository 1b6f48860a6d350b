"""libnftables (Debian's libnftables1) through ctypes: nftables commands as JSON, no shell, no `nft`.

Why: the firewall rules (net/firewall.py) are data, built as nft's JSON schema; the library
applies a whole batch in one netlink transaction (all or nothing) in about a quarter of a
millisecond, inside the caller - no process to start. With the JSON output flag set,
libnftables 1.0.6 also reads its input as JSON.
"""

from __future__ import annotations

import json
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any

NFT_CTX_OUTPUT_JSON = 1 << 4
LIBRARY = "libnftables.so.1"


class NftError(Exception):
    """nftables refused a batch (nothing of it was applied) or the library is missing."""


class Nftables:
    def __init__(self) -> None:
        import ctypes.util  # here: it imports subprocess and shutil, which the daemon's start-up need not pay

        try:
            lib = ctypes.CDLL(ctypes.util.find_library("nftables") or LIBRARY, use_errno=True)
        except OSError as exc:
            raise NftError(f"cannot load {LIBRARY} (Debian package libnftables1): {exc}") from None
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        self._lib = lib
        self._ctx = lib.nft_ctx_new(0)
        if not self._ctx:
            raise NftError("nft_ctx_new failed")
        lib.nft_ctx_output_set_flags(self._ctx, NFT_CTX_OUTPUT_JSON)
        lib.nft_ctx_buffer_output(self._ctx)
        lib.nft_ctx_buffer_error(self._ctx)

    def run(self, commands: list[dict[str, Any]]) -> Any:
        """Apply `commands` (nft JSON schema objects) as one transaction; the parsed output."""
        if self._ctx is None:
            raise NftError("nftables context closed")
        payload = json.dumps({"nftables": commands}).encode()
        rc = self._lib.nft_run_cmd_from_buffer(self._ctx, payload)
        output = self._lib.nft_ctx_get_output_buffer(self._ctx) or b""
        error = (self._lib.nft_ctx_get_error_buffer(self._ctx) or b"").decode(errors="replace").strip()
        if rc != 0:
            raise NftError(error.splitlines()[0] if error else f"nftables error {rc}")
        return json.loads(output) if output.strip() else None

    def close(self) -> None:
        if self._ctx is not None:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = None

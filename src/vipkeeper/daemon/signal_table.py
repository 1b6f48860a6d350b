"""Which signal means what to the daemon, and the handlers that hold from the first line of the
`run` command until the event loop takes over.

Rule: from the moment `vipkeeper run` (or keepalived's command line) starts executing Python
until the loop installs its own handlers, no signal whose default action is "terminate" may kill
the process by accident, except the stop requests (SIGTERM and its kin, which end a daemon
that holds no VIP yet, as the admin asked). A reload asked for that early is dropped, as
keepalived drops one that arrives before it has read its configuration.

How: this module imports only `signal` (a built-in), so `cli.entry` can call
`early_signal_handlers()` before importing anything else; the handlers are Python-level no-ops,
not SIG_IGN, so that scripts exec'd later get the default dispositions. What is left is the
interpreter's own start-up before the first line of `entry` runs (about 10 ms with Debian's
python3), which no Python code can cover.
"""

from __future__ import annotations

import signal

# keepalived 2.2.7's signal functions (`keepalived --signum=NAME`)
SIGNUM = {
    "STOP": signal.SIGTERM,
    "RELOAD": signal.SIGHUP,
    "DATA": signal.SIGUSR1,
    "STATS": signal.SIGUSR2,
    "STATS_CLEAR": signal.SIGRTMAX - 1,
    "JSON": signal.SIGRTMIN + 2,
}
# Termination requests by convention: stop cleanly (priority 0, VIPs released).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGXCPU, signal.SIGPWR)
# Default action "terminate" but no meaning here: logged and ignored, so that no stray `kill -N`
# takes the VIPs down uncleanly. A handler (not SIG_IGN) so that scripts we exec get the default.
# SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGABRT stay default: they report a fault in this very process.
IGNORED_SIGNALS = tuple(
    s for s in (signal.SIGALRM, signal.SIGVTALRM, signal.SIGPROF, signal.SIGIO, signal.SIGSTKFLT,
                signal.SIGTRAP, signal.SIGSYS, signal.SIGXFSZ,
                *range(signal.SIGRTMIN, signal.SIGRTMAX + 1))
    if s not in SIGNUM.values()
)


def _nothing(_sig: int, _frame: object) -> None:
    return None


def early_signal_handlers() -> None:
    """Before the event loop runs (imports, config read, detach, pid files): a reload, a dump
    request or a stray signal must not kill the process."""
    for sig in (*IGNORED_SIGNALS, signal.SIGHUP, *(SIGNUM[n] for n in ("DATA", "STATS", "JSON", "STATS_CLEAR"))):
        signal.signal(sig, _nothing)

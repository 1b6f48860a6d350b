"""Per-hop CLOCK_MONOTONIC stamps inside a `vipkeeper run` daemon, for bench/hops/harness.py.

Active only when VK_HOPS names a directory and the process is `vipkeeper run`: it wraps the
functions on a failover's path (tracker wake-ups, the hub, Router.feed/received/_fire/
send_advert, the core's handle, VIP adds, log records, the timerfd, epoll returns, gc) and
appends (monotonic ns, hop, detail) to a list that a thread writes to VK_HOPS/PID.jsonl every
0.5 s and at exit. A development tool: it changes nothing the daemon does, it only watches.
"""
import os, sys
_dir = os.environ.get("VK_HOPS")
if _dir and "run" in getattr(sys, "orig_argv", []) and "vipkeeper" in " ".join(sys.orig_argv):
    import time, json, atexit, functools
    mono = time.monotonic_ns
    REC = []
    def stamp(name, *extra):
        REC.append((mono(), name) + extra)
    def flush():
        path = os.path.join(_dir, f"{os.getpid()}.jsonl")
        with open(path, "a") as f:
            for r in REC:
                f.write(json.dumps(r) + "\n")
        REC.clear()
    atexit.register(flush)
    def wrap(cls, meth, name, extra=None, after=None):
        orig = getattr(cls, meth)
        @functools.wraps(orig)
        def w(*a, **k):
            REC.append((mono(), name) + ((extra(*a, **k),) if extra else ()))
            r = orig(*a, **k)
            if after:
                REC.append((mono(), after) + ((extra(*a, **k),) if extra else ()))
            return r
        setattr(cls, meth, w)
    from vipkeeper.track import proc_connector as pc, process_table as pt
    from vipkeeper.daemon import tracking, router
    from vipkeeper.net import vrrp_socket, addresses, announce
    wrap(pc.ProcessTracker, "_on_readable", "m_wake_conn")
    wrap(pc.ProcessTracker, "_on_tick", "m_wake_tick")
    wrap(pc.ProcessTracker, "_on_pidfd", "m_wake_pidfd", lambda self, pid, fd: pid)
    def batch_extra(self, events, now):
        return [[e.pid, e.ts_ns] for e in events if type(e).__name__ == "Exit"]
    wrap(pt.ProcessTable, "handle_batch", "m_batch", batch_extra)
    wrap(pt.ProcessTable, "handle", "m_handle", lambda self, ev, now: [type(ev).__name__, getattr(ev, "pid", None)])
    wrap(tracking.TrackingHub, "_process_changed", "m_hub")
    wrap(router.Router, "feed", "feed", lambda self, ev, now=None: type(ev).__name__)
    wrap(router.Router, "send_advert", "adv_start", lambda self, prio: prio, after="adv_end")
    wrap(vrrp_socket.VrrpSocket, "_readable", "rx_wake")
    def rx_extra(self, got):
        return got.advertisement.priority
    orig_received = router.Router.received
    def received(self, got, *a):
        REC.append((mono(), "rx_router", got.advertisement.priority) + tuple(int(x * 1e9) for x in a if x))
        r = orig_received(self, got, *a)
        d = self.core.next_deadline()
        REC.append((mono(), "rx_done", got.advertisement.priority, None if d is None else int(d * 1e9)))
        return r
    router.Router.received = received
    orig_fire = router.Router._fire
    def fire(self):
        at = self._timer_at
        REC.append((mono(), "timer_fire", None if at is None else int(at * 1e9)))
        return orig_fire(self)
    router.Router._fire = fire
    wrap(addresses.AddressOwner, "add_now", "vip_add_start", after="vip_add_end")
    wrap(addresses.AddressOwner, "remove_now", "vip_del_start", after="vip_del_end")
    wrap(announce.Announcer, "announce", "announce")
    import logging
    orig_handle = logging.Logger.handle
    def handle(self, record):
        REC.append((mono(), "log_start", record.getMessage()[:60]))
        r = orig_handle(self, record)
        REC.append((mono(), "log_end"))
        return r
    logging.Logger.handle = handle
    from vipkeeper.vrrp import instance as inst
    from vipkeeper import precise_timers as ptm
    wrap(inst.Instance, "handle", "core_start", lambda self, ev, now: type(ev).__name__, after="core_end")
    wrap(pc.ProcessTracker, "_emit", "m_emit")
    wrap(router.Router, "enqueue", "enqueue", lambda self, acts: len(acts))
    wrap(ptm.PreciseTimers, "_expired", "tfd_wake")
    import selectors
    orig_sel = selectors.EpollSelector.select
    def sel(self, timeout=None):
        r = orig_sel(self, timeout)
        if r:
            REC.append((mono(), "epoll", len(r)))
        return r
    selectors.EpollSelector.select = sel
    import gc
    def gccb(phase, info):
        REC.append((mono(), "gc_" + phase, info.get("generation")))
    gc.callbacks.append(gccb)
    # flush every 0.5 s from a thread (tiny; keeps data if the daemon is killed)
    import threading
    def flusher():
        while True:
            time.sleep(0.5)
            if REC:
                try:
                    flush()
                except Exception:
                    pass
    threading.Thread(target=flusher, daemon=True).start()
_pc = os.environ.get("VK_PATHCOUNT")
if _pc and "run" in getattr(sys, "orig_argv", []) and "vipkeeper" in " ".join(sys.orig_argv):
    import pathcount  # same directory: the calls from a wake to the priority-0 sendto (pathcount.py)
    pathcount.install(_pc)
_at = os.environ.get("VK_ADVERT_TAIL")
if _at and "run" in getattr(sys, "orig_argv", []) and "vipkeeper" in " ".join(sys.orig_argv):
    import advert_tail  # same directory: the steady adverts' lateness, gc and slow callbacks (advert_tail.py)
    advert_tail.install(_at)

"""A vrrp_script's rise/fall counter: when its results make it OK or KO. Pure.

Rules (keepalived vrrp_scheduler.c vrrp_script_child_thread; research notes §5)
- `result` runs over 0 .. rise+fall-1; the script is OK iff result >= rise.
- Initial result = rise-1 (unknown: one success makes it OK, one failure KO), or 0 with
  `init_fail` (starts KO, needs `rise` successes). Until the first transition the state is
  "init" (None) unless init_fail, which starts KO.
- Success: result < rise-1 -> result+1 (still KO); result == rise-1 -> OK, result = rise+fall-1;
  already OK -> result = rise+fall-1.
- Failure: result > rise -> result-1 (still OK); else (result == rise, i.e. the fall-th failure
  in a row, or any failure while KO/init) -> KO, result = 0.
So `rise` successes in a row make it OK and `fall` failures in a row make it KO.
"""

from __future__ import annotations

from vipkeeper.records import record



@record
class ScriptState:
    rise: int = 1
    fall: int = 1
    init_fail: bool = False

    def __post_init__(self) -> None:
        self.rise = max(1, self.rise)
        self.fall = max(1, self.fall)
        self.result = 0 if self.init_fail else self.rise - 1
        self.ok: bool | None = False if self.init_fail else None

    def record(self, success: bool) -> bool | None:
        """Count one run; the new state if it changed (True OK, False KO), else None."""
        rise, fall = self.rise, self.fall
        if success:
            if self.result < rise - 1:
                self.result += 1
                return None
            self.result = rise + fall - 1
            if self.ok is True:
                return None
            self.ok = True
            return True
        if self.result > rise:
            self.result -= 1
            return None
        self.result = 0
        if self.ok is False:
            return None
        self.ok = False
        return False

"""VMACs for VIPs off the instance's own VMAC: keepalived's `use_vmac_addr` and per-VIP `use_vmac`.

Rules (keepalived 2.2.7, vrrp.c vrrp_complete_instance and create_vmac_name; man 5 keepalived.conf)
- A VIP or eVIP gets a VMAC of its own (an "address VMAC") when
  * it names another interface (`dev` not the instance's), and the instance has `use_vmac_addr`
    or the VIP has `use_vmac`; or
  * it names no interface (or the instance's) but is of the other address family, and the
    instance has `use_vmac_addr` or the VIP has `use_vmac`.
  A VIP of the instance's family on the instance's interface goes on the instance's own VMAC
  (with `use_vmac`), never on an address VMAC: `use_vmac` on such a VIP of a `use_vmac` instance
  is reported ("use_vmac specified for VIP/eVIP X and vrrp instance"), and so is a VIP's
  `use_vmac` that `use_vmac_addr` already covers ("use_vmac_addr specified and use_vmac
  specified for VIP/eVIP X"); neither stops anything. `use_vmac_addr` needs no `use_vmac` on
  the instance.
- The address VMAC is a private macvlan on the VIP's interface with the VIP family's VRRP MAC,
  00:00:5e:00:01:VRID (IPv4) or 00:00:5e:00:02:VRID (IPv6), or the instance's configured
  `use_vmac` MAC. VIPs of one (VRID, interface, family, MAC) share one, also across instances
  (keepalived finds it again with if_get_by_vmac).
- Its name is the first free one of `vrrp.VRID`, `vrrp1.VRID`, `vrrp2.VRID`, ... (IPv6:
  `vrrp.VRID`, `vrrp6.VRID`, `vrrp1.VRID`, ..., `vrrp5.VRID`, `vrrp7.VRID`, ...), free meaning
  no instance's VMAC (or ipvlan) has it and no address VMAC took it before. keepalived also
  skips a name some existing interface has; vipkeeper decides the names from the configuration
  alone, so `check` can print them, and the daemon refuses to start, naming it, when an
  interface it did not make has one (net/vmac.py). So with `use_vmac` and `use_vmac_addr` on a
  VRID 51 instance, the VMAC for a VIP on eth1 is `vrrp1.51`; with `use_vmac_addr` alone it is
  `vrrp.51`.
- It is made at start, stays up in every state (only the VIPs on it come and go) and is deleted
  at exit and when a reload leaves no VIP on it (keepalived's vrrp_restore_interface and
  clear_diff_vrrp_vmac; vipkeeper likewise, tests/net/test_vmac_addr_keepalived.py).
- Difference, on purpose: keepalived also tracks the address VMAC with weight 0 unless the VIP
  has `no_track`; deleted by someone, it puts the instance in FAULT and never makes it again
  (measured with 2.2.7, tests/net/test_vmac_addr_keepalived.py). vipkeeper makes it again at
  once, as it does the instance's own VMAC, and the Master puts its VIPs back; it does not
  fault the instance while the VMAC is merely down (it tracks no VIP's interface).
Pure: instances in, instances with each VIP's `vmac` filled out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from vipkeeper import records

from .model import Instance, VirtualAddress

VMAC_PREFIX = "vrrp"  # keepalived's default; vmac_prefix / vmac_addr_prefix are not read


def vmac_names(vrid: int, family: int, prefix: str = VMAC_PREFIX) -> Iterable[str]:
    """keepalived's create_vmac_name candidates, in order (bounded: 255 of them)."""
    yield f"{prefix}.{vrid}"
    num = 0
    for _ in range(255):
        if family == 6:
            if num == 0:
                num = 6
            elif num == 6:
                num = 1
            else:
                num += 1
                if num == 6:
                    num += 1
        else:
            num += 1
        yield f"{prefix}{num}.{vrid}"


def wants_vmac(instance: Instance, vip: VirtualAddress) -> bool:
    """Whether `vip` goes on an address VMAC (module docstring)."""
    own_if = vip.dev is None or vip.dev == instance.interface
    if own_if and vip.family == instance.family:
        return False
    return instance.use_vmac_addr or "use_vmac" in vip.options


def conflicts(instance: Instance) -> list[tuple[VirtualAddress, str]]:
    """keepalived's complaints about a VIP's `use_vmac`, in its words (it carries on)."""
    out = []
    for vip in instance.virtual_ipaddress + instance.virtual_ipaddress_excluded:
        if "use_vmac" not in vip.options:
            continue
        own_if = vip.dev is None or vip.dev == instance.interface
        if own_if and instance.use_vmac is not None and vip.family == instance.family:
            out.append((vip, f"({instance.name}) use_vmac specified for VIP/eVIP {vip.address.ip} and vrrp instance"))
        elif (not own_if or vip.family != instance.family) and instance.use_vmac_addr:
            message = f"({instance.name}) use_vmac_addr specified and use_vmac specified for VIP/eVIP {vip.address.ip}"
            out.append((vip, message))
    return out


def assign(instances: list[Instance], warn: Callable[[VirtualAddress, str], None]) -> list[Instance]:
    """Each VIP that wants an address VMAC gets its name in `vmac` (module docstring)."""
    taken = {i.vmac_interface for i in instances if i.vmac_interface}
    made: dict[tuple[int, str, int, str | None], str] = {}
    out = []
    for instance in instances:
        for vip, message in conflicts(instance):
            warn(vip, message)
        lists = []
        for vips in (instance.virtual_ipaddress, instance.virtual_ipaddress_excluded):
            changed = []
            for vip in vips:
                if wants_vmac(instance, vip):
                    parent = vip.dev or instance.interface
                    key = (instance.virtual_router_id, parent, vip.family, instance.vmac_address)
                    name = made.get(key)
                    if name is None:
                        name = next(n for n in vmac_names(instance.virtual_router_id, vip.family) if n not in taken)
                        taken.add(name)
                        made[key] = name
                    vip = records.replace(vip, vmac=name)
                changed.append(vip)
            lists.append(tuple(changed))
        if any(v.vmac for vips in lists for v in vips):
            instance = records.replace(instance, virtual_ipaddress=lists[0], virtual_ipaddress_excluded=lists[1])
        out.append(instance)
    return out

"""VRRP advertisements on the wire: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798), IPv4 and IPv6.

Rules
-----
- This module answers one question: *is this a valid VRRP advertisement, and what does it say?*
  Whether the advertisement is right for a given virtual router (VRID, interval, authentication,
  peer) is the instance's business (vrrp/instance.py) -- the split FRR's vrrpd makes between
  vrrp_packet.c and vrrp.c.
- Decoding returns a value or raises exactly one exception type, `MalformedPacket`, whose
  `reason` is a `DropReason`. Nothing else escapes a decoder, whatever the bytes (a property
  test feeds it hundreds of thousands of random and mutated inputs). The reason's value is the
  name of the counter the shell increments, so counters share one vocabulary with the instance,
  which uses the same enum for the adverts it rejects.
- Encoding is byte-exact with keepalived 2.2.7 (golden frames in tests/data/vectors): a decoded
  advertisement re-encodes to the bytes it came from, checksum included. One exception, found by
  fuzzing: a sender may write the checksum 0x0000 as 0xffff (ones' complement has two zeros).
  Both verify, keepalived accepts both, and so do we; the encoder writes 0x0000 as the Internet
  checksum algorithm computes it, so such a frame re-encodes with the other zero.
- Pure: no sockets, no clock. Bytes in, values out.

Theory of operation
-------------------
Both versions share an 8-byte header::

    0                   1                   2                   3
    |Version| Type  | Virtual Rtr ID|   Priority    | Count IPvX Addr|
    v2: | Auth Type   | Adver Int (s) |          Checksum             |
    v3: |(rsvd)| Max Adver Int (cs) |          Checksum             |

followed by `count` addresses (4 or 16 bytes each) and, for v2 only, 8 bytes of authentication
data. The v2 checksum covers the VRRP message alone; the v3 checksum also covers the IPv4/IPv6
pseudo-header (RFC 5798 §5.2.8), which is why `encode`/`decode` take the source and destination
addresses. VRRPv2 exists only over IPv4 (keepalived forces version 3 for IPv6).

One representation of the interval, `interval_cs` (centiseconds), serves both versions: v3
carries centiseconds on the wire (12 bits); v2 carries whole seconds (8 bits), so a v2
advertisement's `interval_cs` is always a multiple of 100. `interval` gives seconds as a float.

IPv4 raw sockets hand us the whole datagram, so `decode_ipv4_datagram` checks the IP header too
(protocol 112, no fragments, header checksum, TTL 255 as RFC 5798 §5.1.1.3 demands). For IPv6
the kernel strips the header; the shell passes source, destination and the hop limit from
ancillary data to `decode_ipv6`. Both return a `Received`.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from vipkeeper.records import field, record

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address  # types.UnionType: no typing at run time

IPPROTO_VRRP = 112
VRRP_TTL = 255
ADVERTISEMENT = 1
AUTH_NONE = 0
AUTH_PASS = 1
AUTH_AH = 2
AUTH_DATA_LEN = 8
HEADER_LEN = 8
IPV4_HEADER_LEN = 20
TOS_INTERNETWORK_CONTROL = 0xC0  # what keepalived puts in the IPv4 TOS byte
MAX_INTERVAL_CS = 0x0FFF


class DropReason(str, enum.Enum):
    """Why a received frame was not used; each value names a counter.

    The first group is raised by the codec (the frame is not a valid VRRP advertisement); the
    second by the instance or the shell (valid, but not for us or not acceptable to us).
    """

    # codec: not a valid VRRP advertisement
    TRUNCATED = "truncated"
    BAD_IP_HEADER = "bad_ip_header"
    BAD_TTL = "bad_ttl"
    BAD_VERSION = "bad_version"
    BAD_TYPE = "bad_type"
    BAD_LENGTH = "bad_length"
    BAD_CHECKSUM = "bad_checksum"
    BAD_AUTH_TYPE = "bad_auth_type"
    ADDRESS_COUNT_MISMATCH = "address_count_mismatch"
    # instance / shell: valid, but not right for this virtual router
    WRONG_VRID = "wrong_vrid"
    WRONG_VERSION = "wrong_version"
    UNKNOWN_PEER = "unknown_peer"
    INTERVAL_MISMATCH = "interval_mismatch"
    AUTH_MISMATCH = "auth_mismatch"
    OWN_ADDRESS = "own_address"
    VIP_MISMATCH = "vip_mismatch"
    NOT_LISTENING = "not_listening"  # INIT/FAULT/STOP or during the startup delay
    MODE_MISMATCH = "mode_mismatch"  # a unicast advert at a multicast-only instance, or the reverse


class MalformedPacket(Exception):
    """The one exception a decoder raises; `reason` names the drop counter."""

    def __init__(self, reason: DropReason, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)


@record(frozen=True)
class Advertisement:
    """One VRRP advertisement, version-neutral.

    `checksum` is informational (what the wire said) and does not take part in equality: the
    encoder always computes the correct checksum.
    """

    version: int
    vrid: int
    priority: int
    addresses: tuple[IPAddress, ...]
    interval_cs: int
    auth_type: int = AUTH_NONE
    auth_data: bytes = b""
    checksum: int | None = field(default=None, compare=False)

    @property
    def interval(self) -> float:
        """The advertisement interval in seconds."""
        return self.interval_cs / 100

    @classmethod
    def v2(
        cls,
        vrid: int,
        priority: int,
        addresses: tuple[IPAddress, ...],
        adver_int: int = 1,
        auth_pass: bytes | None = None,
    ) -> Advertisement:
        """A VRRPv2 advertisement; `auth_pass` given means PASS authentication."""
        if auth_pass is None:
            return cls(2, vrid, priority, tuple(addresses), adver_int * 100, AUTH_NONE, bytes(8))
        return cls(2, vrid, priority, tuple(addresses), adver_int * 100, AUTH_PASS, pad_auth(auth_pass))

    @classmethod
    def v3(
        cls, vrid: int, priority: int, addresses: tuple[IPAddress, ...], interval_cs: int = 100
    ) -> Advertisement:
        return cls(3, vrid, priority, tuple(addresses), interval_cs)


@record(frozen=True)
class Received:
    """An advertisement with the IP facts the instance and the counters need."""

    source: IPAddress
    destination: IPAddress
    ttl: int  # IPv4 TTL or IPv6 hop limit
    advertisement: Advertisement
    ip_id: int | None = None  # IPv4 identification, for byte-exact re-encoding and display


def pad_auth(secret: bytes) -> bytes:
    """keepalived truncates `auth_pass` to 8 bytes and pads with zeros."""
    return bytes(secret[:AUTH_DATA_LEN]).ljust(AUTH_DATA_LEN, b"\0")


def internet_checksum(data: bytes) -> int:
    """RFC 1071 ones' complement sum."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _pseudo_header(src: IPAddress, dst: IPAddress, length: int) -> bytes:
    if src.version == 4:
        return src.packed + dst.packed + struct.pack("!BBH", 0, IPPROTO_VRRP, length)
    return src.packed + dst.packed + struct.pack("!I3xB", length, IPPROTO_VRRP)


def _check_family(src: IPAddress, dst: IPAddress) -> int:
    # A programming error in the caller, not bad input from the wire: fail loudly.
    if not isinstance(src, (ipaddress.IPv4Address, ipaddress.IPv6Address)) or type(src) is not type(dst):
        raise ValueError(f"source and destination must be addresses of one family, got {src!r}, {dst!r}")
    return src.version


# --- encoding -------------------------------------------------------------------------------


def encode(adv: Advertisement, src: IPAddress, dst: IPAddress) -> bytes:
    """The VRRP message (IP payload) for `adv` sent from `src` to `dst`, checksum computed."""
    family = _check_family(src, dst)
    if adv.version not in (2, 3):
        raise ValueError(f"VRRP version must be 2 or 3, not {adv.version}")
    if adv.version == 2 and family != 4:
        raise ValueError("VRRPv2 is IPv4 only")
    if not 0 <= adv.vrid <= 255 or not 0 <= adv.priority <= 255 or len(adv.addresses) > 255:
        raise ValueError("vrid, priority and address count must each fit in one byte")
    if any(a.version != family for a in adv.addresses):
        raise ValueError("advertised addresses must be of the packet's family")
    body = b"".join(a.packed for a in adv.addresses)
    if adv.version == 2:
        if adv.interval_cs % 100 or not 0 <= adv.interval_cs // 100 <= 255:
            raise ValueError("a VRRPv2 interval is whole seconds, 0..255")
        if len(adv.auth_data) > AUTH_DATA_LEN:
            raise ValueError("VRRPv2 authentication data is at most 8 bytes")
        head = struct.pack(
            "!BBBBBBH", 0x21, adv.vrid, adv.priority, len(adv.addresses),
            adv.auth_type, adv.interval_cs // 100, 0,
        )
        msg = head + body + pad_auth(adv.auth_data)
        csum = internet_checksum(msg)
    else:
        if not 0 <= adv.interval_cs <= MAX_INTERVAL_CS:
            raise ValueError("a VRRPv3 interval is 0..4095 centiseconds")
        head = struct.pack("!BBBBHH", 0x31, adv.vrid, adv.priority, len(adv.addresses), adv.interval_cs, 0)
        msg = head + body
        csum = internet_checksum(_pseudo_header(src, dst, len(msg)) + msg)
    return msg[:6] + struct.pack("!H", csum) + msg[8:]


def encode_ipv4_datagram(
    adv: Advertisement,
    src: ipaddress.IPv4Address,
    dst: ipaddress.IPv4Address,
    ttl: int = VRRP_TTL,
    ip_id: int = 0,
    tos: int = TOS_INTERNETWORK_CONTROL,
    dont_fragment: bool = False,
) -> bytes:
    """A whole IPv4 datagram as keepalived builds it (IP_HDRINCL): TOS 0xc0, no DF, TTL 255.

    keepalived numbers its datagrams itself (1, 2, 3, ... per instance); pass `ip_id` to match.
    """
    payload = encode(adv, src, dst)
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, tos, IPV4_HEADER_LEN + len(payload), ip_id & 0xFFFF,
        0x4000 if dont_fragment else 0, ttl, IPPROTO_VRRP, 0, src.packed, dst.packed,
    )
    header = header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]
    return header + payload


# --- decoding -------------------------------------------------------------------------------


def decode(payload: bytes, src: IPAddress, dst: IPAddress) -> Advertisement:
    """Parse and validate a VRRP message received from `src` to `dst`.

    Raises MalformedPacket; the message must be exactly as long as its address count says
    (IP-level padding is removed by the datagram decoders).
    """
    family = _check_family(src, dst)
    data = bytes(payload)
    if len(data) < HEADER_LEN:
        raise MalformedPacket(DropReason.TRUNCATED, f"{len(data)} bytes, a header is {HEADER_LEN}")
    ver_type, vrid, priority, count = data[0], data[1], data[2], data[3]
    version, kind = ver_type >> 4, ver_type & 0x0F
    if version not in (2, 3) or (version == 2 and family != 4):
        raise MalformedPacket(DropReason.BAD_VERSION, f"version {version} over IPv{family}")
    if kind != ADVERTISEMENT:
        raise MalformedPacket(DropReason.BAD_TYPE, f"type {kind}")
    addr_len = 4 if family == 4 else 16
    expected = HEADER_LEN + count * addr_len + (AUTH_DATA_LEN if version == 2 else 0)
    if len(data) < expected:
        # Distinguish a short frame from one whose count disagrees with its size.
        reason = DropReason.ADDRESS_COUNT_MISMATCH if count and len(data) > HEADER_LEN else DropReason.TRUNCATED
        raise MalformedPacket(reason, f"{len(data)} bytes, {count} addresses need {expected}")
    if len(data) > expected:
        raise MalformedPacket(DropReason.BAD_LENGTH, f"{len(data)} bytes, {count} addresses need {expected}")
    (checksum,) = struct.unpack_from("!H", data, 6)
    if version == 2:
        covered = data
    else:
        covered = _pseudo_header(src, dst, len(data)) + data
    if internet_checksum(covered) != 0:
        raise MalformedPacket(DropReason.BAD_CHECKSUM, f"checksum {checksum:#06x}")
    addr_type = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    addresses = tuple(
        addr_type(data[HEADER_LEN + i * addr_len : HEADER_LEN + (i + 1) * addr_len]) for i in range(count)
    )
    if version == 2:
        auth_type, adver_int = data[4], data[5]
        if auth_type not in (AUTH_NONE, AUTH_PASS, AUTH_AH):
            raise MalformedPacket(DropReason.BAD_AUTH_TYPE, f"auth type {auth_type}")
        return Advertisement(2, vrid, priority, addresses, adver_int * 100, auth_type, data[-AUTH_DATA_LEN:], checksum)
    (rsvd_int,) = struct.unpack_from("!H", data, 4)
    if rsvd_int >> 12:
        # RFC 5798 says ignore the reserved bits; keeping them would break byte-exact re-encoding
        # and no implementation sets them, so treat them as a malformed header.
        raise MalformedPacket(DropReason.BAD_LENGTH, "reserved bits set in the interval field")
    return Advertisement(3, vrid, priority, addresses, rsvd_int & MAX_INTERVAL_CS, checksum=checksum)


def decode_ipv4_datagram(data: bytes, check_ttl: bool = True) -> Received:
    """Parse a whole IPv4 datagram carrying VRRP, as an IPv4 raw socket delivers it.

    `check_ttl=False` is for unicast setups that configured a unicast_ttl other than 255.
    """
    data = bytes(data)
    if len(data) < IPV4_HEADER_LEN:
        raise MalformedPacket(DropReason.TRUNCATED, f"{len(data)} bytes, an IPv4 header is 20")
    vihl, _tos, total_len, ip_id, frag, ttl, proto, _csum = struct.unpack_from("!BBHHHBBH", data)
    ihl = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or ihl < IPV4_HEADER_LEN:
        raise MalformedPacket(DropReason.BAD_IP_HEADER, f"version/IHL byte {vihl:#04x}")
    if len(data) < ihl or total_len < ihl:
        raise MalformedPacket(DropReason.TRUNCATED, "IPv4 header longer than the datagram")
    if total_len > len(data):
        raise MalformedPacket(DropReason.TRUNCATED, f"IPv4 total length {total_len}, have {len(data)}")
    if internet_checksum(data[:ihl]) != 0:
        raise MalformedPacket(DropReason.BAD_IP_HEADER, "IPv4 header checksum")
    if proto != IPPROTO_VRRP:
        raise MalformedPacket(DropReason.BAD_IP_HEADER, f"IP protocol {proto}, not VRRP (112)")
    if frag & 0x3FFF:
        raise MalformedPacket(DropReason.BAD_IP_HEADER, "fragmented datagram")
    src = ipaddress.IPv4Address(data[12:16])
    dst = ipaddress.IPv4Address(data[16:20])
    if check_ttl and ttl != VRRP_TTL:
        raise MalformedPacket(DropReason.BAD_TTL, f"TTL {ttl}")
    adv = decode(data[ihl:total_len], src, dst)
    return Received(src, dst, ttl, adv, ip_id)


def decode_ipv6(
    payload: bytes,
    src: ipaddress.IPv6Address,
    dst: ipaddress.IPv6Address,
    hop_limit: int,
    check_hop_limit: bool = True,
) -> Received:
    """Parse a VRRP message from an IPv6 raw socket (the kernel has removed the IPv6 header)."""
    if check_hop_limit and hop_limit != VRRP_TTL:
        raise MalformedPacket(DropReason.BAD_TTL, f"hop limit {hop_limit}")
    return Received(src, dst, hop_limit, decode(payload, src, dst))


def decode_ipv6_datagram(data: bytes, check_hop_limit: bool = True) -> Received:
    """Parse a whole IPv6 packet (as captured; sockets never hand us one). No extension headers."""
    data = bytes(data)
    if len(data) < 40:
        raise MalformedPacket(DropReason.TRUNCATED, f"{len(data)} bytes, an IPv6 header is 40")
    if data[0] >> 4 != 6:
        raise MalformedPacket(DropReason.BAD_IP_HEADER, f"IP version {data[0] >> 4}")
    plen, next_header, hop_limit = struct.unpack_from("!HBB", data, 4)
    if next_header != IPPROTO_VRRP:
        raise MalformedPacket(DropReason.BAD_IP_HEADER, f"next header {next_header}, not VRRP (112)")
    if 40 + plen > len(data):
        raise MalformedPacket(DropReason.TRUNCATED, f"IPv6 payload length {plen}, have {len(data) - 40}")
    src = ipaddress.IPv6Address(data[8:24])
    dst = ipaddress.IPv6Address(data[24:40])
    return decode_ipv6(data[40 : 40 + plen], src, dst, hop_limit, check_hop_limit)


def decode_ip_datagram(data: bytes, check_ttl: bool = True) -> Received:
    """Dispatch on the IP version nibble (captures, `vipkeeper decode --hex`)."""
    data = bytes(data)
    if not data:
        raise MalformedPacket(DropReason.TRUNCATED, "empty datagram")
    if data[0] >> 4 == 4:
        return decode_ipv4_datagram(data, check_ttl)
    if data[0] >> 4 == 6:
        return decode_ipv6_datagram(data, check_ttl)
    raise MalformedPacket(DropReason.BAD_IP_HEADER, f"IP version {data[0] >> 4}")

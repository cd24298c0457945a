"""Whether a client address is inside configured networks (`cas.slo.allowed_sources`).

The address is `Request.client`: the TCP peer as mitmproxy saw it, never a
header such as X-Forwarded-For, which any client can write.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from gateway.config.model import SourceNetwork


def client_in(client: str | None, networks: Sequence[SourceNetwork]) -> bool:
    """True when `client` is an IP address inside one of `networks`. A dual-stack
    listener reports IPv4 peers as `::ffff:a.b.c.d`: those count as the IPv4
    address. Anything unparseable is outside."""
    if not client or not networks:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            return False  # a link-local address with a zone: never configured (refused there)
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
    return any(address in network for network in networks)

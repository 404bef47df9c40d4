"""Whether this machine can listen on an address: checked before a server builds anything,
so that a port in use is a one-line error, not a traceback after minutes of loading."""

from __future__ import annotations

import errno
import socket

from compound.errors import UserError


def check_can_listen(host: str, port: int) -> None:
    """Refuse, before anything starts, an address this machine cannot listen on: a port
    another process holds, a host that is not one of this machine's addresses.

    Raises:
        UserError: naming the address, why, and what to change.
    """
    if not 0 <= port <= 65535:  # the C library would wrap it round to another port
        raise UserError(f"cannot listen on {host}:{port}: a port is 1 to 65535 (0: any free "
                        "one); check --port or serve.port")
    if any(ord(char) < 32 or ord(char) == 127 for char in host):
        raise UserError(f"cannot listen on {host!r}: a host has no control characters; check "
                        "--host or serve.host")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise UserError(f"cannot listen on {host}:{port}: the host does not resolve "
                        f"({getattr(exc, 'strerror', None) or exc}); check --host or "
                        "serve.host") from None
    with socket.socket(family, kind, proto) as probe:
        # as uvicorn does: a port left in TIME_WAIT by a stopped server is free to take
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            what = {errno.EADDRINUSE: "stop what listens there or choose another --port",
                    errno.EACCES: "a port under 1024 needs privileges; choose another --port"
                    }.get(exc.errno or 0, "check --host (serve.host): it must be an address "
                          "of this machine, or 0.0.0.0 for all of them")
            raise UserError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                            f"{what}") from None

"""Offline guard for benchmark subprocesses: no connection may leave the machine.

Put this directory first on PYTHONPATH; Python imports `sitecustomize` at start-up. Every
attempt to resolve a non-local name or to connect/send to a non-loopback address is refused
with OSError(ENETUNREACH) before any packet is sent, and recorded in `ATTEMPTS` and (one JSON
line each) in the file named by BENCH_NET_LOG. Loopback and Unix sockets are allowed.
"""
import errno
import json
import os
import socket
import traceback

BENCH_OFFLINE_GUARD = True
ATTEMPTS = []
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "127.0.0.1", "::1", "", None}


def _is_local(host):
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    return host in _LOCAL_NAMES or (isinstance(host, str) and host.startswith("127."))


def _refuse(what, target):
    stack = [f"{f.filename.rsplit('site-packages/', 1)[-1]}:{f.lineno}" for f in traceback.extract_stack()[-8:-2]]
    rec = {"call": what, "target": str(target), "stack": stack}
    ATTEMPTS.append(rec)
    path = os.environ.get("BENCH_NET_LOG")
    if path:
        try:
            with open(path, "a") as f:
                f.write(json.dumps(rec) + "\n")
        except OSError:
            pass
    raise OSError(errno.ENETUNREACH, f"blocked by the benchmark's offline guard: {what} {target}")


def _target_ok(sock, address):
    if getattr(sock, "family", None) == getattr(socket, "AF_UNIX", object()):
        return True
    host = address[0] if isinstance(address, tuple) and address else address
    return _is_local(host)


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_sendto = socket.socket.sendto
_getaddrinfo = socket.getaddrinfo
_gethostbyname = socket.gethostbyname
_gethostbyname_ex = socket.gethostbyname_ex
_create_connection = socket.create_connection


def connect(self, address):
    if not _target_ok(self, address):
        _refuse("connect", address)
    return _connect(self, address)


def connect_ex(self, address):
    if not _target_ok(self, address):
        _refuse("connect_ex", address)
    return _connect_ex(self, address)


def sendto(self, data, *args):
    address = args[-1]
    if not _target_ok(self, address):
        _refuse("sendto", address)
    return _sendto(self, data, *args)


def getaddrinfo(host, port, *args, **kwargs):
    if not _is_local(host):
        _refuse("getaddrinfo", f"{host}:{port}")
    return _getaddrinfo(host, port, *args, **kwargs)


def gethostbyname(host):
    if not _is_local(host):
        _refuse("gethostbyname", host)
    return _gethostbyname(host)


def gethostbyname_ex(host):
    if not _is_local(host):
        _refuse("gethostbyname_ex", host)
    return _gethostbyname_ex(host)


def create_connection(address, *args, **kwargs):
    if not _is_local(address[0]):
        _refuse("create_connection", address)
    return _create_connection(address, *args, **kwargs)


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.socket.sendto = sendto
socket.getaddrinfo = getaddrinfo
socket.gethostbyname = gethostbyname
socket.gethostbyname_ex = gethostbyname_ex
socket.create_connection = create_connection

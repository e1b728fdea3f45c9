"""Close one process's TCP listeners from outside it, before it is stopped.

Several PgBouncer processes share a port (so_reuseport). One that is told to stop (SIGTERM) closes
its listeners, but since PgBouncer 1.25 it also refuses every client whose login is still in
progress ("pooler is shutting down"): under a steady stream of new connections some always are.
Closing the process's listening sockets first, with shutdown(SHUT_RD) on a duplicate of each taken
with pidfd_getfd(2), takes them out of the port's so_reuseport group at once (the kernel hands the
connections still queued on them to the other processes, net.ipv4.tcp_migrate_req), while the
connections the process already accepted finish their logins; it is stopped after that.

pidfd_getfd needs ptrace access to the process: root has it on a host (CAP_SYS_PTRACE); where root
lacks that capability (a container), a child with the service user's ids, the process's own, does
the work instead.
"""

from __future__ import annotations

import ctypes
import errno
import os
import pwd
import socket

SYS_PIDFD_GETFD = 438  # the same number on every architecture Linux gives the syscall
TCP_LISTEN = "0A"


def listening_inodes(port: int, tables: tuple[str, ...] = ("/proc/net/tcp", "/proc/net/tcp6")) -> set[str]:
    """The socket inodes listening on TCP ``port`` in this network namespace."""
    inodes = set()
    for table in tables:
        try:
            with open(table, encoding="ascii") as handle:
                rows = handle.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[3] == TCP_LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _socket_fds(pid: int, inodes: set[str]) -> list[int]:
    """The descriptors of process ``pid`` that are one of the sockets ``inodes``."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    found = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}") in wanted:
                found.append(int(name))
        except FileNotFoundError:
            continue  # closed meanwhile; a PermissionError goes up (the caller retries as the user)
    return sorted(found)


def _shut_down(pid: int, port: int) -> int:
    """shutdown(SHUT_RD) every TCP listener of ``pid`` on ``port``; how many."""
    fds = _socket_fds(pid, listening_inodes(port))
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        for fd in fds:
            local = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
            if local < 0:
                code = ctypes.get_errno()
                raise OSError(code, f"pidfd_getfd: {os.strerror(code)}")
            with socket.socket(fileno=local) as duplicate:
                duplicate.shutdown(socket.SHUT_RD)
    finally:
        os.close(pidfd)
    return len(fds)


def _shut_down_as(user: str, pid: int, port: int) -> int:
    """_shut_down in a child that runs with ``user``'s ids; how many, or -1 when it failed."""
    entry = pwd.getpwnam(user)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - exercised on the hosts
        os.close(read_end)
        closed = -1
        try:
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            closed = _shut_down(pid, port)
        except BaseException:  # the parent only needs the count
            closed = -1
        os.write(write_end, str(closed).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read().decode() or "-1"
    os.waitpid(child, 0)
    return int(answer)


def close_listeners(pid: int, port: int, service_user: str) -> int:
    """Take process ``pid``'s TCP listeners on ``port`` out of service; how many it had (0: none,
    -1: they could not be reached, and the process will close them itself when it stops)."""
    try:
        return _shut_down(pid, port)
    except PermissionError:
        return _shut_down_as(service_user, pid, port)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES):
            return _shut_down_as(service_user, pid, port)
        return -1

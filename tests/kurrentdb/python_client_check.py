"""The official KurrentDB Python client (kurrentdbclient) against `readnet serve`.

Usage: python python_client_check.py PATH/TO/readnet

Makes a test CA and a server certificate for localhost and 127.0.0.1 with the `openssl` command,
starts `readnet serve` over TLS on a temporary data directory and a free port, and connects as
the server's first administrator (`admin` and the token in `<data>/admin.token`): the client sends
credentials only over TLS. Then checks what issue 4 asks of readnet's KurrentDB endpoint: append,
idempotent retry, wrong expected version, reading a stream and $all, a catch-up subscription (old
events, then live ones), the commit position, and that ledger streams refuse appends with a clear
error; and what issue 9 asks: an unknown token is refused as unauthenticated, and an auditor (who
may read, not write) is refused an append as access denied. Prints "N passed, 0 failed" at the end
and exits non-zero on the first failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid

from kurrentdbclient import KurrentDBClient, NewEvent, StreamState
from kurrentdbclient.exceptions import (
    AccessDeniedError,
    FailedPreconditionError,
    NotFoundError,
    UnauthenticatedError,
    WrongCurrentVersionError,
)

CHECKS: list[str] = []


def check(name: str, condition: bool, detail: object = "") -> None:
    if not condition:
        print(f"FAILED: {name} {detail}", flush=True)
        sys.exit(1)
    CHECKS.append(name)
    print(f"ok: {name}", flush=True)


CA_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
x509_extensions = ca
[dn]
CN = readnet test CA
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""

SERVER_EXTENSIONS = """\
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
authorityKeyIdentifier = keyid
"""


def openssl(pki_dir: str, *args: str) -> None:
    result = subprocess.run(["openssl", *args], cwd=pki_dir, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"openssl {' '.join(args)} failed:\n{result.stderr}")


def make_certificates(pki_dir: str) -> tuple[str, str, str]:
    """A CA, and a server certificate it signed for localhost and 127.0.0.1: (ca, cert, key)."""
    if shutil.which("openssl") is None:
        raise SystemExit(
            "the openssl command is missing: it makes the test certificates (Debian: apt-get install openssl)"
        )
    with open(os.path.join(pki_dir, "ca.cnf"), "w") as f:
        f.write(CA_CONFIG)
    with open(os.path.join(pki_dir, "server.ext"), "w") as f:
        f.write(SERVER_EXTENSIONS)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl(pki_dir, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-config", "ca.cnf")
    openssl(pki_dir, "req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    openssl(
        pki_dir, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
    )
    return tuple(os.path.join(pki_dir, name) for name in ("ca.pem", "server.pem", "server.key"))


def start_server(binary: str, data_dir: str, cert: str, key: str) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [binary, "serve", "--data", data_dir, "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    for line in server.stdout:
        if line.startswith("readnet listening on "):
            # Keep reading stdout (it says nothing more) so a full pipe never stalls the server.
            threading.Thread(target=server.stdout.read, daemon=True).start()
            return server, line.split()[-1]
    raise SystemExit("readnet serve ended before it listened")


def admin_token(data_dir: str) -> str:
    """The first administrator's token, once the server has written it."""
    path = os.path.join(data_dir, "admin.token")
    for _ in range(300):
        if os.path.exists(path):
            with open(path) as f:
                token = f.read().strip()
            if token:
                return token
        threading.Event().wait(0.1)
    raise SystemExit(f"{path} did not appear")


def add_auditor(binary: str, url: str, ca: str, data_dir: str) -> str:
    """Adds principal auditor-1 (role auditor: reads everything, writes nothing); its token."""
    result = subprocess.run(
        [binary, "principal", "add", "auditor-1", "--role", "auditor", "--data", data_dir, "--server", url, "--tls-ca", ca],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"readnet principal add auditor-1 failed:\n{result.stderr}")
    return result.stdout.strip()


def client_url(name: str, token: str, port: str, ca: str) -> str:
    return f"kurrentdb://{name}:{token}@localhost:{port}?tls=true&TlsCaFile={ca}"


def event(event_type: str, data: bytes, event_id: uuid.UUID | None = None) -> NewEvent:
    return NewEvent(
        type=event_type,
        data=data,
        metadata=b'{"who":"python"}',
        content_type="application/json",
        id=event_id or uuid.uuid4(),
    )


def run(client: KurrentDBClient) -> None:
    stream = f"orders-{uuid.uuid4()}"
    first, second = event("OrderPlaced", b'{"n":1}'), event("OrderPaid", b'{"n":2}')

    position = client.append_to_stream(stream, events=[first, second], current_version=StreamState.NO_STREAM)
    check("a batch append to a new stream returns its commit position", position > 0, position)

    retried = client.append_to_stream(stream, events=[first, second], current_version=StreamState.NO_STREAM)
    check("an identical retry returns the same position", retried == position, (retried, position))

    third = event("OrderShipped", b'{"n":3}')
    single = client.append_event(stream, event=third, current_version=1)
    check("a single-event append after revision 1 lands after the batch", single > position, single)
    again = client.append_event(stream, event=third, current_version=1)
    check("a single-event retry with the same id is idempotent", again == single, (again, single))

    try:
        client.append_event(stream, event=event("Late", b"{}"), current_version=0)
        check("a stale expected version raises WrongCurrentVersionError", False)
    except WrongCurrentVersionError as error:
        check("a stale expected version raises WrongCurrentVersionError", "2" in str(error), error)

    recorded = client.get_stream(stream)
    check(
        "the stream reads back once each, in order, with types and data",
        [(e.type, e.data, e.stream_position) for e in recorded]
        == [("OrderPlaced", b'{"n":1}', 0), ("OrderPaid", b'{"n":2}', 1), ("OrderShipped", b'{"n":3}', 2)],
        recorded,
    )
    check(
        "events keep their ids, content type and custom metadata",
        recorded[0].id == first.id
        and recorded[0].content_type == "application/json"
        and recorded[0].metadata == b'{"who":"python"}'
        and recorded[0].recorded_at is not None,
        recorded[0],
    )
    backwards = client.get_stream(stream, backwards=True, limit=2)
    check("a backwards read starts at the last event", [e.stream_position for e in backwards] == [2, 1], backwards)

    try:
        client.get_stream(f"missing-{uuid.uuid4()}")
        check("a missing stream raises NotFoundError", False)
    except NotFoundError:
        check("a missing stream raises NotFoundError", True)

    everything = list(client.read_all())
    ours = [e for e in everything if e.stream_name == stream]
    check("$all holds the stream's three events", len(ours) == 3, len(ours))
    check(
        "$all commit positions are increasing",
        all(a.commit_position < b.commit_position for a, b in zip(everything, everything[1:])),
    )
    check("get_commit_position is the last event's position", client.get_commit_position() == single)

    subscription = client.subscribe_to_all(include_caught_up=True, timeout=30)
    received: list[str] = []
    for item in subscription:
        if type(item).__name__ == "CaughtUp":
            break
        received.append(item.id)
    check("the $all subscription catches up over the old events", third.id in received, len(received))
    live = event("OrderDelivered", b'{"n":4}')
    threading.Timer(0.2, lambda: client.append_event(stream, event=live, current_version=2)).start()
    for item in subscription:
        if getattr(item, "id", None) == live.id:
            break
    subscription.stop()
    check("the $all subscription then receives a live event", True)

    stream_subscription = client.subscribe_to_stream(stream, stream_position=1, timeout=30)
    next_event = next(iter(stream_subscription))
    stream_subscription.stop()
    check("a stream subscription from revision 1 starts after it", next_event.stream_position == 2, next_event)

    try:
        client.append_event("item-x", event=event("ItemAdded", b"{}"), current_version=StreamState.ANY)
        check("an append to a ledger stream raises", False)
    except FailedPreconditionError as error:
        check("an append to a ledger stream raises, naming the stream and the rule", "item-x" in str(error) and "ledger" in str(error), error)


def refusals(binary: str, port: str, ca: str, data_dir: str) -> None:
    """Who may not write is refused, with the exception the client raises for each code."""
    stream = f"orders-{uuid.uuid4()}"
    stranger = KurrentDBClient(client_url("admin", "rnt1.unknown.token", port, ca))
    try:
        stranger.append_event(stream, event=event("OrderPlaced", b"{}"), current_version=StreamState.ANY)
        check("an append with an unknown token raises UnauthenticatedError", False)
    except UnauthenticatedError:
        check("an append with an unknown token raises UnauthenticatedError", True)
    finally:
        stranger.close()

    token = add_auditor(binary, f"https://localhost:{port}", ca, data_dir)
    auditor = KurrentDBClient(client_url("auditor-1", token, port, ca))
    try:
        try:
            auditor.append_event(stream, event=event("OrderPlaced", b"{}"), current_version=StreamState.ANY)
            check("an auditor's append raises AccessDeniedError", False)
        except AccessDeniedError as error:
            check("an auditor's append raises AccessDeniedError, naming the principal", "auditor-1" in str(error), error)
        try:
            auditor.get_stream(stream)
            check("the refused appends wrote nothing", False)
        except NotFoundError:
            check("the refused appends wrote nothing", True)
    finally:
        auditor.close()


def main() -> None:
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as data_dir, tempfile.TemporaryDirectory() as pki_dir:
        ca, cert, key = make_certificates(pki_dir)
        server, address = start_server(binary, data_dir, cert, key)
        port = address.rsplit(":", 1)[1]
        try:
            client = KurrentDBClient(client_url("admin", admin_token(data_dir), port, ca))
            try:
                run(client)
            finally:
                client.close()
            refusals(binary, port, ca, data_dir)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"{len(CHECKS)} passed, 0 failed")


if __name__ == "__main__":
    main()

"""TLS on the API port and mTLS (client certificates required) on the worker port."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import ValidationError

# -- certificates ------------------------------------------------------------------------


def _cert(cn, key, issuer=None, *, ca=False, server=False, client=False):
    """A certificate for `key`, signed by issuer=(cert, key), or self-signed when None."""
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_name, signing_key = (issuer[0].subject, issuer[1]) if issuer else (name, key)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    if server:
        b = b.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    if server or client:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return b.sign(signing_key, hashes.SHA256())


def _issue(cn, issuer=None, **kinds):
    key = ec.generate_private_key(ec.SECP256R1())
    return _cert(cn, key, issuer, **kinds), key


def _write(directory: Path, stem: str, cert, key=None) -> tuple[Path, Path | None]:
    cert_path = directory / f"{stem}.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is None:
        return cert_path, None
    key_path = directory / f"{stem}.key"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    """PEM files: server CA + server cert, client CA + worker cert, a rogue CA's client
    cert, and an unrelated self-signed server cert."""
    d = tmp_path_factory.mktemp("pki")
    server_ca = _issue("tuneloop test server CA", ca=True)
    client_ca = _issue("tuneloop test client CA", ca=True)
    rogue_ca = _issue("rogue CA", ca=True)
    files: dict[str, Path] = {}
    files["server_ca"], _ = _write(d, "server-ca", server_ca[0])
    files["client_ca"], _ = _write(d, "client-ca", client_ca[0])
    files["server_cert"], files["server_key"] = _write(
        d, "server", *_issue("localhost", server_ca, server=True))
    files["worker_cert"], files["worker_key"] = _write(
        d, "worker", *_issue("worker-1", client_ca, client=True))
    files["rogue_cert"], files["rogue_key"] = _write(
        d, "rogue-worker", *_issue("rogue-worker", rogue_ca, client=True))
    files["unrelated_ca"], _ = _write(d, "unrelated", _issue("localhost", server=True)[0])
    return files


# -- server ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory, server_settings, pki):
    from tuneloop_server.embedded import BackgroundServer

    settings = server_settings(
        tmp_path_factory.mktemp("tls-server") / "data", embedded_workers=0,
        tls_cert_file=pki["server_cert"], tls_key_file=pki["server_key"],
        worker_address="127.0.0.1:0", worker_client_ca_file=pki["client_ca"])
    srv = BackgroundServer(settings)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _no_env_ca(monkeypatch):
    monkeypatch.delenv("TUNELOOP_TLS_CA_FILE", raising=False)


def _api(server) -> str:
    return f"localhost:{server.plane.port}"


def _worker(server) -> str:
    return f"localhost:{server.plane.worker_port}"


def _creds(pki, ca="server_ca", client=None) -> grpc.ChannelCredentials:
    key = pki[f"{client}_key"].read_bytes() if client else None
    cert = pki[f"{client}_cert"].read_bytes() if client else None
    return grpc.ssl_channel_credentials(pki[ca].read_bytes(), key, cert)


def _register(channel: grpc.Channel, token: str):
    from tuneloop.v1 import worker_pb2, worker_pb2_grpc

    return worker_pb2_grpc.WorkerServiceStub(channel).RegisterWorker(
        worker_pb2.RegisterWorkerRequest(name="x", accelerator="cpu"),
        metadata=[("authorization", f"Bearer {token}")], timeout=5)


# -- TLS on the API port -----------------------------------------------------------------


def test_tls_api_client_trusting_server_ca_lists_datasets(server, pki):
    import tuneloop

    assert server.plane.port and server.plane.worker_port and not server.plane.internal_port
    with tuneloop.Client(_api(server), api_key=server.api_key, ca_file=pki["server_ca"],
                         max_retries=0, timeout=10) as client:
        assert client.datasets.list() == []


def test_tls_api_rejects_untrusted_and_plaintext_clients(server, pki):
    import tuneloop

    with tuneloop.Client(_api(server), api_key=server.api_key, ca_file=pki["unrelated_ca"],
                         max_retries=0, timeout=5) as client:
        with pytest.raises(tuneloop.UnavailableError):
            client.datasets.list()
    with tuneloop.Client(_api(server), api_key=server.api_key, max_retries=0,
                         timeout=5) as client:  # no tls, no ca_file: plaintext
        with pytest.raises(tuneloop.UnavailableError):
            client.datasets.list()


# -- mTLS on the worker port -------------------------------------------------------------


def test_mtls_worker_with_client_certificate_registers(server, pki):
    from tuneloop_worker.control_plane import ControlPlaneClient, WorkerTLS

    tls = WorkerTLS(ca_file=pki["server_ca"], cert_file=pki["worker_cert"],
                    key_file=pki["worker_key"])
    client = ControlPlaneClient(_worker(server), server.plane.local_keys.worker_token, tls)
    try:
        client.register("w1", "cpu", 0)
        assert client.worker_id
    finally:
        client.close()


@pytest.mark.parametrize("client_cert", [None, "rogue"], ids=["no-client-cert", "rogue-ca-cert"])
def test_mtls_worker_port_rejects_missing_or_untrusted_client_cert(server, pki, client_cert):
    with grpc.secure_channel(_worker(server), _creds(pki, client=client_cert)) as channel:
        with pytest.raises(grpc.RpcError) as info:
            _register(channel, server.plane.local_keys.worker_token)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_worker_token_on_api_port_is_unauthenticated_but_user_key_works(server, pki):
    import tuneloop

    with grpc.secure_channel(_api(server), _creds(pki)) as channel:
        with pytest.raises(grpc.RpcError) as info:
            _register(channel, server.plane.local_keys.worker_token)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "worker port" in info.value.details()
    # A client certificate presented on the API port is not requested, so it does not count.
    with grpc.secure_channel(_api(server), _creds(pki, client="worker")) as channel:
        with pytest.raises(grpc.RpcError) as info:
            _register(channel, server.plane.local_keys.worker_token)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with tuneloop.Client(_api(server), api_key=server.api_key, ca_file=pki["server_ca"],
                         max_retries=0, timeout=10) as client:
        assert client.datasets.list() == []


# -- settings validation -----------------------------------------------------------------


def test_settings_validation(tmp_path, server_settings, pki):
    tls = dict(tls_cert_file=pki["server_cert"], tls_key_file=pki["server_key"])
    with pytest.raises(ValidationError, match="tls_key_file"):
        server_settings(tmp_path, tls_cert_file=pki["server_cert"])
    with pytest.raises(ValidationError, match="worker_client_ca_file"):
        server_settings(tmp_path, embedded_workers=0, worker_address="127.0.0.1:0", **tls)
    with pytest.raises(ValidationError, match="set embedded_workers=0"):
        server_settings(tmp_path, embedded_workers=1, worker_address="127.0.0.1:0",
                        worker_client_ca_file=pki["client_ca"], **tls)
    ok = server_settings(tmp_path, embedded_workers=0, worker_address="127.0.0.1:0",
                         worker_client_ca_file=pki["client_ca"], **tls)
    assert ok.worker_mtls

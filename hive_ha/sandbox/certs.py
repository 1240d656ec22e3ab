"""Throw-away X.509 material for tests and the sandbox: a self-signed CA that issues server and client certificates
for the names asked for, written as PEM files (``cryptography``, from the ``test`` extra, imported on first use).

    ca = TestCA(directory)                                   # ca.ca_file: the CA certificate to trust
    cert, key = ca.issue("server", ["localhost", "127.0.0.1"])  # SANs: DNS names and IP addresses
    cert, key = ca.issue("client", [], client=True)           # a client certificate (no SAN)

Keys are EC P-256, unencrypted PKCS8; certificates are valid from a day ago for 30 days.
"""
import datetime
import ipaddress
import os

__all__ = ["TestCA"]


def _name(common_name):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hive-ha tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _san(name):
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


class TestCA:
    """A self-signed CA in ``directory`` (``ca_file``; its key stays in memory) issuing leaf certificates."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, directory, common_name="hive-ha test CA"):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(common_name)
        usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                              data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                              encipher_only=False, decipher_only=False)
        self.cert = (
            self._builder(self.name, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = self._write("ca.pem", self.pem(self.cert))

    def _builder(self, subject, public_key):
        from cryptography import x509

        now = datetime.datetime.now(datetime.timezone.utc)
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(self.name).public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30)))

    def issue_key_and_cert(self, common_name, sans=(), *, client=False):
        """``(key, certificate)`` objects for ``common_name`` with ``sans`` (names or IP addresses) as SANs: a server
        certificate (usable as a client one too, as ZooKeeper's quorum wants), or with ``client`` a client one only."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID

        key = ec.generate_private_key(ec.SECP256R1())
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [ExtendedKeyUsageOID.SERVER_AUTH,
                                                                    ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = (
            self._builder(_name(common_name), key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName([_san(n) for n in sans]), critical=False)
        return key, builder.sign(self.key, hashes.SHA256())

    def issue(self, stem, sans=(), *, client=False):
        """Write ``<stem>.pem`` and ``<stem>-key.pem`` (a server certificate for ``sans``, or with ``client`` a client
        certificate) and return their paths."""
        key, cert = self.issue_key_and_cert(sans[0] if sans else stem, sans, client=client)
        return self._write(f"{stem}.pem", self.pem(cert)), self._write(f"{stem}-key.pem", self.pem_key(key))

    @staticmethod
    def pem(cert):
        from cryptography.hazmat.primitives import serialization

        return cert.public_bytes(serialization.Encoding.PEM)

    @staticmethod
    def pem_key(key):
        from cryptography.hazmat.primitives import serialization

        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def _write(self, filename, data):
        path = os.path.join(self.directory, filename)
        with open(path, "wb") as handle:
            handle.write(data)
        return path

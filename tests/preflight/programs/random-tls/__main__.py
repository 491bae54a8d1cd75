"""Random names and passwords and a self-signed certificate, used the way programs use them."""

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random
import pulumi_tls as tls

suffix = random.RandomString("suffix", length=6, special=False, upper=False)
password = random.RandomPassword("db", length=20, min_numeric=2)
bucket_id = random.RandomId("bucket", byte_length=4)
key = tls.PrivateKey("signing", algorithm="RSA", rsa_bits=2048)
cert = tls.SelfSignedCert(
    "signing",
    private_key_pem=key.private_key_pem,
    validity_period_hours=24,
    allowed_uses=["digital_signature"],
    subject={"common_name": "example.internal"},
)


def checked_suffix(value: str) -> str:
    if len(value) != 6 or not value.isalnum() or value.lower() != value:
        raise ValueError(f"suffix {value!r} does not honour length=6, lower case, no special characters")
    return value


bucket = gcp.storage.Bucket(
    "assets",
    name=suffix.result.apply(lambda value: f"assets-{checked_suffix(value)}"),
    location="EU",
    uniform_bucket_level_access=True,
)
gcp.secretmanager.Secret("db-password", secret_id="db-password", replication={"auto": {}})

pulumi.export("bucket", bucket.name)
pulumi.export("bucket_hex", bucket_id.hex)
pulumi.export("password_length", password.result.apply(len))
pulumi.export("cert_head", cert.cert_pem.apply(lambda pem: pem.splitlines()[0]))
pulumi.export("key_head", key.private_key_pem.apply(lambda pem: pem.splitlines()[0]))

#!/usr/bin/env python3
"""Drives Trent with an unmodified boto3 `kms` client; only the endpoint is overridden.

Invoked by test/interop/boto3.test.ts (compiled to dist/test/interop/boto3.test.js) as
`python3 boto3_client.py`. Inputs, all from the environment:

  TRENT_ENDPOINT         the gateway URL, e.g. http://127.0.0.1:4566
  TRENT_REGION           the region the keys are created in (e.g. us-east-1)
  TRENT_OTHER_REGION     another region of the same partition (e.g. eu-west-1)
  AWS_ACCESS_KEY_ID      credentials, read by boto3's ordinary credential chain
  AWS_SECRET_ACCESS_KEY
  AWS_SHARED_CREDENTIALS_FILE  the partition's generated DIR/credentials; the step
                         "profileSession" reads its [trent] profile instead of the above

Output: one JSON object on stdout, {"versions": {...}, "steps": {name: result}}. Each step
either returns the observations it made (plain JSON values, bytes compared here, byte for
byte) or, when boto3 raised where the step did not expect it, {"unexpected": {...}} with
the exception's type, error code and message. A step never stops the steps after it.
Exit code 0 whenever the summary was printed; 3 if boto3 cannot be imported.
"""
import base64
import json
import os
import sys
import traceback

try:
    import boto3
    import botocore
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError as err:  # pragma: no cover - reported by the TS test
    sys.stderr.write(f"boto3_client.py: cannot import boto3/botocore with {sys.executable}: {err}\n")
    sys.exit(3)


ENDPOINT = os.environ["TRENT_ENDPOINT"]
REGION = os.environ["TRENT_REGION"]
OTHER_REGION = os.environ["TRENT_OTHER_REGION"]
ABSENT_KEY_ID = "11111111-2222-3333-4444-555555555555"

# No retries: a retried request would hide a first response the client rejected.
CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=60)


def client(region=REGION):
    return boto3.client("kms", endpoint_url=ENDPOINT, region_name=region, config=CONFIG)


kms = client()
steps = {}
state = {}


def error_of(exc):
    """The parts of a ClientError the tests assert on."""
    return {
        "code": exc.response.get("Error", {}).get("Code"),
        "message": exc.response.get("Error", {}).get("Message"),
        "httpStatus": exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"),
        "operation": exc.operation_name,
    }


def expect_error(call, *args, **kwargs):
    """Runs a call that must fail with a ClientError; returns its error, or what it returned instead."""
    try:
        response = call(*args, **kwargs)
    except ClientError as exc:
        return error_of(exc)
    response.pop("ResponseMetadata", None)
    return {"code": None, "unexpectedSuccess": jsonable(response)}


def jsonable(value):
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def step(name):
    def register(fn):
        try:
            steps[name] = jsonable(fn())
        except ClientError as exc:
            steps[name] = {"unexpected": {"type": "ClientError", **error_of(exc)}}
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the run
            steps[name] = {
                "unexpected": {"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}
            }
        return fn

    return register


# A plaintext with every byte value, so that no encoding step can go unnoticed.
PLAINTEXT = bytes(range(256)) + "héllo wörld ✓".encode("utf-8")
CONTEXT = {"purpose": "interop", "app": "boto3", "unicode": "çà ✓"}


@step("createKey")
def _():
    created = kms.create_key(
        Description="boto3 interop key",
        KeyUsage="ENCRYPT_DECRYPT",
        KeySpec="SYMMETRIC_DEFAULT",
        Tags=[{"TagKey": "team", "TagValue": "security"}, {"TagKey": "env", "TagValue": "test"}],
    )
    meta = created["KeyMetadata"]
    state["keyId"] = meta["KeyId"]
    state["keyArn"] = meta["Arn"]
    return {
        "keyId": meta["KeyId"],
        "arn": meta["Arn"],
        "description": meta.get("Description"),
        "keyState": meta.get("KeyState"),
        "enabled": meta.get("Enabled"),
        "keyUsage": meta.get("KeyUsage"),
        "keySpec": meta.get("KeySpec"),
        "creationDateType": type(meta.get("CreationDate")).__name__,
    }


@step("describeKey")
def _():
    by_id = kms.describe_key(KeyId=state["keyId"])["KeyMetadata"]
    by_arn = kms.describe_key(KeyId=state["keyArn"])["KeyMetadata"]
    return {
        "keyId": by_id["KeyId"],
        "arn": by_id["Arn"],
        "description": by_id.get("Description"),
        "keyManager": by_id.get("KeyManager"),
        "origin": by_id.get("Origin"),
        "encryptionAlgorithms": by_id.get("EncryptionAlgorithms"),
        "byArnKeyId": by_arn["KeyId"],
        "creationDateType": type(by_id.get("CreationDate")).__name__,
    }


@step("listKeysPaginated")
def _():
    extra = [kms.create_key(Description=f"boto3 page key {i}")["KeyMetadata"]["KeyId"] for i in range(4)]
    state["extraKeys"] = extra
    paginator = kms.get_paginator("list_keys")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 2}))
    listed = [k["KeyId"] for page in pages for k in page.get("Keys", [])]
    arns_ok = all(k["KeyArn"].endswith("key/" + k["KeyId"]) for page in pages for k in page.get("Keys", []))
    unpaged = [k["KeyId"] for k in kms.list_keys()["Keys"]]
    return {
        "pageCount": len(pages),
        "maxPageSize": max(len(page.get("Keys", [])) for page in pages),
        "listed": listed,
        "distinct": len(set(listed)) == len(listed),
        "expected": [state["keyId"], *extra],
        "arnsMatchIds": arns_ok,
        "unpaged": unpaged,
        "lastPageTruncated": pages[-1].get("Truncated"),
    }


@step("encryptDecrypt")
def _():
    enc = kms.encrypt(KeyId=state["keyId"], Plaintext=PLAINTEXT, EncryptionContext=CONTEXT)
    blob = enc["CiphertextBlob"]
    state["ciphertext"] = blob
    with_key = kms.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT, KeyId=state["keyId"])
    without_key = kms.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)
    wrong_context = expect_error(kms.decrypt, CiphertextBlob=blob, EncryptionContext={**CONTEXT, "app": "other"})
    no_context = expect_error(kms.decrypt, CiphertextBlob=blob)
    return {
        "ciphertextType": type(blob).__name__,
        "ciphertextLength": len(blob),
        "encryptKeyId": enc["KeyId"],
        "encryptionAlgorithm": enc.get("EncryptionAlgorithm"),
        "plaintextType": type(with_key["Plaintext"]).__name__,
        "roundTripWithKeyId": with_key["Plaintext"] == PLAINTEXT,
        "roundTripWithoutKeyId": without_key["Plaintext"] == PLAINTEXT,
        "decryptKeyId": without_key["KeyId"],
        "wrongContext": wrong_context,
        "missingContext": no_context,
    }


@step("generateDataKey")
def _():
    aes256 = kms.generate_data_key(KeyId=state["keyId"], KeySpec="AES_256", EncryptionContext={"k": "v"})
    bytes16 = kms.generate_data_key(KeyId=state["keyId"], NumberOfBytes=16)
    unwrapped = kms.decrypt(CiphertextBlob=aes256["CiphertextBlob"], EncryptionContext={"k": "v"})
    without = kms.generate_data_key_without_plaintext(KeyId=state["keyId"], KeySpec="AES_128")
    without_unwrapped = kms.decrypt(CiphertextBlob=without["CiphertextBlob"])
    return {
        "aes256Length": len(aes256["Plaintext"]),
        "bytes16Length": len(bytes16["Plaintext"]),
        "keyId": aes256["KeyId"],
        "unwrapsToSamePlaintext": unwrapped["Plaintext"] == aes256["Plaintext"],
        "withoutPlaintextHasPlaintext": "Plaintext" in without,
        "withoutPlaintextUnwrappedLength": len(without_unwrapped["Plaintext"]),
    }


@step("generateRandom")
def _():
    a = kms.generate_random(NumberOfBytes=32)["Plaintext"]
    b = kms.generate_random(NumberOfBytes=1024)["Plaintext"]
    return {"type": type(a).__name__, "length32": len(a), "length1024": len(b), "differ": a != b[:32]}


@step("aliases")
def _():
    key_id, other_id = state["keyId"], state["extraKeys"][0]
    kms.create_alias(AliasName="alias/boto3-interop", TargetKeyId=key_id)
    listed = kms.list_aliases(KeyId=key_id)["Aliases"]
    described = kms.describe_key(KeyId="alias/boto3-interop")["KeyMetadata"]["KeyId"]
    enc = kms.encrypt(KeyId="alias/boto3-interop", Plaintext=b"via alias")
    duplicate = expect_error(kms.create_alias, AliasName="alias/boto3-interop", TargetKeyId=other_id)
    kms.update_alias(AliasName="alias/boto3-interop", TargetKeyId=other_id)
    after_update = kms.describe_key(KeyId="alias/boto3-interop")["KeyMetadata"]["KeyId"]
    # The old ciphertext still names the old key: decrypting it needs no alias.
    old_decrypts = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"])["Plaintext"] == b"via alias"
    all_pages = [
        a["AliasName"] for page in kms.get_paginator("list_aliases").paginate(PaginationConfig={"PageSize": 1})
        for a in page.get("Aliases", [])
    ]
    kms.delete_alias(AliasName="alias/boto3-interop")
    after_delete = [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    gone = expect_error(kms.describe_key, KeyId="alias/boto3-interop")
    return {
        "listedForKey": [{"name": a["AliasName"], "target": a.get("TargetKeyId"), "arn": a.get("AliasArn")} for a in listed],
        "describedViaAlias": described,
        "encryptViaAliasKeyId": enc["KeyId"],
        "duplicate": duplicate,
        "afterUpdate": after_update,
        "oldCiphertextDecrypts": old_decrypts,
        "paginatedNames": all_pages,
        "afterDelete": after_delete,
        "describeDeleted": gone,
    }


@step("tags")
def _():
    key_id = state["keyId"]
    initial = kms.list_resource_tags(KeyId=key_id)["Tags"]
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "owner", "TagValue": "alice"}, {"TagKey": "env", "TagValue": "prod"}])
    kms.untag_resource(KeyId=key_id, TagKeys=["team"])
    final = kms.list_resource_tags(KeyId=key_id)["Tags"]
    return {
        "initial": sorted(initial, key=lambda t: t["TagKey"]),
        "final": sorted(final, key=lambda t: t["TagKey"]),
    }


@step("rotation")
def _():
    key_id = state["keyId"]
    before = kms.get_key_rotation_status(KeyId=key_id)
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    enabled = kms.get_key_rotation_status(KeyId=key_id)
    on_demand = kms.rotate_key_on_demand(KeyId=key_id)
    rotations = kms.get_paginator("list_key_rotations").paginate(KeyId=key_id)
    listed = [r for page in rotations for r in page.get("Rotations", [])]
    old_still_decrypts = kms.decrypt(CiphertextBlob=state["ciphertext"], EncryptionContext=CONTEXT)["Plaintext"] == PLAINTEXT
    new_blob = kms.encrypt(KeyId=key_id, Plaintext=b"after rotation")["CiphertextBlob"]
    new_decrypts = kms.decrypt(CiphertextBlob=new_blob)["Plaintext"] == b"after rotation"
    return {
        "enabledBefore": before.get("KeyRotationEnabled"),
        "enabledAfter": enabled.get("KeyRotationEnabled"),
        "rotationPeriodInDays": enabled.get("RotationPeriodInDays"),
        "onDemandKeyId": on_demand.get("KeyId"),
        "rotationCount": len(listed),
        "rotationTypes": [r.get("RotationType") for r in listed],
        "rotationKeyIds": [r.get("KeyId") for r in listed],
        "rotationDateType": [type(r.get("RotationDate")).__name__ for r in listed],
        "oldCiphertextDecrypts": old_still_decrypts,
        "newCiphertextDecrypts": new_decrypts,
    }


@step("deletion")
def _():
    key_id = state["extraKeys"][1]
    scheduled = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    pending = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    encrypt_while_pending = expect_error(kms.encrypt, KeyId=key_id, Plaintext=b"x")
    cancelled = kms.cancel_key_deletion(KeyId=key_id)
    after_cancel = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    kms.enable_key(KeyId=key_id)
    re_enabled = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    return {
        "scheduledKeyId": scheduled.get("KeyId"),
        "scheduledKeyState": scheduled.get("KeyState"),
        "pendingWindowInDays": scheduled.get("PendingWindowInDays"),
        "deletionDateType": type(scheduled.get("DeletionDate")).__name__,
        "describedState": pending.get("KeyState"),
        "describedHasDeletionDate": "DeletionDate" in pending,
        "encryptWhilePending": encrypt_while_pending,
        "cancelledKeyId": cancelled.get("KeyId"),
        "stateAfterCancel": after_cancel.get("KeyState"),
        "stateAfterEnable": re_enabled.get("KeyState"),
    }


@step("errorNotFound")
def _():
    return {
        "describe": expect_error(kms.describe_key, KeyId=ABSENT_KEY_ID),
        "encrypt": expect_error(kms.encrypt, KeyId=ABSENT_KEY_ID, Plaintext=b"x"),
        "alias": expect_error(kms.describe_key, KeyId="alias/does-not-exist"),
    }


@step("errorInvalidCiphertext")
def _():
    blob = bytearray(state["ciphertext"])
    blob[-1] ^= 0x01  # a flipped bit in the authentication tag
    tampered_tag = expect_error(kms.decrypt, CiphertextBlob=bytes(blob), EncryptionContext=CONTEXT)
    blob = bytearray(state["ciphertext"])
    blob[len(blob) // 2] ^= 0x80  # a flipped bit in the body
    tampered_body = expect_error(kms.decrypt, CiphertextBlob=bytes(blob), EncryptionContext=CONTEXT)
    garbage = expect_error(kms.decrypt, CiphertextBlob=b"this is not a KMS ciphertext blob at all")
    return {"tamperedTag": tampered_tag, "tamperedBody": tampered_body, "garbage": garbage}


@step("errorDisabled")
def _():
    key_id = state["extraKeys"][2]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"before disable")["CiphertextBlob"]
    kms.disable_key(KeyId=key_id)
    state_disabled = kms.describe_key(KeyId=key_id)["KeyMetadata"].get("KeyState")
    encrypt = expect_error(kms.encrypt, KeyId=key_id, Plaintext=b"x")
    decrypt = expect_error(kms.decrypt, CiphertextBlob=blob)
    data_key = expect_error(kms.generate_data_key, KeyId=key_id, KeySpec="AES_256")
    kms.enable_key(KeyId=key_id)
    decrypts_again = kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before disable"
    return {
        "stateDisabled": state_disabled,
        "encrypt": encrypt,
        "decrypt": decrypt,
        "generateDataKey": data_key,
        "decryptsAfterEnable": decrypts_again,
    }


@step("errorValidation")
def _():
    return {
        "randomTooMany": expect_error(kms.generate_random, NumberOfBytes=1025),
        "badAliasName": expect_error(kms.create_alias, AliasName="not-an-alias", TargetKeyId=state["keyId"]),
    }


@step("otherRegion")
def _():
    other = client(OTHER_REGION)
    listed = [k["KeyId"] for k in other.list_keys()["Keys"]]
    created = other.create_key(Description="boto3 other-region key")["KeyMetadata"]
    home_listed = [k["KeyId"] for k in kms.list_keys()["Keys"]]
    return {
        "listed": listed,
        "describeHomeKey": expect_error(other.describe_key, KeyId=state["keyId"]),
        "createdArn": created["Arn"],
        "createdKeyVisibleAtHome": created["KeyId"] in home_listed,
        "decryptHomeCiphertext": expect_error(other.decrypt, CiphertextBlob=state["ciphertext"], EncryptionContext=CONTEXT),
    }


@step("signAndMac")
def _():
    # Verified by pyca/cryptography with the public key from GetPublicKey: a verifier that
    # shares no code with Trent or Node.
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    results = {}
    for spec, algorithm in (("ECC_NIST_P384", "ECDSA_SHA_384"), ("RSA_2048", "RSASSA_PSS_SHA_256")):
        key_id = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        signed = kms.sign(KeyId=key_id, Message=PLAINTEXT, MessageType="RAW", SigningAlgorithm=algorithm)
        public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
        try:
            if spec.startswith("ECC"):
                public.verify(signed["Signature"], PLAINTEXT, ec.ECDSA(hashes.SHA384()))
            else:
                public.verify(
                    signed["Signature"],
                    PLAINTEXT,
                    padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
                    hashes.SHA256(),
                )
            verified_by_pyca = True
        except InvalidSignature:
            verified_by_pyca = False
        tampered = bytearray(signed["Signature"])
        tampered[-1] ^= 1
        results[spec] = {
            "signatureType": type(signed["Signature"]).__name__,
            "signingAlgorithm": signed["SigningAlgorithm"],
            "verifiedByPyca": verified_by_pyca,
            "verifiedByTrent": kms.verify(
                KeyId=key_id, Message=PLAINTEXT, Signature=signed["Signature"], SigningAlgorithm=algorithm
            )["SignatureValid"],
            "tampered": expect_error(
                kms.verify, KeyId=key_id, Message=PLAINTEXT, Signature=bytes(tampered), SigningAlgorithm=algorithm
            ),
        }
    mac_key = kms.create_key(KeySpec="HMAC_512", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    mac = kms.generate_mac(KeyId=mac_key, Message=PLAINTEXT, MacAlgorithm="HMAC_SHA_512")["Mac"]
    results["macLength"] = len(mac)
    results["macValid"] = kms.verify_mac(KeyId=mac_key, Message=PLAINTEXT, Mac=mac, MacAlgorithm="HMAC_SHA_512")["MacValid"]
    results["macOtherMessage"] = expect_error(
        kms.verify_mac, KeyId=mac_key, Message=b"other", Mac=mac, MacAlgorithm="HMAC_SHA_512"
    )
    return results


@step("profileSession")
def _():
    # An explicit profile: botocore then takes the credentials from the file, not the environment.
    session = boto3.Session(profile_name="trent")
    frozen = session.get_credentials().get_frozen_credentials()
    profile_kms = session.client("kms", endpoint_url=ENDPOINT, region_name=REGION, config=CONFIG)
    return {
        "accessKeyIdMatchesEnvironment": frozen.access_key == os.environ["AWS_ACCESS_KEY_ID"],
        "profileRegion": session.region_name,
        "seesHomeKey": state["keyId"] in [k["KeyId"] for k in profile_kms.list_keys()["Keys"]],
    }


print(
    json.dumps(
        {
            "versions": {"python": sys.version.split()[0], "boto3": boto3.__version__, "botocore": botocore.__version__},
            "steps": steps,
        }
    )
)

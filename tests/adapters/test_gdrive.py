"""Google Drive through the engine against a faithful fake: a signed JWT grant cached per worker, the file id
and webViewLink receipt, 403 userRateLimitExceeded and 429 pause the target, a 401 refreshes the token once,
no second file after a timeout (appProperties + files.list), permissions and folders classified."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from server.errors import HeraldError
from server.models.base import utcnow
from server.runtime import Runtime
from tests.support.factories import FAST_RETRY, call
from tests.support.fakes import engine_sync as e
from tests.support.fakes.gdrive import FakeDrive

EMAIL = "herald@project.iam.gserviceaccount.com"
FOLDER = "0AFolderShared"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def drive(key: rsa.RSAPrivateKey) -> Iterator[FakeDrive]:
    fake = FakeDrive(key.public_key(), EMAIL, FOLDER)
    yield fake
    fake.stop()


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = e.engine_runtime(tmp_path)
    yield runtime
    runtime.close()


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def drive_target(rt: Runtime, drive: FakeDrive, key: rsa.RSAPrivateKey, folder: str = FOLDER, **config: object) -> str:
    settings = {"folderId": folder, "apiBaseUrl": drive.url, "tokenUri": drive.token_uri, **config}
    credentials = {"clientEmail": EMAIL, "privateKey": pem(key), "privateKeyId": "k1"}
    return e.create_target(rt, "gdrive", settings, credentials, retryPolicy=FAST_RETRY)


def test_delivered_as_a_file_with_id_and_web_view_link(rt: Runtime, drive: FakeDrive, key: rsa.RSAPrivateKey) -> None:
    target_id = drive_target(rt, drive, key, fileName="{title} v{version}")
    jobs = [e.plan_job(rt, target_id, url="https://example.com/n") for _ in range(2)]
    assert [e.attempt_once(rt, job_id).status for job_id in jobs] == ["delivered", "delivered"]
    assert drive.grants == 1  # one token for both uploads
    first = next(f for f in drive.files.values() if f["appProperties"] == {"heraldDeliveryId": jobs[0]})
    assert (first["name"], first["mimeType"], first["parents"]) == ("Market note v1.md", "text/markdown", [FOLDER])
    assert first["data"] == b"# Market note\n\nRates held steady; the curve flattened.\n\nhttps://example.com/n\n"
    assert first["mediaType"] == "text/markdown; charset=UTF-8"
    receipt = e.receipt(rt, jobs[0])
    assert receipt.external_id == first["id"]
    assert receipt.response_meta == {"webViewLink": first["webViewLink"], "name": first["name"], "statusCode": 200}


@pytest.mark.parametrize("signal", ["ratelimit403", "ratelimit429"])
def test_rate_limits_pause_the_target_with_no_request_in_between(
    rt: Runtime, drive: FakeDrive, key: rsa.RSAPrivateKey, signal: str
) -> None:
    drive.script = [signal]
    target_id = drive_target(rt, drive, key)
    job_id = e.plan_job(rt, target_id)
    job = e.attempt_once(rt, job_id)
    recorded = utcnow()
    paused = e.target(rt, target_id).paused_until
    [attempt] = e.attempts(rt, job_id)
    assert paused is not None
    # Drive names no reset: the engine's default pause (1 s here) from when the answer was recorded.
    answered = attempt.started_at + timedelta(milliseconds=attempt.duration_ms)
    assert answered <= paused - timedelta(seconds=1) <= recorded
    assert (job.status, job.error_class, job.retries_used, job.next_attempt_at) == (
        "scheduled",
        "rate_limited",
        0,
        paused,
    )
    e.attempt_once(rt, job_id)
    assert len(drive.at("/upload/drive/v3/files")) == 1 and drive.files == {}
    assert len(e.attempts(rt, job_id)) == 1
    expected = {"ratelimit403": (403, "DRIVE_USERRATELIMITEXCEEDED"), "ratelimit429": (429, "DRIVE_RATELIMITEXCEEDED")}
    assert (attempt.status_code, attempt.error_code) == expected[signal]


def test_a_401_fetches_a_new_token_once_and_delivers(rt: Runtime, drive: FakeDrive, key: rsa.RSAPrivateKey) -> None:
    target_id = drive_target(rt, drive, key)
    assert e.attempt_once(rt, e.plan_job(rt, target_id)).status == "delivered"
    drive.script = ["revoke"]
    job_id = e.plan_job(rt, target_id)
    assert e.attempt_once(rt, job_id).status == "delivered"
    assert (drive.grants, len(drive.files), len(drive.at("/upload/drive/v3/files"))) == (2, 2, 3)


@pytest.mark.slow  # waits out the client timeout
def test_no_second_file_after_a_timeout(rt: Runtime, drive: FakeDrive, key: rsa.RSAPrivateKey) -> None:
    drive.script = ["stall"]
    job_id = e.plan_job(rt, drive_target(rt, drive, key))
    assert e.attempt_once(rt, job_id).outcome_unknown is True
    assert e.retry_when_due(rt, job_id).status == "delivered"
    [file] = drive.files.values()
    assert len(drive.at("/upload/drive/v3/files")) == 1
    [lookup] = drive.at("/drive/v3/files")
    assert lookup.query["q"] == f"appProperties has {{ key='heraldDeliveryId' and value='{job_id}' }} and trashed=false"
    receipt = e.receipt(rt, job_id)
    assert (receipt.external_id, receipt.response_meta["reconciled"]) == (file["id"], True)


@pytest.mark.parametrize(
    ("script", "folder", "error_class", "phrase"),
    [
        (["quota"], FOLDER, "systemic", "use a Shared Drive folder"),
        ([], "0ANotShared", "permanent", "check config.folderId"),
    ],
)
def test_storage_and_folder_errors_are_classified(
    rt: Runtime,
    drive: FakeDrive,
    key: rsa.RSAPrivateKey,
    script: list[str],
    folder: str,
    error_class: str,
    phrase: str,
) -> None:
    drive.script = script
    job_id = e.plan_job(rt, drive_target(rt, drive, key, folder))
    job = e.attempt_once(rt, job_id)
    assert (job.status, job.error_class) == ("failed", error_class) and phrase in (job.last_error or "")
    assert drive.files == {}


def test_a_key_google_does_not_know_is_systemic(rt: Runtime, drive: FakeDrive) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    job_id = e.plan_job(rt, drive_target(rt, drive, other))
    job = e.attempt_once(rt, job_id)
    assert (job.status, job.error_class) == ("failed", "systemic")
    assert "Invalid JWT Signature" in (job.last_error or "") and "PRIVATE KEY" not in (job.last_error or "")
    assert drive.at("/upload/drive/v3/files") == []


def test_the_private_key_is_checked_at_create_and_never_shown(
    rt: Runtime, drive: FakeDrive, key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(HeraldError) as refused:
        call(
            rt,
            "create_distribution_target",
            name="d",
            channel="gdrive",
            config={"folderId": FOLDER},
            credentials={"clientEmail": EMAIL, "privateKey": "-----BEGIN PRIVATE KEY-----\n" + "A" * 80},
        )
    assert (refused.value.code, refused.value.field) == ("VALIDATION_ERROR", "credentials.privateKey")
    target_id = drive_target(rt, drive, key)
    shown = call(rt, "get_distribution_target", id=target_id).model_dump_json()
    assert "PRIVATE KEY" not in shown and pem(key).splitlines()[1] not in shown


@pytest.mark.integration
def test_on_postgresql_and_redis_delivered_then_no_second_file_after_a_timeout(
    request: pytest.FixtureRequest, tmp_path: Path, drive: FakeDrive, key: rsa.RSAPrivateKey
) -> None:
    rt = e.engine_runtime(tmp_path, request, "postgresql")
    target_id = drive_target(rt, drive, key)
    assert e.attempt_once(rt, e.plan_job(rt, target_id)).status == "delivered"
    drive.script = ["stall"]
    job_id = e.plan_job(rt, target_id)
    assert e.attempt_once(rt, job_id).outcome_unknown is True
    assert e.retry_when_due(rt, job_id).status == "delivered"
    assert len(drive.files) == 2 and drive.grants == 1
    assert [a.reconciled for a in e.attempts(rt, job_id)] == [None, "found"]

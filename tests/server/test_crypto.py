import base64
import os
import stat

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from server.config import Settings
from server.crypto import SecretBox, SecretBoxError, load_secret_box


def test_round_trip_bound_to_row() -> None:
    box = SecretBox([AESGCM.generate_key(bit_length=256)])
    blob = box.encrypt_json({"token": "s3cret-value"}, "target:tgt_1")
    assert b"s3cret-value" not in blob
    assert box.decrypt_json(blob, "target:tgt_1") == {"token": "s3cret-value"}
    with pytest.raises(SecretBoxError, match="wrong row"):
        box.decrypt(blob, "target:tgt_2")


def test_old_keys_still_decrypt_and_newest_encrypts() -> None:
    old, new = AESGCM.generate_key(bit_length=256), AESGCM.generate_key(bit_length=256)
    blob = SecretBox([old]).encrypt(b"x", "a")
    rotated = SecretBox([new, old])
    assert rotated.decrypt(blob, "a") == b"x"
    assert SecretBox([new]).decrypt(rotated.encrypt(b"y", "a"), "a") == b"y"
    with pytest.raises(SecretBoxError, match="not in HERALD_SECRET_KEYS"):
        SecretBox([new]).decrypt(blob, "a")


def test_embedded_key_file_is_private_and_reused(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path)
    box = load_secret_box(settings)
    key_file = tmp_path / "secret.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    blob = box.encrypt(b"z", "a")
    assert load_secret_box(settings).decrypt(blob, "a") == b"z"


def test_keys_from_environment_setting(tmp_path) -> None:
    key = base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()
    box = load_secret_box(Settings(data_dir=tmp_path, secret_keys=key))
    assert box.decrypt(box.encrypt(b"q", "a"), "a") == b"q"
    assert not (tmp_path / "secret.key").exists()


def test_rejects_short_key() -> None:
    with pytest.raises(SecretBoxError, match="32 bytes"):
        SecretBox([b"short"])

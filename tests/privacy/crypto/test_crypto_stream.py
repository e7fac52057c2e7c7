"""Streaming file encryption: round trips, and every kind of tampering is detected."""

from __future__ import annotations

import io
import os
import random

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditkit.privacy.crypto import (
    KeyRing,
    _stream,
    decrypt_file,
    encrypt_file,
    file_info,
    is_encrypted,
    open_decrypted,
    rewrap,
)
from auditkit.privacy.errors import DecryptionError, PrivacyError, PrivacyInputError

SEG = 64 * 1024
H = _stream.HEADER_LEN
FULL = SEG + _stream.TAG


def _data(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture
def sample(tmp_path, ring):
    """A 3.5-segment plaintext and its encryption."""
    plain = _data(3 * SEG + SEG // 2, seed=1)
    src = tmp_path / "plain.bin"
    src.write_bytes(plain)
    dst = tmp_path / "cipher.akc"
    encrypt_file(src, dst, ring, segment_size=SEG)
    return plain, dst.read_bytes()


def _assert_rejected(tmp_path, ring, blob: bytes, exc=DecryptionError) -> None:
    bad = tmp_path / "bad.akc"
    bad.write_bytes(blob)
    out = tmp_path / "out.bin"
    with pytest.raises(exc):
        decrypt_file(bad, out, ring)
    assert not out.exists()
    with pytest.raises(exc):
        with open_decrypted(bad, ring) as fh:
            fh.read()


def _segments(blob: bytes) -> list[bytes]:
    body = blob[H:]
    return [body[i : i + FULL] for i in range(0, len(body), FULL)]


SIZES = [0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG, 5 * SEG + 7, 40 * SEG + 3]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    size=st.one_of(st.sampled_from(SIZES), st.integers(0, 6 * SEG)),
    seg=st.sampled_from([SEG, SEG + 1, 100_000, 1024 * 1024]),
    seed=st.integers(0, 2**32),
)
def test_round_trip(tmp_path_factory, ring, size, seg, seed):
    d = tmp_path_factory.mktemp("rt")
    plain = _data(size, seed)
    (d / "p").write_bytes(plain)
    info = encrypt_file(d / "p", d / "c", ring, segment_size=seg)
    assert info.key_id == ring.primary_id and info.segment_size == seg
    n_seg = max(1, -(-size // seg))
    assert (d / "c").stat().st_size == H + size + n_seg * _stream.TAG
    assert is_encrypted(d / "c") and not is_encrypted(d / "p")
    decrypt_file(d / "c", d / "q", ring)
    assert (d / "q").read_bytes() == plain
    with open_decrypted(d / "c", ring) as fh:
        assert fh.read() == plain


@pytest.mark.parametrize("size", SIZES)
def test_ciphertext_differs_each_time(tmp_path, ring, size):
    (tmp_path / "p").write_bytes(_data(size))
    encrypt_file(tmp_path / "p", tmp_path / "a", ring, segment_size=SEG)
    encrypt_file(tmp_path / "p", tmp_path / "b", ring, segment_size=SEG)
    a, b = (tmp_path / "a").read_bytes(), (tmp_path / "b").read_bytes()
    assert a != b and len(a) == len(b)
    if size >= 64:
        assert _data(size)[:64] not in a


def test_every_header_byte_flip_detected(tmp_path, ring, sample):
    _, blob = sample
    for pos in range(H):
        for mask in (0x01, 0x80):
            bad = bytearray(blob)
            bad[pos] ^= mask
            exc = PrivacyInputError if pos < len(_stream.MAGIC) else DecryptionError
            _assert_rejected(tmp_path, ring, bytes(bad), exc)


def test_sampled_ciphertext_flips_detected(tmp_path, ring, sample):
    _, blob = sample
    rng = random.Random(7)
    positions = set(rng.sample(range(H, len(blob)), 60))
    for k in range(len(_segments(blob))):
        start = H + k * FULL
        positions |= {start, start + 1, min(start + FULL, len(blob)) - 1}  # first byte, tag
    for pos in sorted(positions):
        bad = bytearray(blob)
        bad[pos] ^= 1 << rng.randrange(8)
        _assert_rejected(tmp_path, ring, bytes(bad))


def test_truncation_at_and_between_boundaries(tmp_path, ring, sample):
    _, blob = sample
    cuts = {0, 1, 8, H - 1, H, H + 1, H + 15, H + 16}
    for k in range(1, len(_segments(blob)) + 1):
        b = H + k * FULL
        cuts |= {b - FULL // 2, b - 17, b - 16, b - 1, b, b + 1, b + 16}
    for cut in sorted(c for c in cuts if c < len(blob)):
        exc = PrivacyInputError if cut < 8 else DecryptionError
        _assert_rejected(tmp_path, ring, blob[:cut], exc)


def test_reorder_and_drop_segments(tmp_path, ring, sample):
    _, blob = sample
    segs = _segments(blob)
    head = blob[:H]
    _assert_rejected(tmp_path, ring, head + segs[1] + segs[0] + b"".join(segs[2:]))
    _assert_rejected(tmp_path, ring, head + b"".join(segs[:-2] + [segs[-1], segs[-2]]))
    _assert_rejected(tmp_path, ring, head + segs[0] + b"".join(segs[2:]))  # drop a middle one
    _assert_rejected(tmp_path, ring, head + b"".join(segs[:-1]))  # drop the last
    _assert_rejected(tmp_path, ring, head + segs[0] + segs[0] + b"".join(segs[2:]))  # duplicate


def test_cross_file_swaps(tmp_path, ring, sample):
    plain, blob = sample
    (tmp_path / "p2").write_bytes(plain)
    encrypt_file(tmp_path / "p2", tmp_path / "c2", ring, segment_size=SEG)
    other = (tmp_path / "c2").read_bytes()
    assert len(other) == len(blob)
    a, b = _segments(blob), _segments(other)
    _assert_rejected(tmp_path, ring, blob[:H] + a[0] + b[1] + b"".join(a[2:]))
    _assert_rejected(tmp_path, ring, other[:H] + blob[H:])  # header of another file
    _assert_rejected(tmp_path, ring, blob[:H] + b"".join(a[:-1]) + b[-1])


@pytest.mark.parametrize("extra", [b"\x00", b"x" * 16, b"y" * 17, "segment"])
def test_appended_bytes(tmp_path, ring, sample, extra):
    _, blob = sample
    if extra == "segment":
        extra = _segments(blob)[0]
    _assert_rejected(tmp_path, ring, blob + extra)


def test_wrong_key(tmp_path, ring, sample):
    _, blob = sample
    _assert_rejected(tmp_path, KeyRing.generate(), blob)


def test_empty_file_needs_its_final_segment(tmp_path, ring):
    (tmp_path / "p").write_bytes(b"")
    encrypt_file(tmp_path / "p", tmp_path / "c", ring, segment_size=SEG)
    blob = (tmp_path / "c").read_bytes()
    assert len(blob) == H + 16
    _assert_rejected(tmp_path, ring, blob[:H])


def test_rotation_and_rewrap(tmp_path):
    ring = KeyRing.generate()
    old = ring.primary_id
    plain = _data(2 * SEG + 3)
    (tmp_path / "p").write_bytes(plain)
    encrypt_file(tmp_path / "p", tmp_path / "c", ring, segment_size=SEG)
    body_before = (tmp_path / "c").read_bytes()[_stream._AAD_LEN + 48 :]
    os.chmod(tmp_path / "c", 0o640)
    new = ring.rotate()
    decrypt_file(tmp_path / "c", tmp_path / "q", ring)  # old key still decrypts
    assert (tmp_path / "q").read_bytes() == plain
    assert file_info(tmp_path / "c").key_id == old
    assert rewrap(tmp_path / "c", ring) is True
    assert file_info(tmp_path / "c").key_id == new
    assert rewrap(tmp_path / "c", ring) is False  # already under the primary
    blob = (tmp_path / "c").read_bytes()
    assert blob[H:] == body_before  # segments copied, not re-encrypted
    assert os.stat(tmp_path / "c").st_mode & 0o777 == 0o640
    (tmp_path / "q").unlink()
    decrypt_file(tmp_path / "c", tmp_path / "q", ring)
    assert (tmp_path / "q").read_bytes() == plain
    # A ring holding only the new key opens the rewrapped file.
    only_new = KeyRing([ring._keys[new]], new)
    with open_decrypted(tmp_path / "c", only_new) as fh:
        assert fh.read() == plain
    # A ring without the file's key cannot rewrap it.
    with pytest.raises(DecryptionError):
        rewrap(tmp_path / "c", KeyRing.generate())
    assert sorted(os.listdir(tmp_path)) == ["c", "p", "q"]


def test_interrupted_encrypt_leaves_no_file(tmp_path, ring, monkeypatch):
    (tmp_path / "p").write_bytes(_data(4 * SEG))
    real = _stream._nonce

    def failing(prefix, index, last):
        if index == 2:
            raise KeyboardInterrupt
        return real(prefix, index, last)

    monkeypatch.setattr(_stream, "_nonce", failing)
    with pytest.raises(KeyboardInterrupt):
        encrypt_file(tmp_path / "p", tmp_path / "c", ring, segment_size=SEG)
    assert sorted(os.listdir(tmp_path)) == ["p"]


def test_failed_decrypt_leaves_no_plaintext(tmp_path, ring, sample):
    _, blob = sample
    bad = bytearray(blob)
    bad[-1] ^= 1  # only the final segment is bad: earlier ones decrypt fine first
    (tmp_path / "c").write_bytes(bytes(bad))
    with pytest.raises(DecryptionError):
        decrypt_file(tmp_path / "c", tmp_path / "out", ring)
    assert sorted(os.listdir(tmp_path)) == ["c", "cipher.akc", "plain.bin"]


def test_decrypted_output_is_private(tmp_path, ring, sample):
    _, blob = sample
    (tmp_path / "c").write_bytes(blob)
    decrypt_file(tmp_path / "c", tmp_path / "out", ring)
    assert os.stat(tmp_path / "out").st_mode & 0o777 == 0o600


def test_bad_arguments(tmp_path, ring):
    (tmp_path / "p").write_bytes(b"abc")
    for bad in (1024, 2 * 1024 * 1024, 0, True, 65536.0):
        with pytest.raises(PrivacyInputError, match="segment_size"):
            encrypt_file(tmp_path / "p", tmp_path / "c", ring, segment_size=bad)
    with pytest.raises(PrivacyInputError, match="does not exist"):
        encrypt_file(tmp_path / "missing", tmp_path / "c", ring)
    with pytest.raises(PrivacyInputError, match="same file"):
        encrypt_file(tmp_path / "p", tmp_path / "p", ring)
    with pytest.raises(PrivacyInputError, match="not an auditkit encrypted file"):
        decrypt_file(tmp_path / "p", tmp_path / "q", ring)
    assert sorted(os.listdir(tmp_path)) == ["p"]
    assert not is_encrypted(tmp_path / "missing")


def test_errors_are_opaque(tmp_path, ring, sample):
    _, blob = sample
    messages = set()
    variants = [blob[:-1], blob + b"x", blob[: H + 10] + bytes([blob[H + 10] ^ 1]) + blob[H + 11 :]]
    for i, v in enumerate(variants):
        (tmp_path / f"v{i}").write_bytes(v)
        with pytest.raises(PrivacyError) as exc:
            decrypt_file(tmp_path / f"v{i}", tmp_path / "o", ring)
        messages.add(str(exc.value))
    (tmp_path / "w").write_bytes(blob)
    with pytest.raises(DecryptionError) as exc:
        decrypt_file(tmp_path / "w", tmp_path / "o", KeyRing.generate())
    messages.add(str(exc.value))
    assert len(messages) == 1


def test_open_decrypted_is_seekable(tmp_path, ring, sample):
    plain, blob = sample
    (tmp_path / "c").write_bytes(blob)
    with open_decrypted(tmp_path / "c", ring) as fh:
        assert fh.seekable()
        rng = random.Random(3)
        for _ in range(50):
            pos, n = rng.randrange(len(plain) + 10), rng.randrange(3 * SEG)
            fh.seek(pos)
            assert fh.read(n) == plain[pos : pos + n]
        assert fh.seek(-5, io.SEEK_END) == len(plain) - 5
        assert fh.read() == plain[-5:]


def test_open_decrypted_detects_tampering_when_read(tmp_path, ring, sample):
    _, blob = sample
    bad = bytearray(blob)
    bad[H + FULL + 5] ^= 1  # second segment
    (tmp_path / "c").write_bytes(bytes(bad))
    with open_decrypted(tmp_path / "c", ring) as fh:
        assert len(fh.read(SEG)) == SEG  # the first segment is authentic
        with pytest.raises(DecryptionError):
            fh.read(SEG)


def test_open_decrypted_rejects_truncation_at_open(tmp_path, ring, sample):
    _, blob = sample
    (tmp_path / "c").write_bytes(blob[: H + 2 * FULL])
    with pytest.raises(DecryptionError):
        open_decrypted(tmp_path / "c", ring)


def test_pandas_reads_encrypted_csv_and_parquet(tmp_path, ring):
    df = pd.DataFrame({"id": range(20_000), "name": [f"person {i}" for i in range(20_000)]})
    df.to_csv(tmp_path / "d.csv", index=False)
    df.to_parquet(tmp_path / "d.parquet", index=False)
    encrypt_file(tmp_path / "d.csv", tmp_path / "d.csv.akc", ring, segment_size=SEG)
    encrypt_file(tmp_path / "d.parquet", tmp_path / "d.parquet.akc", ring, segment_size=SEG)
    with open_decrypted(tmp_path / "d.csv.akc", ring) as fh:
        pd.testing.assert_frame_equal(pd.read_csv(fh), df)
    with open_decrypted(tmp_path / "d.parquet.akc", ring) as fh:
        pd.testing.assert_frame_equal(pd.read_parquet(fh), df)


@pytest.mark.parametrize("enc_workers, dec_workers", [(1, 3), (2, 1), (3, 8), (8, 2)])
def test_thread_counts_interoperate(tmp_path, ring, enc_workers, dec_workers):
    plain = _data(5 * SEG + SEG // 3, seed=enc_workers)
    (tmp_path / "p").write_bytes(plain)
    encrypt_file(tmp_path / "p", tmp_path / "c", ring, segment_size=SEG, workers=enc_workers)
    decrypt_file(tmp_path / "c", tmp_path / "q", ring, workers=dec_workers)
    assert (tmp_path / "q").read_bytes() == plain


def test_tampering_detected_with_many_threads(tmp_path, ring, sample):
    _, blob = sample
    for pos in (H + 3, H + 2 * FULL + 7, len(blob) - 1):
        bad = bytearray(blob)
        bad[pos] ^= 4
        (tmp_path / "c").write_bytes(bytes(bad))
        with pytest.raises(DecryptionError):
            decrypt_file(tmp_path / "c", tmp_path / "q", ring, workers=4)
        assert not (tmp_path / "q").exists()


def test_stream_input_from_a_pipe(tmp_path, ring):
    import threading

    plain = _data(2 * SEG + 5, seed=9)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def feed():
        with open(fifo, "wb") as fh:
            for i in range(0, len(plain), 10_000):
                fh.write(plain[i : i + 10_000])

    t = threading.Thread(target=feed)
    t.start()
    encrypt_file(fifo, tmp_path / "c", ring, segment_size=SEG)
    t.join()
    decrypt_file(tmp_path / "c", tmp_path / "q", ring)
    assert (tmp_path / "q").read_bytes() == plain


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_workers(tmp_path, ring, bad):
    (tmp_path / "p").write_bytes(b"x")
    with pytest.raises(PrivacyInputError, match="workers"):
        encrypt_file(tmp_path / "p", tmp_path / "c", ring, workers=bad)


def test_ring_type_checked(tmp_path):
    (tmp_path / "p").write_bytes(b"x")
    for call in (
        lambda: encrypt_file(tmp_path / "p", tmp_path / "c", "secret"),
        lambda: decrypt_file(tmp_path / "p", tmp_path / "c", None),
        lambda: rewrap(tmp_path / "p", b"key"),
        lambda: open_decrypted(tmp_path / "p", {}),
    ):
        with pytest.raises(PrivacyInputError, match="KeyRing"):
            call()

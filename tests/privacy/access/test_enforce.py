"""The guard in force: operations ask ``trail.enforce``; an active policy answers for the identity.

Known answers on a two-role policy (alice: auditor = audit + decrypt:data/*; bob: nothing), every
refusal recorded as an ``access.check`` event with outcome ``denied``, the unauthenticated OS user
refused, activation from ``$AUDITKIT_ACCESS_POLICY``, and the legacy model (no policy) untouched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from auditkit.privacy import trail
from auditkit.privacy.access import Identity, Policy, activate
from auditkit.privacy.errors import AccessDenied, PrivacyInputError


@pytest.fixture(autouse=True)
def _no_policy_left_behind():
    yield
    trail.set_enforcer(None)


def _denials(tmp_path: Path) -> list[trail.Event]:
    return [e for e in trail.Trail.open(tmp_path / "trail").events(action="access.check")
            if e.outcome == "denied"]


@pytest.mark.parametrize(("who", "permission", "resource", "allowed"), [
    ("alice", "audit", None, True),
    ("alice", "decrypt", "data/x.enc", True),
    ("alice", "decrypt", "hr/x.enc", False),
    ("alice", "train", None, False),
    ("alice", "detokenise", None, False),
    ("bob", "audit", None, False),
    ("admin", "administer-keys", None, True),
])
def test_the_policy_answers_for_the_bound_identity(tmp_path, signed, store, admin, alice, bob, who,
                                                   permission, resource, allowed) -> None:
    identity = {"alice": alice, "bob": bob, "admin": admin}[who]
    resource = tmp_path / resource if resource else None  # a file under the policy's root
    with trail.command("access check"):
        activate(Policy.load(signed, trust_store=store), identity=identity)
        if allowed:
            trail.enforce(permission, resource)
        else:
            with pytest.raises(AccessDenied, match=permission):
                trail.enforce(permission, resource)
    assert len(_denials(tmp_path)) == (0 if allowed else 1)


def test_an_unauthenticated_process_may_do_nothing_guarded(tmp_path, signed, store) -> None:
    activate(Policy.load(signed, trust_store=store))
    with pytest.raises(AccessDenied, match="AUDITKIT_IDENTITY"):
        trail.enforce("audit")
    (event,) = _denials(tmp_path)
    assert event.params["permission"] == "audit" and event.params["principal"].startswith(("os:", "uid"))


def test_same_name_other_key_is_not_the_principal(tmp_path, signed, store) -> None:
    impostor = Identity.generate("alice")
    with trail.command("access check"):
        activate(Policy.load(signed, trust_store=store), identity=impostor)
        with pytest.raises(AccessDenied):
            trail.enforce("audit")


def test_the_environment_puts_a_policy_in_force(tmp_path, signed, store, monkeypatch) -> None:
    monkeypatch.setenv("AUDITKIT_TRUST_STORE", str(tmp_path / "trusted_keys.toml"))
    monkeypatch.setenv("AUDITKIT_ACCESS_POLICY", str(signed))
    assert trail.enforcer() is None
    with pytest.raises(AccessDenied):
        trail.enforce("train")
    assert trail.enforcer() is not None


def test_without_a_policy_the_legacy_model_allows(tmp_path) -> None:
    activate(None)
    trail.enforce("decrypt", "anything")  # the key holder may act
    assert not (tmp_path / "trail").exists() or _denials(tmp_path) == []


def test_unknown_permissions_and_non_policies_are_refused(signed, store, alice) -> None:
    with trail.command("access check"):  # binds alice to this command only
        activate(Policy.load(signed, trust_store=store), identity=alice)
        with pytest.raises(PrivacyInputError, match="permission"):
            trail.enforce("teleport")
    with pytest.raises(PrivacyInputError, match="Policy"):
        activate("access-policy.json")  # type: ignore[arg-type]


def _guarded_calls(tmp_path: Path):
    """Each guarded API entry point, called as the policy's auditor would (who may not do it)."""
    import pandas as pd

    from auditkit.privacy.crypto import KeyRing, decrypt_columns, decrypt_file, encrypt_file, rewrap
    from auditkit.privacy.dp import make_private
    from auditkit.privacy.masking import mask

    ring = KeyRing.generate()
    src = tmp_path / "hr.csv"
    src.write_text("a\n1\n")
    enc = tmp_path / "hr.csv.enc"
    trail.set_enforcer(None)
    encrypt_file(src, enc, ring)  # written before the policy is in force
    frame = pd.DataFrame({"email": ["zq-1-marker@example.org"]})
    return {
        "decrypt": lambda: decrypt_file(enc, tmp_path / "out.csv", ring),
        "rewrap": lambda: rewrap(enc, ring),
        "detokenise": lambda: decrypt_columns(frame, ["email"], ring),
        "mask": lambda: mask(frame, {"rules": [{"column": "email", "operator": "redact"}]}),
        "train": lambda: make_private(None, None, None, target_epsilon=1.0, epochs=1),
    }


@pytest.mark.parametrize("operation", ["decrypt", "rewrap", "detokenise", "mask", "train"])
def test_every_guarded_operation_asks_first(tmp_path, signed, store, alice, operation) -> None:
    calls = _guarded_calls(tmp_path)
    with trail.command("access check"):
        activate(Policy.load(signed, trust_store=store), identity=alice)
        with pytest.raises(AccessDenied):
            calls[operation]()
    assert not (tmp_path / "out.csv").exists()
    (denial,) = _denials(tmp_path)
    assert denial.params["principal"] == "alice"


def test_a_resource_is_the_same_file_whatever_its_spelling(tmp_path, signed, store, alice,
                                                          monkeypatch) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "elsewhere" / "data").mkdir(parents=True)
    with trail.command("access check"):
        activate(Policy.load(signed, trust_store=store), identity=alice)
        for spelling in (tmp_path / "data" / "x.enc", str(tmp_path / "data" / "x.enc")):
            trail.enforce("decrypt", spelling)  # inside data/ under the policy's root: granted
        monkeypatch.chdir(tmp_path / "elsewhere")  # "data/x.enc" here is outside the root
        with pytest.raises(AccessDenied):
            trail.enforce("decrypt", "data/x.enc")

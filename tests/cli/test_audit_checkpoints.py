"""Signed checkpoints against an insider: each kind of tampering is found and named by the
real `prcast audit verify`, given the last checkpoint, by the owner and by a third party
holding only the public key; inclusion proofs checked by an independent checker."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from typer.testing import CliRunner

from prcast.audit import AuditLog, canonical, record_hash
from prcast.cli import app
from prcast.workspace import Workspace
from tests.conftest import Invoke

Tamper = Callable[[Path], None]


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rechain(records: list[dict[str, object]], prev: str) -> bytes:
    """Records with hashes recomputed into a valid chain after `prev` (what an insider
    with a text editor and a SHA-256 tool produces)."""
    out = []
    for r in records:
        r = {k: v for k, v in r.items() if k != "hash"}
        r["prev"] = prev
        r["hash"] = prev = record_hash(r)
        out.append(canonical(r) + "\n")
    return "".join(out).encode("utf-8")


def byte_change(path: Path) -> None:
    lines = lines_of(path)
    lines[2] = lines[2].replace(b'"type":"', b'"type":"X', 1)
    path.write_bytes(b"".join(lines))


def delete_last_records(path: Path) -> None:
    path.write_bytes(b"".join(lines_of(path)[:-2]))


def empty(path: Path) -> None:
    path.write_bytes(b"")


def forged_append(path: Path) -> None:
    last = json.loads(lines_of(path)[-1])
    forged = {"seq": last["seq"] + 1, "ts": last["ts"], "type": "release.approved",
              "release": "example", "by": "Omar"}  # fmt: skip
    with open(path, "ab") as f:
        f.write(rechain([forged], last["hash"]))


def rewritten_tail(path: Path) -> None:
    lines = lines_of(path)
    keep, tail = lines[:-3], [json.loads(x) for x in lines[-3:]]
    for r in tail:
        r["n"] = 999  # what the records said, changed
    prev = json.loads(keep[-1])["hash"]
    path.write_bytes(b"".join(keep) + rechain(tail, prev))


def swapped_records(path: Path) -> None:
    lines = lines_of(path)
    lines[3], lines[4] = lines[4], lines[3]
    path.write_bytes(b"".join(lines))


#: what verify must say, given the last checkpoint; and what the owner, who also has every
#: earlier checkpoint in their config folder, is told besides
TAMPERS: dict[str, tuple[Tamper, list[str], list[str]]] = {
    "byte change": (byte_change, ["record 3:", "altered", "checkpoint of size 12"],
                    ["checkpoint of size 5"]),
    "deleted last records": (delete_last_records, ["covers 12 records but the log has 10",
                                                   "records 11-12 deleted"], []),
    "emptied file": (empty, ["the log is empty (emptied)", "records 1-12 deleted"],
                     ["checkpoint of size 5 (signed by"]),
    "forged append": (forged_append, ["record 13 of 13 not covered by a signed checkpoint",
                                      'approval by "Omar" carries no signature'], []),
    "rewritten tail": (rewritten_tail, ["checkpoint of size 12", "were changed, replaced or reordered"],
                       ["records 10-12 were changed", "the first 9 match an earlier checkpoint"]),
    "swapped records": (swapped_records, ["record 4: sequence number 5 out of order",
                                          "checkpoint of size 12"], ["checkpoint of size 5"]),
}  # fmt: skip


@pytest.fixture
def sealed_log(ws: Workspace, cli: Invoke, tmp_path: Path) -> tuple[Path, str]:
    """A log of 12 records under checkpoints of 5, 9 and 12 records; the last checkpoint
    kept outside the workspace, and the verifier key."""
    assert cli("send", "example", "--yes").exit_code == 0  # 5 records, checkpoint 5
    log = AuditLog(ws.audit_path)
    for n in range(4):
        log.append("test.note", n=n)
    assert cli("audit", "checkpoint").exit_code == 0  # 9
    for n in range(3):
        log.append("test.note", n=n)
    kept = cli("audit", "checkpoint")  # 12
    assert kept.exit_code == 0, kept.output
    assert kept.stdout.split("\n")[1] == "12"
    saved = tmp_path / "kept.checkpoint"
    saved.write_text(kept.stdout, encoding="utf-8")
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "12 records; matches 3 signed checkpoint(s)" in verified.stdout
    vkey = cli("audit", "key").stdout.strip()
    return saved, vkey


@pytest.mark.parametrize("verifier", ["owner", "third party"])
@pytest.mark.parametrize("kind", list(TAMPERS))
def test_tampering_is_found_and_named_given_the_last_checkpoint(
    ws: Workspace,
    cli: Invoke,
    sealed_log: tuple[Path, str],
    tmp_path: Path,
    kind: str,
    verifier: str,
) -> None:
    saved, vkey = sealed_log
    tamper, expected, owner_also = TAMPERS[kind]
    if verifier == "owner":
        expected = [*expected, *owner_also]
    tamper(ws.audit_path)
    # a thorough insider also removes every checkpoint the workspace holds or published
    shutil.rmtree(ws.state_dir / "checkpoints")
    shutil.rmtree(ws.root / "outbox")
    args = ["--workspace", str(ws.root), "audit", "verify", "--checkpoint", str(saved)]
    if verifier == "owner":
        result = CliRunner().invoke(app, args)
    else:  # a journalist: another home, only the public key and the published checkpoint
        other = tmp_path / "journalist"
        result = CliRunner().invoke(
            app, [*args, "--key", vkey], env={"XDG_CONFIG_HOME": str(other), "HOME": str(other)}
        )
    assert result.exit_code == 3, result.output
    message = " ".join(result.stderr.split())
    for words in expected:
        assert words in message, (words, message)


def test_an_untouched_log_is_intact_for_a_third_party(
    ws: Workspace, sealed_log: tuple[Path, str], tmp_path: Path
) -> None:
    saved, vkey = sealed_log
    other = tmp_path / "journalist"
    env = {"XDG_CONFIG_HOME": str(other), "HOME": str(other)}
    args = ["--workspace", str(ws.root), "audit", "verify", "--checkpoint", str(saved)]
    without_key = CliRunner().invoke(app, args, env=env)
    assert without_key.exit_code == 2 and "--key" in without_key.stderr
    result = CliRunner().invoke(app, [*args, "--key", vkey], env=env)
    assert result.exit_code == 0, result.output
    assert "audit log intact: 12 records" in result.stdout


def test_a_forged_checkpoint_is_named(
    ws: Workspace, cli: Invoke, sealed_log: tuple[Path, str], tmp_path: Path
) -> None:
    saved, _ = sealed_log
    text = saved.read_text().split("\n")
    text[1] = "11"  # a checkpoint for a shorter log, keeping the signature
    forged = tmp_path / "forged.checkpoint"
    forged.write_text("\n".join(text))
    result = cli("audit", "verify", "--checkpoint", str(forged))
    assert result.exit_code == 3
    assert "does not verify (forged or altered)" in result.stderr


def test_a_later_command_does_not_sign_a_forged_append(
    ws: Workspace, cli: Invoke, sealed_log: tuple[Path, str]
) -> None:
    forged_append(ws.audit_path)
    example = ws.releases_dir / "example.md"
    (ws.releases_dir / "update.md").write_text(example.read_text() + "\nAn update.\n")
    again = cli("send", "update", "--yes")  # appends after the forged record, then signs
    assert again.exit_code == 0, again.output
    records = list(AuditLog(ws.audit_path).records())
    [note] = [r for r in records if r["type"] == "audit.unexpected_tail"]
    assert (note["seq"], note["first"], note["last"]) == (14, 13, 13)
    result = cli("audit", "verify")
    assert result.exit_code == 3
    message = " ".join(result.stderr.split())
    assert (
        "record 14: prcast found records appended by something other than this account's prcast: record 13 that no checkpoint signed"
        in message
    )


def test_a_run_ends_with_a_checkpoint_published_in_the_press_room(
    ws: Workspace, cli: Invoke
) -> None:
    import feedparser

    sent = cli("send", "example", "--yes")
    assert sent.exit_code == 0
    assert "created the audit signing key" in sent.stderr
    room = ws.root / "outbox"
    note = (room / "checkpoint.txt").read_text()
    assert note.split("\n")[1] == str(len(lines_of(ws.audit_path)))
    assert note in (room / "index.html").read_text().replace("&#43;", "+")
    feed = (room / "feed.xml").read_text()
    assert "<prcast:checkpoint" in feed and note.split("\n")[2] in feed
    assert feedparser.parse(feed).bozo == 0
    assert (room / "audit-key.txt").read_text().strip() == cli("audit", "key").stdout.strip()
    report = json.loads(cli("report", "--format", "json").stdout)["audit"]
    assert report["checkpoint"] == note and report["key"] == cli("audit", "key").stdout.strip()
    assert "matches the signed checkpoint of" in report["message"]
    assert note.rstrip("\n") in cli("report", "--format", "md").stdout
    # the key is outside the workspace and never in any file of it
    key_file = Path.home() / ".config" / "prcast" / "keys" / "audit.key"
    secret = key_file.read_text().strip().split("+", 4)[4]  # base64 may hold "+"
    assert len(secret) >= 40
    for p in ws.root.rglob("*"):
        if p.is_file():
            assert secret.encode() not in p.read_bytes(), p


def test_a_signing_key_inside_the_workspace_is_refused(
    ws: Workspace, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("audit", "key").exit_code == 0
    inside = ws.root / "audit.key"
    shutil.copy(Path.home() / ".config" / "prcast" / "keys" / "audit.key", inside)
    monkeypatch.setenv("PRCAST_SIGNING_KEY", str(inside))
    result = cli("audit", "checkpoint")
    assert result.exit_code == 2 and "inside the workspace" in result.stderr


# -- an inclusion proof, checked without prcast ---------------------------------------


def independent_check(proof: dict[str, object], vkey: str) -> bool:
    """A third party's checker: the signed-note signature with the verifier key, then the
    RFC 9162 audit path folded by the recursive definition (not prcast's code path)."""
    name, key_id, b64 = vkey.split("+", 2)
    raw = base64.b64decode(b64)
    assert raw[0] == 1 and len(raw) == 33
    assert hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() == key_id
    note = str(proof["checkpoint"])
    body, sigs = note.split("\n\n", 1)
    dash, signer, blob = sigs.strip().split(" ")
    assert dash == "\u2014" and signer == name
    sig = base64.b64decode(blob)
    assert sig[:4].hex() == key_id
    Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig[4:], (body + "\n").encode())
    _origin, size, root = body.split("\n")
    n, index = int(size), int(str(proof["leaf_index"]))
    path = [base64.b64decode(h) for h in proof["path"]]  # type: ignore[attr-defined]
    leaf = hashlib.sha256(b"\x00" + str(proof["line"]).encode()).digest()

    def fold(i: int, size: int, path: list[bytes]) -> bytes:
        if size == 1:
            assert not path
            return leaf
        k = 1
        while k * 2 < size:
            k *= 2
        if i < k:
            return hashlib.sha256(b"\x01" + fold(i, k, path[:-1]) + path[-1]).digest()
        return hashlib.sha256(b"\x01" + path[-1] + fold(i - k, size - k, path[:-1])).digest()

    return fold(index, n, path) == base64.b64decode(root)


@pytest.mark.parametrize("record", [1, 7, 12])
def test_an_inclusion_proof_is_checked_by_an_independent_checker(
    ws: Workspace, cli: Invoke, sealed_log: tuple[Path, str], tmp_path: Path, record: int
) -> None:
    _, vkey = sealed_log
    out = tmp_path / "proof.json"
    assert cli("audit", "prove", str(record), "-o", str(out)).exit_code == 0
    proof = json.loads(out.read_text())
    assert proof["line"].encode() + b"\n" == lines_of(ws.audit_path)[record - 1]
    assert independent_check(proof, vkey)
    proof["line"] = proof["line"].replace('"seq"', '"seq" ', 1)  # another record
    assert not independent_check(proof, vkey)
    assert cli("audit", "prove", "13").exit_code == 2  # not signed yet


def test_records_this_account_wrote_but_did_not_sign_yet_are_a_warning_for_the_owner_only(
    ws: Workspace, cli: Invoke, sealed_log: tuple[Path, str], tmp_path: Path
) -> None:
    saved, vkey = sealed_log
    from prcast import audit

    AuditLog(ws.audit_path).append("test.note", n=99)  # a run that stopped before it signed
    audit.appended.clear()  # (that process is gone: nothing of it signs at the next command)
    other = tmp_path / "journalist"
    journalist = CliRunner().invoke(
        app,
        ["--workspace", str(ws.root), "audit", "verify", "--checkpoint", str(saved), "--key", vkey],
        env={"XDG_CONFIG_HOME": str(other), "HOME": str(other)},
    )
    assert journalist.exit_code == 3
    assert "record 13 of 13 not covered by a signed checkpoint" in " ".join(
        journalist.stderr.split()
    )
    owner = cli("audit", "verify")
    assert owner.exit_code == 0, owner.output
    assert "record 13 written by this account's prcast not signed yet" in " ".join(
        owner.stderr.split()
    )
    assert cli("audit", "checkpoint").stdout.split("\n")[1] == "13"


def test_a_long_running_process_signs_periodically(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prcast import audit

    monkeypatch.setattr(audit, "CHECKPOINT_RECORDS", 3)
    log = AuditLog(ws.audit_path)
    for n in range(7):
        log.append("test.note", n=n)
    kept = sorted(p.name for p in (ws.state_dir / "checkpoints").glob("*.checkpoint"))
    assert kept == ["000000000003.checkpoint", "000000000006.checkpoint"]


def test_a_consistency_proof_links_an_old_checkpoint_to_the_latest(
    ws: Workspace, cli: Invoke, sealed_log: tuple[Path, str], tmp_path: Path
) -> None:
    from prcast import merkle

    old = sorted((ws.state_dir / "checkpoints").glob("*.checkpoint"))[0]  # of 5 records
    out = tmp_path / "consistency.json"
    assert cli("audit", "consistency", str(old), "-o", str(out)).exit_code == 0
    proof = json.loads(out.read_text())
    assert (proof["old_size"], proof["new_size"]) == (5, 12)
    new_root = base64.b64decode(proof["checkpoint"].split("\n")[2])
    old_root = base64.b64decode(old.read_text().split("\n")[2])
    path = [base64.b64decode(h) for h in proof["path"]]
    assert merkle.verify_consistency(5, 12, old_root, new_root, path)
    assert not merkle.verify_consistency(5, 12, new_root, new_root, path)
    rewritten_tail(ws.audit_path)  # records 10-12: the old checkpoint still holds, the new not
    assert cli("audit", "consistency", str(old)).exit_code == 3


def test_a_workspace_made_again_where_one_was_deleted_starts_a_new_log(
    ws: Workspace, cli: Invoke
) -> None:
    from prcast.workspace import init_workspace

    assert cli("send", "example", "--yes").exit_code == 0
    shutil.rmtree(ws.root)
    init_workspace(ws.root)
    assert cli("send", "example", "--yes").exit_code == 0
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    # but an emptied log in the same workspace is not a new one
    ws.audit_path.write_bytes(b"")
    assert cli("audit", "verify").exit_code == 3

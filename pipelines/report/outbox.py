"""The outbox folder on disk: claims on messages being sent, permanent rejections, dead letters.

A message `<name>.eml` is claimed by renaming it to `<name>.eml.<host>.<pid>.sending`, so the claim
says who owns it. A claim whose owner is a process of this host that no longer runs (killed mid-send)
is released at once; a claim of another host, or one left by an older arbdb without an owner, is
released after `STALE_CLAIM_SECONDS`. Releasing can repeat a message the server had already
accepted just before the crash; a duplicate with the same Message-ID (which mail clients fold) is
better than a lost report.

A message the server rejects permanently (a 5xx reply to MAIL, RCPT or DATA) is counted in
`<name>.eml.rejected`; after `MAX_REJECTIONS` such replies it is moved to `<outbox>/dead/` with a
`<name>.eml.reason` file beside it, and no longer holds back the messages behind it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import time
from pathlib import Path

log = logging.getLogger(__name__)

STALE_CLAIM_SECONDS = 3600
MAX_REJECTIONS = 3
DEAD_DIR = "dead"
UNDISCLOSED = "undisclosed-recipients:;"  # RFC 5322 empty group: To of a message queued without recipients
_CLAIM = re.compile(r"^(?P<name>.+?\.eml)(?:\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+))?\.sending$")


def _host() -> str:
    # Dots would make the claim name ambiguous; a host name is only compared, never resolved.
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "localhost"


def claim(path: Path) -> Path | None:
    """Take `path` for sending by this process; None when another process took it first."""
    owned = path.with_name(f"{path.name}.{_host()}.{os.getpid()}.sending")
    try:
        os.rename(path, owned)
    except FileNotFoundError:
        return None
    os.utime(owned)
    return owned


def original(claimed: Path) -> Path:
    """The outbox file a claim was made from."""
    match = _CLAIM.match(claimed.name)
    return claimed.with_name(match["name"] if match else claimed.name.removesuffix(".sending"))


def claims(path: Path) -> list[Path]:
    """Claims currently held on the outbox file `path`."""
    return [c for c in path.parent.glob(f"{path.name}.*sending") if original(c) == path]


def is_queued(path: Path) -> bool:
    """Whether `path` still waits in the outbox, or is being sent right now."""
    return path.exists() or bool(claims(path))


def withdraw(path: Path) -> bool:
    """Remove a queued message that must not be sent any more; False when it is being sent now."""
    owned = claim(path)
    if owned is None:
        return not claims(path)
    owned.unlink()
    path.with_name(path.name + ".rejected").unlink(missing_ok=True)
    return True


def release_stale_claims(outbox: Path) -> None:
    """Put back claims whose owner died (this host) or that are older than STALE_CLAIM_SECONDS."""
    for claimed in outbox.glob("*.sending"):
        why = _stale(claimed)
        if why is None:
            continue
        log.warning("mail: %s was claimed but never finished (%s); it goes out again", claimed.name, why)
        with contextlib.suppress(FileNotFoundError):  # another process released it first
            os.rename(claimed, original(claimed))


def _stale(claimed: Path) -> str | None:
    match = _CLAIM.match(claimed.name)
    if match and match["pid"] and match["host"] == _host() and not _alive(int(match["pid"])):
        return f"its owner, process {match['pid']}, is gone"
    try:
        age = time.time() - claimed.stat().st_mtime
    except FileNotFoundError:
        return None
    return f"claimed {age:.0f} s ago" if age > STALE_CLAIM_SECONDS else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def note_rejection(path: Path, reason: str) -> int:
    """Count one permanent rejection of `path`; the number of rejections so far."""
    sidecar = path.with_name(path.name + ".rejected")
    try:
        count = int(json.loads(sidecar.read_text())["count"])
    except (OSError, ValueError, KeyError, TypeError):
        count = 0
    sidecar.write_text(json.dumps({"count": count + 1, "reason": reason}))
    return count + 1


def clear_rejections(path: Path) -> None:
    path.with_name(path.name + ".rejected").unlink(missing_ok=True)


def bury(path: Path, reason: str) -> Path:
    """Move `path` to the dead-letter folder with a `.reason` file; the new path."""
    dead = path.parent / DEAD_DIR
    dead.mkdir(exist_ok=True)
    target = dead / path.name
    target.with_name(target.name + ".reason").write_text(reason + "\n")
    os.replace(path, target)
    clear_rejections(path)
    return target


def outbox_state(outbox_dir: Path) -> dict:
    """Messages waiting or being sent (`messages`, of which `sending`), and dead letters."""
    outbox = Path(outbox_dir)
    if not outbox.is_dir():
        return {"dir": str(outbox), "messages": 0, "sending": 0, "dead": 0}
    sending = len(list(outbox.glob("*.sending")))
    return {
        "dir": str(outbox),
        "messages": len(list(outbox.glob("*.eml"))) + sending,
        "sending": sending,
        "dead": len(list((outbox / DEAD_DIR).glob("*.eml"))),
    }

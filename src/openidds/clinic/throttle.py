"""Login throttling: how many failed password guesses a login name or a client address may make, and when it may
try again. Pure: given what the database remembers of its failures and the time now, `decide` says allowed, or
refused until when and why; `after_failure` says what to remember after another failure. The service
(service/throttle.py) keeps the counts in the database, shared by every server worker.

Two keys are counted for each guess, each with its own numbers:

- the *account*, the username as typed, case-folded (an unknown name is counted like a known one, so the answers
  do not tell which names exist): a few free failures, then a delay that doubles, then a lock;
- the client *address*: a higher threshold, so the typos of a ward's nurses on one shared PC do not lock it, yet
  one machine trying many names (password spraying) is slowed and then locked all the same.

While a key is locked or waiting out its delay, every attempt is refused, the right password too: it is not
checked, so it is not a guess and is not counted. A successful login clears its account's failures (not its
address's: an attacker's own valid login must not reset the count of the machine guessing others' passwords).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil
from typing import Literal

Kind = Literal["account", "address"]


@dataclass(frozen=True)
class Policy:
    """The numbers of one kind of key."""

    free: int  # failures that cost nothing: a typo or two, a caps-lock
    first_delay: timedelta  # the wait after the first failure past the free ones; it doubles with each failure
    max_delay: timedelta  # the longest wait between guesses before the lock
    lock_after: int  # this many failures lock the key
    lock_for: timedelta  # how long a lock lasts; each failure after it locks it again
    forget_after: timedelta  # failures this long after the last one are forgotten


# An account: 5 free failures, then 1 s, 2 s, 4 s, 8 s, 16 s between guesses; the 10th failure locks it for 15 min
# and every failure after that locks it again. 163 guesses in 15 s get 8 tries; a lock lets one guess in 15 min
# (under 100 a day). A nurse who mistypes 5 times has lost nothing; failures are forgotten after a day without
# any, or at the next successful login.
ACCOUNT = Policy(
    free=5,
    first_delay=timedelta(seconds=1),
    max_delay=timedelta(seconds=30),
    lock_after=10,
    lock_for=timedelta(minutes=15),
    forget_after=timedelta(hours=24),
)
# An address: a ward's shared PC sees many people's typos (a walk-through made 20 in five minutes, and then a
# physician who typed his right password waited 28 s), so 30 are free, the lock comes at 100, and failures are
# forgotten 15 minutes after the last: a shift's typos never add up to a wait. One machine spraying guesses over
# many names is slowed after 30 (up to 30 s a guess) and locked at 100, whatever the names.
ADDRESS = Policy(
    free=30,
    first_delay=timedelta(seconds=1),
    max_delay=timedelta(seconds=30),
    lock_after=100,
    lock_for=timedelta(minutes=15),
    forget_after=timedelta(minutes=15),
)
POLICIES: dict[Kind, Policy] = {"account": ACCOUNT, "address": ADDRESS}
KEY_MAX = 80  # a key is kept at most this long (a username is at most 80 characters)


@dataclass(frozen=True)
class Failures:
    """What is remembered of one key's failures."""

    count: int = 0
    last_at: datetime | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Decision:
    """Whether an attempt may be checked now; if not, until when it is refused and why (in words)."""

    allowed: bool
    retry_at: datetime | None = None
    reason: str = ""

    def retry_after(self, now: datetime) -> int:
        """Whole seconds to wait (at least 1), for a Retry-After header."""
        if self.retry_at is None:
            return 0
        return max(1, ceil((self.retry_at - now).total_seconds()))

    def message(self, now: datetime) -> str:
        """The refusal and how long to wait, in words."""
        seconds = self.retry_after(now)
        wait = f"{seconds} second{'s' if seconds != 1 else ''}" if seconds < 120 else f"{ceil(seconds / 60)} minutes"
        return f"{self.reason}: try again in {wait}"


def current(policy: Policy, failures: Failures, now: datetime) -> Failures:
    """The failures that still count now: none once `forget_after` has passed since the last (and no lock runs)."""
    if failures.last_at is None:
        return Failures()
    locked = failures.locked_until is not None and failures.locked_until > now
    if not locked and now - failures.last_at >= policy.forget_after:
        return Failures()
    return failures


def delay(policy: Policy, count: int) -> timedelta:
    """The wait after `count` failures, before the lock: none for the free ones, then doubling up to the cap."""
    if count < policy.free:
        return timedelta(0)
    doubled = policy.first_delay * (1 << min(count - policy.free, 30))
    return min(doubled, policy.max_delay)


def decide(kind: Kind, failures: Failures, now: datetime) -> Decision:
    """Allowed, or refused until when and why: a running lock, or the delay after the last failure."""
    policy = POLICIES[kind]
    failures = current(policy, failures, now)
    whose = "this login name" if kind == "account" else "this computer"
    if failures.locked_until is not None and failures.locked_until > now:
        return Decision(
            False,
            failures.locked_until,
            f"too many failed logins for {whose}, so it is locked",
        )
    if failures.last_at is not None:
        ready = failures.last_at + delay(policy, failures.count)
        if ready > now:
            return Decision(False, ready, f"too many failed logins for {whose}")
    return Decision(True)


def after_failure(kind: Kind, failures: Failures, now: datetime) -> tuple[Failures, bool]:
    """What to remember after one more failure, and whether it locks the key now."""
    policy = POLICIES[kind]
    count = current(policy, failures, now).count + 1
    if count >= policy.lock_after:
        return Failures(count, now, now + policy.lock_for), True
    return Failures(count, now, None), False


def account_key(username: str) -> str:
    """A login name as counted: without surrounding spaces or control characters, case-folded (so 'Ada' and 'ada'
    share one count), and kept as its SHA-256 only: people type passwords into the username box, and the table must
    not keep them."""
    kept = "".join(c for c in username.strip() if c.isprintable())
    return hashlib.sha256(kept.casefold().encode()).hexdigest()


def address_key(host: str | None) -> str:
    """A client address as counted (one that is unknown is counted as 'unknown', all together)."""
    return (host or "unknown").strip()[:KEY_MAX] or "unknown"

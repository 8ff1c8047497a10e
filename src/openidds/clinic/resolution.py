"""What a flag's resolution must say. Any flag: what was done, in words. An urgent one (suicide risk, respiratory
depression, a suspected pocket fill, a shortfall at a refill): who saw the patient, what was found and what was
agreed, in a sentence; "-" or "ok" closes nothing (an OpenIDDS choice: a note that says nothing is no record)."""

from __future__ import annotations

URGENT_WORDS = 4  # the fewest words an urgent flag's resolution has: who, what was found, what was agreed


def resolution_refusal(text: str, urgent: bool) -> str | None:
    """Why `text` (already trimmed) does not resolve the flag, or None."""
    words = [w for w in text.split() if any(c.isalnum() for c in w)]
    if not words:
        return "say what was done (e.g. 'observed 24 h, no respiratory depression')"
    if urgent and len(words) < URGENT_WORDS:
        return (
            "an urgent flag is resolved in a sentence: who saw the patient, what was found and what was agreed "
            "(e.g. 'seen by Dr Okafor: no plan or intent; safety plan agreed, review in 1 week')"
        )
    return None

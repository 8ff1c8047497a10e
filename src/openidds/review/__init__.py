"""The review screen: every setting of a program, old beside new, before anything is applied."""

from openidds.review.diff import Row, diff, settings

__all__ = ["Row", "diff", "settings"]

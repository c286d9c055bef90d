"""Per-cell table, exports (CSV with CodeCarbon's columns, JSON, Markdown/HTML receipt, SVG badge).

Every output is rendered from one `Report` (records + totals + host description), so the
numbers agree everywhere; each format lives in its own module and is imported on use.
"""
from __future__ import annotations

from .model import Report

__all__ = ["Report"]

"""Reports from result JSON: self-contained HTML, Markdown and PNG plots.

Reads only results.json, never re-measures, so a report can be rebuilt anywhere.
"""

from cnnopt.report.html import build_html, write_report
from cnnopt.report.markdown import markdown_report

__all__ = ["build_html", "markdown_report", "write_report"]

"""Reports across runs: paper-shaped tables (Markdown/CSV/JSON/HTML) and figures (PNG)."""

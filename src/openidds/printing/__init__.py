"""Printable records: the refill session record, the program change record, the patient's emergency card and the
clinic's monthly report, as HTML pages and as PDF from the same templates (web/templates/print/).

- `records`: what each holds, as typed dataclasses (pure);
- `gather`, `monthly`: read from the clinic's records (no role check: the adapters check first);
- `plots`: the monthly report's plots (matplotlib, SVG);
- `documents`: one record ready to render (template, values, file name);
- `render`: HTML → PDF with WeasyPrint, nothing fetched from a network.

Served by web/printing.py (pages and .pdf), api/routers/printing.py (application/pdf) and `idds print`.
"""

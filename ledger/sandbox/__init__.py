"""In-memory stand-ins for Xero and QuickBooks Online that speak the real wire formats.

`ledger.sandbox.xero.create_app(XeroSandbox(...))` and `ledger.sandbox.quickbooks.create_app(QuickBooksSandbox(...))`
build Litestar apps serving every origin of one provider (login, identity/token and API) from a single server,
so the ledger clients work unchanged when their base URLs point at it. Run one with
`python -m ledger.sandbox xero|quickbooks --port N [--invoices N]`.

Layout per provider: `*_state` (books, OAuth grants, mutation helpers for tests), `*_auth` (consent page and
token endpoints), `*_services` (query, paging and payment rules), `*_wire` (JSON shapes, errors, PDFs) and the
provider module itself (HTTP handlers, app factory, webhook helpers). `seed` holds the demo and load-test books.
"""

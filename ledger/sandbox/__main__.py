"""Run a ledger sandbox: `python -m ledger.sandbox xero|quickbooks --port N [--invoices N]`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import uvicorn
from litestar import Litestar

from ledger.sandbox import quickbooks, xero

_ENV = {"xero": "XERO", "quickbooks": "QUICKBOOKS"}
_DEFAULT_PORTS = {"xero": 8101, "quickbooks": 8102}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; app credentials default to the portal's own environment variables."""
    parser = argparse.ArgumentParser(prog="python -m ledger.sandbox", description=__doc__)
    parser.add_argument("provider", choices=sorted(_ENV))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default 8101 (xero) or 8102 (quickbooks)")
    parser.add_argument("--invoices", type=int, default=0, help="synthetic invoices to add to the demo book")
    parser.add_argument("--client-id", default=None, help="default $XERO_CLIENT_ID / $QUICKBOOKS_CLIENT_ID")
    parser.add_argument("--client-secret", default=None, help="default $XERO_CLIENT_SECRET / ...")
    parser.add_argument(
        "--redirect-uri",
        action="append",
        default=None,
        help="allowed redirect URI (repeatable); default $PORTAL_BASE_URL/ledger/callback/<provider>",
    )
    return parser.parse_args(argv)


def build(options: argparse.Namespace) -> tuple[Litestar, str]:
    """Create the sandbox with demo data and its app; returns the app and a summary for the console."""
    prefix = _ENV[options.provider]
    client_id = options.client_id or os.environ.get(f"{prefix}_CLIENT_ID", "sandbox-client-id")
    secret = options.client_secret or os.environ.get(f"{prefix}_CLIENT_SECRET", "sandbox-client-secret")
    base = os.environ.get("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
    redirects = options.redirect_uri or [f"{base}/ledger/callback/{options.provider}"]
    if options.provider == "xero":
        xero_box = xero.XeroSandbox.with_demo_data(synthetic=options.invoices)
        xero_box.register_app(client_id, secret, redirects)
        places = [f"{t.name} ({t.tenant_id}, {len(t.invoices)} invoices)" for t in xero_box.tenants.values()]
        app = xero.create_app(xero_box)
    else:
        qbo_box = quickbooks.QuickBooksSandbox.with_demo_data(synthetic=options.invoices)
        qbo_box.register_app(client_id, secret, redirects)
        places = [f"{r.company_name} (realm {r.realm_id}, {len(r.invoices)} invoices)" for r in qbo_box.realms.values()]
        app = quickbooks.create_app(qbo_box)
    summary = f"{options.provider} sandbox: client_id={client_id} redirect_uris={redirects}\n" + "\n".join(
        f"  {p}" for p in places
    )
    return app, summary


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point."""
    options = parse_args(argv)
    app, summary = build(options)
    port = options.port or _DEFAULT_PORTS[options.provider]
    sys.stdout.write(f"{summary}\nlistening on http://{options.host}:{port}\n")
    sys.stdout.flush()
    uvicorn.run(app, host=options.host, port=port, log_level="info")


if __name__ == "__main__":
    main()

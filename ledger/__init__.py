"""Ledger connections (Xero, QuickBooks Online) and the invoices and clients they import."""

import warnings

import authlib.deprecate

# authlib 1.9 prefers the `httpx2` fork and warns on import when it falls back to httpx, which
# it still supports fully. Its module forces "always" for its warnings when imported, so this
# narrower filter is added after it. The app's HTTP client is httpx: one library, no noise.
warnings.filterwarnings(
    "ignore", message="The httpx module is deprecated", category=authlib.deprecate.AuthlibDeprecationWarning
)

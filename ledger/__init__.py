"""Ledger connections (Xero, QuickBooks Online) and the invoices and clients they import."""

"""Clients for each ledger's API, all speaking the real wire formats."""

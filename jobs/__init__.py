"""Background jobs run by SAQ: ledger sync, emails, collections, write-backs."""

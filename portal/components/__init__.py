"""Context functions of the portal's template components."""

"""Static assets served under /static (htmx is vendored here, no CDN)."""

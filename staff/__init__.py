"""The firm's side: staff sign-in, the collections admin and the JSON API."""

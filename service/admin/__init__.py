"""The admin API, its page and the HTTP server that carries them."""

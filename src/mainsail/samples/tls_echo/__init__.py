"""A TLS echo server: like tcp-echo, inside TLS, with a self-signed certificate made at start."""

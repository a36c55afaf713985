"""Server adapters: one module per server, each over its client library.

Every adapter turns the client library's errors into :class:`~lepton_ci.errors.ServerError`
(or a more precise subclass) carrying the server's own words, redacted, and retries transient
failures with :class:`~lepton_ci.retrying.Backoff` (from ``LEPTON_HTTP_*``).
"""

"""Decision logs: records (``record``), redaction (``redact``), the crash-safe
write-ahead log (``wal``), sinks and shippers (``sinks``, ``shipper``), the
logger every gate uses (``logger``), and reading the log back (``query``,
``replay``); OpenTelemetry tracing (``tracing``).
"""

"""kubegate's wire-compatible copies of Envoy's ext_authz v3 protos (generated code)."""

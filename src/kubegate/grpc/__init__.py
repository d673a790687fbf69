"""The gRPC gate: Review/Evaluate/ReviewStream, WatchPolicyStream and Envoy ext_authz (docs/grpc.md)."""

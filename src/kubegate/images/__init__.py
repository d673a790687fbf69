"""Container image signature verification: registry access, cosign and Sigstore bundles, trust policies, cache (docs/images.md)."""

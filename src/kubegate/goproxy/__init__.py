"""The private Go module proxy: GOPROXY gateway, license auditor as policy, vault storage and offline bundles (docs/goproxy.md)."""

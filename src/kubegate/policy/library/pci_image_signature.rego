# METADATA
# title: PCI-scoped images must be signed as the image trust policy requires
# description: >-
#   For Pods and pod templates labeled kubegate.io/pci-scope: "true", every
#   container, init container and ephemeral container image verifies against
#   the configured image trust policy (kubegate serve/check --image-policy):
#   a cosign key signature or a Sigstore bundle of an accepted attestor for
#   the image's digest. parameters.policy names the trust policy's policy to
#   apply ("" = the first whose image globs match). The message names the
#   image and why: no signature, wrong key, identity mismatch, digest
#   mismatch, registry unreachable, timeout. Without a configured trust
#   policy nothing is reported unless parameters.requireTrustPolicy is true.
#   Needs the compiled backend (kubegate.image.verify). PCI DSS 4.0 req. 6.3.2
#   and 11.6 (software integrity).
# custom:
#   id: pci-image-signature
#   severity: high
#   parameters:
#     policy: ""
#     requireTrustPolicy: false
#   parametersSchema:
#     type: object
#     properties:
#       policy:
#         type: string
#       requireTrustPolicy:
#         type: boolean
#   match:
#     source: Original
#     kinds:
#     - apiGroups: [""]
#       kinds: ["Pod", "ReplicationController"]
#     - apiGroups: ["apps"]
#       kinds: ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"]
#     - apiGroups: ["batch"]
#       kinds: ["Job", "CronJob"]
package kubegate.library.pci_image_signature

import rego.v1

import data.kubegate.library.workloads

in_scope(obj) if workloads.labels(obj)["kubegate.io/pci-scope"] == "true"

why := {
	"no_signature": "no signature",
	"wrong_key": "wrong key (signed, but not by a key the trust policy accepts)",
	"identity_mismatch": "identity mismatch",
	"digest_mismatch": "digest mismatch",
	"tampered": "tampered signature payload",
	"certificate_expired": "signing certificate expired",
	"annotation_mismatch": "required annotations missing",
	"predicate_mismatch": "attestation of another predicate type",
	"invalid_signature": "invalid signature",
	"registry_unreachable": "registry unreachable",
	"registry_error": "registry error",
	"unauthorized": "registry refused the credentials",
	"timeout": "verification timed out",
	"busy": "verification queue full",
	"image_not_found": "image not found in the registry",
	"invalid_reference": "not an image reference",
	"no_policy": "no trust policy entry applies to the image",
	"unknown_policy": "unknown trust policy name",
	"not_verified": "not verified before evaluation",
	"not_configured": "no image trust policy is configured",
}

violation contains {"msg": msg, "details": details} if {
	obj := input.review.object
	in_scope(obj)
	name := parameter("policy", "")
	require := parameter("requireTrustPolicy", false)
	some entry in workloads.containers(obj)
	c := entry.container
	result := kubegate.image.verify(c.image, name)
	denies(result, require)
	msg := sprintf("%v %q image %v is not signed as required: %v%v", [
		entry.type, c.name, c.image,
		object.get(why, result.reason, result.reason), digest_note(c.image, result.digest),
	])
	details := {
		"container": c.name, "image": c.image, "reason": result.reason,
		"digest": result.digest, "verification": result.message,
	}
}

# The digest a tag resolved to, when the reference does not already name it.
digest_note(image, digest) := sprintf(" (digest %v)", [digest]) if {
	is_string(digest)
	not contains(image, digest)
} else := ""

parameter(key, default_value) := object.get(input.parameters, key, default_value)

parameter(key, default_value) := default_value if not input.parameters

denies(result, _) if {
	not result.verified
	result.required
	not result.reason in {"not_configured", "offline"}
}

denies(result, require) if {
	result.reason == "not_configured"
	require == true
}

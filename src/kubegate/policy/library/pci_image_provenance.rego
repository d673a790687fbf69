# METADATA
# title: PCI-scoped images must be pinned by digest and come from approved registries
# description: >-
#   For Pods and pod templates labeled kubegate.io/pci-scope: "true", every
#   container image is pinned by digest (@sha256:<64 hex>) and starts with one
#   of parameters.registries (registry prefixes such as
#   "registry.bank.internal/"). With no registry configured every in-scope
#   image is reported. PCI DSS 4.0 req. 6.3 (software integrity).
# custom:
#   id: pci-image-provenance
#   severity: high
#   parameters:
#     registries: []
#   parametersSchema:
#     type: object
#     properties:
#       registries:
#         type: array
#         items:
#           type: string
#   match:
#     source: Original
#     kinds:
#     - apiGroups: [""]
#       kinds: ["Pod", "ReplicationController"]
#     - apiGroups: ["apps"]
#       kinds: ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"]
#     - apiGroups: ["batch"]
#       kinds: ["Job", "CronJob"]
package kubegate.library.pci_image_provenance

import rego.v1

import data.kubegate.library.workloads

digest_pattern := "@sha256:[a-f0-9]{64}$"

in_scope(obj) if workloads.labels(obj)["kubegate.io/pci-scope"] == "true"

violation contains {"msg": msg, "details": {"container": c.name, "image": c.image}} if {
	obj := input.review.object
	in_scope(obj)
	some entry in workloads.containers(obj)
	c := entry.container
	not regex.match(digest_pattern, c.image)
	msg := sprintf("%v %q image %v is not pinned by digest (@sha256:...)", [entry.type, c.name, c.image])
}

violation contains {"msg": msg, "details": {"container": c.name, "image": c.image, "registries": registries}} if {
	obj := input.review.object
	in_scope(obj)
	registries := object.get(input, ["parameters", "registries"], [])
	some entry in workloads.containers(obj)
	c := entry.container
	not approved(c.image, registries)
	msg := registry_message(entry.type, c, registries)
}

approved(image, registries) if {
	some registry in registries
	startswith(image, registry)
}

registry_message(type, c, registries) := sprintf(
	"%v %q image %v does not come from an approved registry (none configured: set parameters.registries)",
	[type, c.name, c.image],
) if count(registries) == 0

registry_message(type, c, registries) := sprintf(
	"%v %q image %v does not come from an approved registry %v",
	[type, c.name, c.image, registries],
) if count(registries) > 0

# METADATA
# title: PCI-scoped pods must run with a RuntimeDefault or Localhost seccomp profile
# description: >-
#   For Pods and pod templates labeled kubegate.io/pci-scope: "true", the
#   effective seccomp profile of every container (its own
#   securityContext.seccompProfile, else the pod's) is RuntimeDefault or
#   Localhost. PCI DSS 4.0 req. 2.2 (system hardening).
# custom:
#   id: payment-pods-require-seccomp
#   severity: high
#   match:
#     source: Original
#     kinds:
#     - apiGroups: [""]
#       kinds: ["Pod", "ReplicationController"]
#     - apiGroups: ["apps"]
#       kinds: ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"]
#     - apiGroups: ["batch"]
#       kinds: ["Job", "CronJob"]
package kubegate.library.payment_pods_require_seccomp

import rego.v1

import data.kubegate.library.workloads

allowed_types := {"RuntimeDefault", "Localhost"}

violation contains {"msg": msg, "details": {"container": c.name, "profile": profile}} if {
	obj := input.review.object
	workloads.labels(obj)["kubegate.io/pci-scope"] == "true"
	spec := workloads.pod_spec(obj)
	some entry in workloads.containers(obj)
	c := entry.container
	profile := effective_profile(c, spec)
	not profile in allowed_types
	msg := sprintf("%v %q must use a RuntimeDefault or Localhost seccomp profile, has %v", [entry.type, c.name, profile])
}

effective_profile(c, _) := c.securityContext.seccompProfile.type

effective_profile(c, spec) := spec.securityContext.seccompProfile.type if {
	not c.securityContext.seccompProfile.type
}

effective_profile(c, spec) := "none" if {
	not c.securityContext.seccompProfile.type
	not spec.securityContext.seccompProfile.type
}

# METADATA
# title: Pods must set CPU and memory limits
# description: >-
#   Every container and init container of a Pod, or of the pod template of a
#   Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job
#   or CronJob, sets resources.limits.cpu and resources.limits.memory.
# custom:
#   id: pod-must-have-resource-limits
#   severity: medium
#   match:
#     source: Original
#     kinds:
#     - apiGroups: [""]
#       kinds: ["Pod", "ReplicationController"]
#     - apiGroups: ["apps"]
#       kinds: ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"]
#     - apiGroups: ["batch"]
#       kinds: ["Job", "CronJob"]
package kubegate.library.pod_must_have_resource_limits

import rego.v1

import data.kubegate.library.workloads

violation contains {"msg": msg, "details": {"container": c.name, "missing": missing}} if {
	some entry in workloads.runnable(input.review.object)
	c := entry.container
	missing := [r | some r in ["cpu", "memory"]; not c.resources.limits[r]]
	count(missing) > 0
	msg := sprintf("%v %q has no resources.limits.%v", [entry.type, c.name, concat(" or resources.limits.", missing)])
}

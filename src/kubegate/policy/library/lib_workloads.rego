# METADATA
# title: Workload helpers shared by kubegate's built-in library
# description: >-
#   Finds the pod spec, pod labels and containers of a Pod or of the pod
#   template of a workload (Deployment, StatefulSet, DaemonSet, ReplicaSet,
#   ReplicationController, Job, CronJob).
package kubegate.library.workloads

import rego.v1

template_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}

pod_spec(obj) := obj.spec if obj.kind == "Pod"

pod_spec(obj) := obj.spec.template.spec if obj.kind in template_kinds

pod_spec(obj) := obj.spec.jobTemplate.spec.template.spec if obj.kind == "CronJob"

pod_metadata(obj) := object.get(obj, "metadata", {}) if obj.kind == "Pod"

pod_metadata(obj) := object.get(obj.spec.template, "metadata", {}) if obj.kind in template_kinds

pod_metadata(obj) := object.get(obj.spec.jobTemplate.spec.template, "metadata", {}) if obj.kind == "CronJob"

# Labels of the pod (template), merged over the labels of the workload itself
# (object.union for flat maps, written out: the regopy backend's object.union differs for nested ones).
labels(obj) := {key: _label(outer, inner, key) | some key in {k | some k, _ in outer} | {k | some k, _ in inner}} if {
	outer := object.get(obj, ["metadata", "labels"], {})
	inner := object.get(pod_metadata(obj), "labels", {})
}

_label(_, inner, key) := inner[key]

_label(outer, inner, key) := outer[key] if not key in object.keys(inner)

# Every container of the pod spec: {"container": c, "type": "container" | "initContainer" | "ephemeralContainer"}.
containers(obj) := [entry |
	spec := pod_spec(obj)
	some field, type in {"containers": "container", "initContainers": "initContainer", "ephemeralContainers": "ephemeralContainer"}
	some c in object.get(spec, field, [])
	entry := {"container": c, "type": type}
]

# Containers and init containers only (the ones that run with resources).
runnable(obj) := [entry | some entry in containers(obj); entry.type != "ephemeralContainer"]

namespace_of(review) := object.get(review, ["object", "metadata", "namespace"], "") if {
	object.get(review, ["object", "metadata", "namespace"], "") != ""
} else := object.get(review, "namespace", "") if {
	object.get(review, "namespace", "") != ""
} else := "default"

# METADATA
# title: Personal data in environment variables must come from secrets, in a GDPR zone
# description: >-
#   For Pods and pod templates labeled kubegate.io/data-class: pii, an
#   environment variable whose name looks like personal data (email, phone,
#   SSN, passport, IBAN, card number, national id, birth date) must not carry
#   a literal value (use valueFrom, e.g. a secretKeyRef), and the namespace
#   must carry the label kubegate.io/gdpr-zone. The namespace is looked up in
#   the inventory; a namespace that is not there is reported as such.
#   GDPR art. 25 and 32 (data protection by design, security of processing).
# custom:
#   id: gdpr-sensitive-env-isolation
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
package kubegate.library.gdpr_sensitive_env_isolation

import rego.v1

import data.kubegate.library.workloads

pii_scoped(obj) if workloads.labels(obj)["kubegate.io/data-class"] == "pii"

violation contains {"msg": msg, "details": {"container": c.name, "env": env.name}} if {
	obj := input.review.object
	pii_scoped(obj)
	some entry in workloads.runnable(obj)
	c := entry.container
	some env in object.get(c, "env", [])
	looks_personal(env.name)
	"value" in object.keys(env)
	msg := sprintf("%v %q sets %v as a literal value; personal data must come from valueFrom (a Secret)", [entry.type, c.name, env.name])
}

violation contains {"msg": msg, "details": {"namespace": ns}} if {
	pii_scoped(input.review.object)
	ns := workloads.namespace_of(input.review)
	not data.inventory.cluster.v1.Namespace[ns]
	msg := sprintf("namespace %q is not in the inventory, so its kubegate.io/gdpr-zone label cannot be confirmed", [ns])
}

violation contains {"msg": msg, "details": {"namespace": ns}} if {
	pii_scoped(input.review.object)
	ns := workloads.namespace_of(input.review)
	namespace := data.inventory.cluster.v1.Namespace[ns]
	not namespace.metadata.labels["kubegate.io/gdpr-zone"]
	msg := sprintf("namespace %q must carry the label kubegate.io/gdpr-zone to run PII workloads", [ns])
}

# Words that mark personal data in an env var name, matched case-insensitively on
# "_"-separated words (EMAIL, customer_email, DATE_OF_BIRTH, PASSPORT_NO...).
looks_personal(name) if regex.match(
	`(?i)(^|_)((e_?mail|phone|mobile|msisdn|tel|ssn|social_security|iban|card_?number|credit_?card|pan|national_?id|national_insurance|nino|tax_?id|birth_?date|date_of_birth|dob|birthday)(_|$)|passport)`,
	name,
)

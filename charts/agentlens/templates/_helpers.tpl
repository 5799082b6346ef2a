{{/* Names and labels shared by the templates. */}}
{{- define "agentlens.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agentlens.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "agentlens.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "agentlens.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
The common labels. app.kubernetes.io/component follows the template file the object is in
(the files are split by component), so every object carries one without each call site naming
it: operator for its Deployment, Services, PDB, ServiceAccount and RBAC; webhook for the
webhook configuration and its certificates; sidecar for the sidecar's ClusterRole; otherwise
the file's name (monitoring, dashboard).
*/}}
{{- define "agentlens.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "agentlens.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: agentlens
app.kubernetes.io/component: {{ include "agentlens.component" . }}
{{- end }}

{{- define "agentlens.component" -}}
{{- $file := base .Template.Name | trimSuffix ".yaml" -}}
{{- $components := dict "deployment" "operator" "services" "operator" "pdb" "operator" "serviceaccount" "operator" "rbac" "operator" "webhook" "webhook" "cert-manager" "webhook" "sidecar-rbac" "sidecar" -}}
{{- get $components $file | default $file -}}
{{- end }}

{{/* The operator's ServiceAccount: created (default name: the full name) or an existing one. */}}
{{- define "agentlens.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "agentlens.fullname" .) -}}
{{- else -}}
{{- required "serviceAccount.name: the existing ServiceAccount to use when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end }}

{{/* The sidecar's ClusterRole, which the operator binds the agents' service accounts to. */}}
{{- define "agentlens.sidecarRole" -}}
{{ include "agentlens.fullname" . }}-sidecar
{{- end }}

{{/* The Secret the webhook serves: the operator's or cert-manager's, or the user's own. */}}
{{- define "agentlens.servingSecret" -}}
{{- if eq .Values.webhook.certificate.mode "secret" -}}
{{- required "webhook.certificate.secretName: the kubernetes.io/tls Secret of mode secret" .Values.webhook.certificate.secretName -}}
{{- else -}}
{{- include "agentlens.tlsSecret" . -}}
{{- end -}}
{{- end }}

{{/* The operator's pods; agentlens.dev/component keeps them out of the webhook's objectSelector. */}}
{{- define "agentlens.operatorSelector" -}}
app.kubernetes.io/name: {{ include "agentlens.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
agentlens.dev/component: operator
{{- end }}

{{- define "agentlens.webhookService" -}}
{{ include "agentlens.fullname" . }}-webhook
{{- end }}

{{- define "agentlens.tlsSecret" -}}
{{ include "agentlens.fullname" . }}-webhook-tls
{{- end }}

{{- define "agentlens.operatorImage" -}}
{{ .Values.operator.image.repository }}:{{ .Values.operator.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "agentlens.sidecarImage" -}}
{{ .Values.sidecar.image.repository }}:{{ .Values.sidecar.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* "true" when a monitoring.coreos.com/v1 kind is wanted: forced, or auto and served. */}}
{{- define "agentlens.monitoringOn" -}}
{{- $mode := toString (index .root.Values.monitoring .key) -}}
{{- if or (eq $mode "true") (and (eq $mode "auto") (.root.Capabilities.APIVersions.Has (printf "monitoring.coreos.com/v1/%s" .kind))) -}}
true
{{- end -}}
{{- end }}

{{/* The label the webhook sets on the pods it injects (operator::inject::SCRAPE_LABEL). */}}
{{- define "agentlens.scrapeLabel" -}}
agentlens.dev/sidecar
{{- end }}
{{- define "agentlens.scrapeLabelValue" -}}
injected
{{- end }}

{{/*
The alert rules, from .Values.alerts: the PrometheusRule renders them, and
rules/agentlens.rules.yaml (the plain file for a Prometheus without the operator) is this
rendering with the default values (a test fails on drift).

Labels: with the chart's PodMonitor (honorLabels, the `container` target label dropped) a
sidecar series carries the agent's `namespace`, `pod` and `agentdeployment` (from the pod's
agentlens.dev/agent label) and, where the sidecar measures one container, that container's
name; the operator's per-system series carry the system's `namespace` and `agentdeployment`.
*/}}
{{- define "agentlens.runbook" -}}
{{ .root.Values.alerts.runbookBaseUrl }}#{{ lower .alert }}
{{- end }}

{{/* The GPU OOMs of each agent container within the window: increase() for a counter that
existed a window ago; for a newer one (a new container) its value, since it started at 0 (its
first sample may already be the first OOM, which increase() cannot see). */}}
{{- define "agentlens.oomCount" -}}
sum by (namespace, agentdeployment, pod, container) (
  (round(increase(agentlens_gpu_oom_events_total[{{ .window }}])) and agentlens_gpu_oom_events_total offset {{ .window }})
  or
  agentlens_gpu_oom_events_total
)
{{- end }}

{{/* Used/total of each GPU of a pod above its system's spec.sidecar.gpu.memoryPressureRatio
(the operator's agentlens_agentdeployment_gpu_memory_pressure_ratio), or above the default for
pods no AgentDeployment selects. */}}
{{- define "agentlens.gpuPressure" -}}
(
  max by (namespace, agentdeployment, pod, gpu, uuid) (agentlens_gpu_memory_used_bytes / agentlens_gpu_memory_total_bytes)
    > on (namespace, agentdeployment) group_left ()
  max by (namespace, agentdeployment) (agentlens_agentdeployment_gpu_memory_pressure_ratio)
)
or
(
  max by (namespace, agentdeployment, pod, gpu, uuid) (agentlens_gpu_memory_used_bytes / agentlens_gpu_memory_total_bytes) > {{ .defaultRatio }}
    unless on (namespace, agentdeployment)
  agentlens_agentdeployment_gpu_memory_pressure_ratio
)
{{- end }}

{{/* XIDs of the pod's GPUs within 10 minutes, each named after the container that used that
GPU (the one holding most of its memory in NVML's per-process figures over the window: a GPU
that fell off the bus stops reporting them); a GPU without per-process figures names the pod
only. The XID counter has no container label: NVML's XID event names the GPU, not a process. */}}
{{- define "agentlens.xids" -}}
(
  max by (namespace, agentdeployment, pod, gpu, uuid, xid) (increase(agentlens_gpu_xid_errors_total{xid{{ .match }}"{{ .xids }}"}[10m])) > 0
)
* on (namespace, pod, gpu, uuid) group_left (container)
(0 * topk by (namespace, pod, gpu, uuid) (1, max by (namespace, pod, container, gpu, uuid) (max_over_time(agentlens_gpu_process_memory_used_bytes[10m]))) + 1)
or
(
  max by (namespace, agentdeployment, pod, gpu, uuid, xid) (increase(agentlens_gpu_xid_errors_total{xid{{ .match }}"{{ .xids }}"}[10m])) > 0
    unless on (namespace, pod, gpu, uuid)
  max_over_time(agentlens_gpu_process_memory_used_bytes[10m])
)
{{- end }}

{{/* p95 of each route of a pod above the threshold: whole-body time for ordinary answers,
time to the first byte for streamed ones. The alert adds the container the proxy forwards to
(agentlens_proxy_upstream_info) where the sidecar knows it. */}}
{{- define "agentlens.latency" -}}
(
  histogram_quantile(0.95, sum by (namespace, agentdeployment, pod, route, le) (rate(agentlens_request_first_byte_seconds_bucket{streamed="true"}[5m])))
  > {{ .thresholdSeconds }}
)
or
(
  histogram_quantile(0.95, sum by (namespace, agentdeployment, pod, route, le) (rate(agentlens_request_duration_seconds_bucket[5m])))
  > {{ .thresholdSeconds }}
  unless on (namespace, pod, route)
  sum by (namespace, pod, route) (rate(agentlens_request_first_byte_seconds_count{streamed="true"}[5m])) > 0
)
{{- end }}

{{- define "agentlens.rules" -}}
{{- $a := .Values.alerts -}}
{{- $root := . -}}
groups:
- name: agentlens.gpu
  rules:
  {{- with $a.gpuOutOfMemory }}
  {{- if .enabled }}
  # One GPU OOM of a container within the window: a warning; repeated ones page.
  - alert: AgentLensGpuOutOfMemory
    expr: |
      {{- include "agentlens.oomCount" . | nindent 6 }}
      > 0 < {{ .repeatCount }}
    labels:
      severity: {{ .severity }}
    annotations:
      summary: {{`"GPU out of memory in {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }})"`}}
      description: {{ printf "%s%s%s%v%s" `"The agent's output in container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} (AgentDeployment {{ $labels.agentdeployment }}) reported {{ $value }} GPU out-of-memory error(s) in the last ` .window `; ` .repeatCount ` or more page. /v1/tracebacks of the pod (with the sidecar token, see the runbook) shows the error and the allocation that failed."` }}
      runbook_url: {{ include "agentlens.runbook" (dict "root" $root "alert" "AgentLensGpuOutOfMemory") | quote }}
  - alert: AgentLensGpuOutOfMemory
    expr: |
      {{- include "agentlens.oomCount" . | nindent 6 }}
      >= {{ .repeatCount }}
    labels:
      severity: {{ .repeatSeverity }}
    annotations:
      summary: {{`"Repeated GPU out of memory in {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }})"`}}
      description: {{ printf "%s%s%s" `"The agent's output in container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} (AgentDeployment {{ $labels.agentdeployment }}) reported {{ $value }} GPU out-of-memory errors in the last ` .window `: it keeps running out of GPU memory. /v1/tracebacks of the pod (with the sidecar token, see the runbook) shows the errors and the allocations that failed."` }}
      runbook_url: {{ include "agentlens.runbook" (dict "root" $root "alert" "AgentLensGpuOutOfMemory") | quote }}
  {{- end }}
  {{- end }}
  {{- with $a.gpuMemoryPressure }}
  {{- if .enabled }}
  # The containers using the GPU (NVML's per-process memory) name it; where NVML reports no
  # processes the alert names the pod only.
  - alert: AgentLensGpuMemoryPressure
    expr: |
      (
        (
          {{- include "agentlens.gpuPressure" . | nindent 10 }}
        )
        * on (namespace, pod, gpu, uuid) group_right (agentdeployment)
        (0 * max by (namespace, pod, container, gpu, uuid) (agentlens_gpu_process_memory_used_bytes) + 1)
      )
      or
      (
        (
          {{- include "agentlens.gpuPressure" . | nindent 10 }}
        )
        unless on (namespace, pod, gpu, uuid) agentlens_gpu_process_memory_used_bytes
      )
    for: {{ .for }}
    labels:
      severity: {{ .severity }}
    annotations:
      summary: {{`"GPU {{ $labels.gpu }} of {{ $labels.namespace }}/{{ $labels.pod }} is nearly full"`}}
      description: {{ printf "%s%s%s" `"GPU {{ $labels.gpu }} ({{ $labels.uuid }}), used by container {{ $labels.container }}, has used {{ $value | humanizePercentage }} of its memory for ` .for `, above spec.sidecar.gpu.memoryPressureRatio of AgentDeployment {{ $labels.agentdeployment }}; the next allocation may fail."` }}
      runbook_url: {{ include "agentlens.runbook" (dict "root" $root "alert" "AgentLensGpuMemoryPressure") | quote }}
  {{- end }}
  {{- end }}
  {{- with $a.gpuXidError }}
  {{- if .enabled }}
  # Hardware and driver XIDs (ECC, fallen off the bus, NVLink, GSP): the GPU needs attention.
  - alert: AgentLensGpuXidError
    expr: |
      {{- include "agentlens.xids" (dict "match" "=~" "xids" .hardwareXids) | nindent 6 }}
    labels:
      severity: {{ .severity }}
    annotations:
      summary: {{`"Hardware XID {{ $labels.xid }} on GPU {{ $labels.gpu }} ({{ $labels.namespace }}/{{ $labels.pod }})"`}}
      description: {{`"The NVIDIA driver reported critical XID {{ $labels.xid }} on GPU {{ $labels.uuid }}, used by container {{ $labels.container }}, of AgentDeployment {{ $labels.agentdeployment }}; this points at the GPU or its driver, not the application."`}}
      runbook_url: {{ include "agentlens.runbook" (dict "root" $root "alert" "AgentLensGpuXidError") | quote }}
  # Application-caused XIDs (illegal address, page fault, stopped processing): lower severity.
  - alert: AgentLensGpuXidError
    expr: |
      {{- include "agentlens.xids" (dict "match" "!~" "xids" .hardwareXids) | nindent 6 }}
    labels:
      severity: {{ .applicationSeverity }}
    annotations:
      summary: {{`"XID {{ $labels.xid }} on GPU {{ $labels.gpu }} ({{ $labels.namespace }}/{{ $labels.pod }})"`}}
      description: {{`"The NVIDIA driver reported XID {{ $labels.xid }} on GPU {{ $labels.uuid }}, used by container {{ $labels.container }}, of AgentDeployment {{ $labels.agentdeployment }}, usually caused by the application (a bad memory access in a kernel)."`}}
      runbook_url: {{ include "agentlens.runbook" (dict "root" $root "alert" "AgentLensGpuXidError") | quote }}
  {{- end }}
  {{- end }}
- name: agentlens.containers
  rules:
  {{- with $a.containerOOMKilled }}
  {{- if .enabled }}
  # kube-state-metrics: a restart whose last termination was OOMKilled, in a pod with a sidecar
  # (whose agentlens_sidecar_info carries the AgentDeployment).
  - alert: AgentLensContainerOOMKilled
    expr: |
      (
        max by (namespace, pod, container) (increase(kube_pod_container_status_restarts_total[10m])) > 0
        and on (namespace, pod, container)
        max by (namespace, pod, container) (max_over_time(kube_pod_container_status_last_terminated_reason{reason="OOMKilled"}[10m])) == 1
      )
      * on (namespace, pod) group_left (agentdeployment)
      max by (namespace, pod, agentdeployment) (agentlens_sidecar_info)
    labels:
      severity: {{ .severity }}
    annotations:
      summary: {{`"{{ $labels.namespace }}/{{ $labels.pod }} container {{ $labels.container }} was OOMKilled"`}}
      description: {{`"The kernel killed container {{ $labels.container }} (AgentDeployment {{ $labels.agentdeployment }}) for exceeding its memory limit; agentlens_memory_rss_bytes shows how it grew."`}}
      runbook_url: {{ include "agentlens.runbook" (dict "root" $root "alert" "AgentLensContainerOOMKilled") | quote }}
  {{- end }}
  {{- end }}
  {{- with $a.tracebackSurge }}
  {{- if .enabled }}
  # More than `minimum` tracebacks in 10 minutes and three times the rate of the hour before; a
  # container without that hour of history counts it as 0 (a new pod that crash-loops fires).
  - alert: AgentLensTracebackSurge
    expr: |
      sum by (namespace, agentdeployment, pod, container) (increase(agentlens_tracebacks_total[10m])) > {{ .minimum }}
      and
      sum by (namespace, agentdeployment, pod, container) (increase(agentlens_tracebacks_total[10m]))
        > 3 / 6 * (
          sum by (namespace, agentdeployment, pod, container) (increase(agentlens_tracebacks_total[1h] offset 10m))
          or
          0 * sum by (namespace, agentdeployment, pod, container) (increase(agentlens_tracebacks_total[10m]))
        )
    labels:
      severity: {{ .severity }}
    annotations:
      summary: {{`"Traceback surge in {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }})"`}}
      description: {{`"{{ $value }} tracebacks in 10 minutes in container {{ $labels.container }} (AgentDeployment {{ $labels.agentdeployment }}), more than three times the rate of the hour before. /v1/tracebacks of the pod (with the sidecar token, see the runbook) groups them."`}}
      runbook_url: {{ include "agentlens.runbook" (dict "root" $root "alert" "AgentLensTracebackSurge") | quote }}
  {{- end }}
  {{- end }}
  {{- with $a.highLatency }}
  {{- if .enabled }}
  # Whole-body time for ordinary answers; time to the first byte for streamed ones (SSE,
  # NDJSON: the body lasts as long as the generation). A route that streams is judged only by
  # its first byte.
  - alert: AgentLensHighLatency
    expr: |
      (
        {{- include "agentlens.latency" . | nindent 8 }}
      )
      * on (namespace, pod) group_left (container)
      max by (namespace, pod, container) (agentlens_proxy_upstream_info)
      or
      (
        {{- include "agentlens.latency" . | nindent 8 }}
      )
      unless on (namespace, pod) agentlens_proxy_upstream_info
    for: {{ .for }}
    labels:
      severity: {{ .severity }}
    annotations:
      summary: {{ printf "%s%v%s" `"p95 latency of {{ $labels.route }} in {{ $labels.namespace }}/{{ $labels.pod }} is above ` .thresholdSeconds ` s"` }}
      description: {{ printf "%s%s%s" `"The 95th percentile of requests to {{ $labels.route }} of container {{ $labels.container }} (AgentDeployment {{ $labels.agentdeployment }}) has been {{ $value | humanizeDuration }} for ` .for ` (time to first byte for streamed answers, whole response otherwise)."` }}
      runbook_url: {{ include "agentlens.runbook" (dict "root" $root "alert" "AgentLensHighLatency") | quote }}
  {{- end }}
  {{- end }}
- name: agentlens.platform
  rules:
  {{- with $a.sidecarMissing }}
  {{- if .enabled }}
  - alert: AgentLensSidecarMissing
    expr: max by (namespace, agentdeployment) (agentlens_agentdeployment_uninjected_pods) > 0
    for: {{ .for }}
    labels:
      severity: {{ .severity }}
    annotations:
      summary: {{`"{{ $value }} pod(s) of {{ $labels.namespace }}/{{ $labels.agentdeployment }} run without the agentlens sidecar"`}}
      description: {{`"Pods were created while the webhook was unavailable (or the namespace is not opted in); they are not observed. kubectl get agd {{ $labels.agentdeployment }} -n {{ $labels.namespace }} -o yaml lists them under status.pods.uninjected."`}}
      runbook_url: {{ include "agentlens.runbook" (dict "root" $root "alert" "AgentLensSidecarMissing") | quote }}
  {{- end }}
  {{- end }}
  {{- with $a.sidecarNotRunning }}
  {{- if .enabled }}
  # kube-state-metrics: an injected container waits on its image or crash-loops (a native
  # sidecar is an init container; the auto-instrumentation init container blocks the whole pod).
  - alert: AgentLensSidecarNotRunning
    expr: |
      max by (namespace, pod, container, reason) (
        kube_pod_container_status_waiting_reason{container="agentlens-sidecar", reason=~"{{ .reasons }}"}
        or
        kube_pod_init_container_status_waiting_reason{container=~"agentlens-sidecar|agentlens-auto-instrumentation-python", reason=~"{{ .reasons }}"}
      ) > 0
    for: {{ .for }}
    labels:
      severity: {{ .severity }}
    annotations:
      summary: {{`"The agentlens container {{ $labels.container }} of {{ $labels.namespace }}/{{ $labels.pod }} is not running ({{ $labels.reason }})"`}}
      description: {{ printf "%s%s%s" `"Container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} has been waiting with reason {{ $labels.reason }} for ` .for `; the pod's agents are not observed. kubectl describe pod {{ $labels.pod }} -n {{ $labels.namespace }} shows why."` }}
      runbook_url: {{ include "agentlens.runbook" (dict "root" $root "alert" "AgentLensSidecarNotRunning") | quote }}
  {{- end }}
  {{- end }}
  {{- with $a.operatorDown }}
  {{- if .enabled }}
  - alert: AgentLensOperatorDown
    expr: absent(up{job="agentlens-operator"} == 1)
    for: {{ .for }}
    labels:
      severity: {{ .severity }}
    annotations:
      summary: "The agentlens operator is not scraped"
      description: {{ printf "No agentlens-operator target has been up for %s: statuses are not updated and new pods are admitted without the sidecar (failurePolicy Ignore)." .for | quote }}
      runbook_url: {{ include "agentlens.runbook" (dict "root" $root "alert" "AgentLensOperatorDown") | quote }}
  {{- end }}
  {{- end }}
  {{- with $a.webhookErrors }}
  {{- if .enabled }}
  - alert: AgentLensWebhookErrors
    expr: |
      sum by (namespace, job) (rate(agentlens_webhook_requests_total{outcome=~"unhandled|bad_request"}[5m]))
        /
      sum by (namespace, job) (rate(agentlens_webhook_requests_total[5m]))
        > {{ .ratio }}
    for: {{ .for }}
    labels:
      severity: {{ .severity }}
    annotations:
      summary: {{`"The agentlens webhook in {{ $labels.namespace }} fails {{ $value | humanizePercentage }} of admission reviews"`}}
      description: {{ printf "%s%s%s" `"For ` .for `, {{ $value | humanizePercentage }} of the admission reviews were answered unhandled or bad_request: those pods start without the sidecar (failurePolicy Ignore). The operator's log names each cause."` }}
      runbook_url: {{ include "agentlens.runbook" (dict "root" $root "alert" "AgentLensWebhookErrors") | quote }}
  {{- end }}
  {{- end }}
  {{- with $a.webhookLatency }}
  {{- if .enabled }}
  - alert: AgentLensWebhookSlow
    expr: |
      histogram_quantile(0.99, sum by (namespace, job, le) (rate(agentlens_webhook_duration_seconds_bucket[5m]))) > {{ .thresholdSeconds }}
    for: {{ .for }}
    labels:
      severity: {{ .severity }}
    annotations:
      summary: {{`"The agentlens webhook in {{ $labels.namespace }} answers slowly"`}}
      description: {{ printf "%s%v%s%s%s" `"The 99th percentile of admission reviews took {{ $value | humanizeDuration }} (above ` .thresholdSeconds ` s) for ` .for `; every pod creation in the opted-in namespaces waits for it, and past the webhook's timeoutSeconds pods start without the sidecar."` }}
      runbook_url: {{ include "agentlens.runbook" (dict "root" $root "alert" "AgentLensWebhookSlow") | quote }}
  {{- end }}
  {{- end }}
  {{- with $a.reconcileErrors }}
  {{- if .enabled }}
  - alert: AgentLensReconcileErrors
    expr: |
      sum by (namespace, job, controller, category) (rate(agentlens_operator_reconcile_errors_total[5m])) > 0
    for: {{ .for }}
    labels:
      severity: {{ .severity }}
    annotations:
      summary: {{`"agentlens {{ $labels.controller }} reconciles fail ({{ $labels.category }})"`}}
      description: {{ printf "%s%s%s" `"Reconciles of the {{ $labels.controller }} controller have failed with category {{ $labels.category }} for ` .for `: the statuses of the affected objects are stale. The operator's log names each object and cause."` }}
      runbook_url: {{ include "agentlens.runbook" (dict "root" $root "alert" "AgentLensReconcileErrors") | quote }}
  {{- end }}
  {{- end }}
  {{- with $a.snapshotPullFailures }}
  {{- if .enabled }}
  - alert: AgentLensSnapshotPullFailing
    expr: |
      sum by (namespace, job, reason) (rate(agentlens_operator_snapshot_failures_total[10m])) > 0
    for: {{ .for }}
    labels:
      severity: {{ .severity }}
    annotations:
      summary: {{`"The agentlens operator cannot pull sidecar snapshots ({{ $labels.reason }})"`}}
      description: {{ printf "%s%s%s" `"For ` .for ` the operator has failed to pull sidecar snapshots (reason {{ $labels.reason }}): status.runtime, tracebacks and inventory go stale. A NetworkPolicy blocking port 9477 from the operator, or a token mismatch after a Secret change, are the usual causes."` }}
      runbook_url: {{ include "agentlens.runbook" (dict "root" $root "alert" "AgentLensSnapshotPullFailing") | quote }}
  {{- end }}
  {{- end }}
{{- end }}

{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "rampart.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: the release name, or release-chart when it does not contain the chart name. */}}
{{- define "rampart.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "rampart.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "rampart.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rampart.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rampart.labels" -}}
helm.sh/chart: {{ include "rampart.chart" . }}
{{ include "rampart.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "rampart.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rampart.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "rampart.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The `rampart run` arguments, one list item per line. */}}
{{- define "rampart.args" -}}
- run
{{- $source := .Values.source.type }}
{{- if eq $source "dir" }}
- {{ .Values.source.dir.path | quote }}
{{- end }}
- --source
- {{ $source | quote }}
{{- if eq $source "kubernetes" }}
{{- with .Values.source.kubernetes.namespace }}
- --namespace
- {{ . | quote }}
{{- end }}
{{- else if eq $source "git" }}
- --git-url
- {{ required "source.git.url is required when source.type is git" .Values.source.git.url | quote }}
{{- with .Values.source.git.ref }}
- --git-ref
- {{ . | quote }}
{{- end }}
{{- with .Values.source.git.path }}
- --git-path
- {{ . | quote }}
{{- end }}
{{- with .Values.source.git.interval }}
- --git-interval
- {{ . | quote }}
{{- end }}
{{- else if ne $source "dir" }}
{{- fail (printf "source.type must be kubernetes, dir or git, not %q" $source) }}
{{- end }}
{{- if and .Values.leaderElect (eq $source "kubernetes") }}
- --leader-elect
{{- end }}
- --gateway-group
- {{ .Values.gatewayGroup | quote }}
{{- if eq .Values.mode "sidecar" }}
{{- /* Only the pod itself reaches its sidecar. */}}
- --listen
- {{ printf "127.0.0.1:%v" .Values.containerPorts.http | quote }}
{{- else }}
- --listen
- {{ printf "0.0.0.0:%v" .Values.containerPorts.http | quote }}
- --listen-tls
- {{ printf "0.0.0.0:%v" .Values.containerPorts.https | quote }}
{{- end }}
- --admin
- {{ printf "0.0.0.0:%v" .Values.containerPorts.admin | quote }}
- --admin-tls
{{- if eq .Values.adminTls.mode "secret" }}
- "/etc/rampart/admin-tls/tls.crt,/etc/rampart/admin-tls/tls.key"
{{- else if or (eq .Values.adminTls.mode "auto") (eq .Values.adminTls.mode "off") }}
- {{ .Values.adminTls.mode | quote }}
{{- else }}
{{- fail (printf "adminTls.mode must be auto, secret or off, not %q" .Values.adminTls.mode) }}
{{- end }}
{{- if .Values.adminTokenSecret.name }}
- --admin-token-file
- {{ printf "/etc/rampart/admin-token/%s" .Values.adminTokenSecret.key | quote }}
{{- end }}
{{- if .Values.masterKeySecret.name }}
- --master-key-file
- {{ printf "/etc/rampart/master-key/%s" .Values.masterKeySecret.key | quote }}
{{- end }}
- --state-dir
- {{ .Values.stateDir.path | quote }}
{{- if .Values.workers }}
- --workers
- {{ .Values.workers | quote }}
{{- end }}
- --log-format
- {{ .Values.logFormat | quote }}
- --log-level
- {{ .Values.logLevel | quote }}
- --access-log
- {{ .Values.accessLog | quote }}
- --drain-timeout
- {{ .Values.drainTimeout | quote }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Chart name, truncated to 63 characters (a DNS label). */}}
{{- define "nodecred.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name when it already contains the chart name, else <release>-<chart>. */}}
{{- define "nodecred.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "nodecred.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "nodecred.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nodecred.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "nodecred.labels" -}}
helm.sh/chart: {{ include "nodecred.chart" . }}
{{ include "nodecred.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "nodecred.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nodecred.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image, by digest when one is given. */}}
{{- define "nodecred.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret whose keys become files on the hosts, or "" when there is none. */}}
{{- define "nodecred.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else if .Values.secrets.data }}
{{- printf "%s-secrets" (include "nodecred.fullname" .) }}
{{- end }}
{{- end }}

{{/* The release's mode ConfigMap (install | uninstall), read by every agent. */}}
{{- define "nodecred.modeConfigMap" -}}
{{- printf "%s-mode" (include "nodecred.fullname" .) }}
{{- end }}

{{- define "nodecred.hookName" -}}
{{- printf "%s-uninstall" (include "nodecred.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Seconds a stopping agent needs: one restart plus one rollback, and a margin. */}}
{{- define "nodecred.gracePeriod" -}}
{{- if .Values.terminationGracePeriodSeconds }}
{{- .Values.terminationGracePeriodSeconds }}
{{- else }}
{{- add (mul 2 .Values.restart.timeoutSeconds) 30 }}
{{- end }}
{{- end }}

{{/* The Node label the agents set: "nodecred.io/" -> "nodecred.io/ready". */}}
{{- define "nodecred.readyLabel" -}}
{{- printf "%sready" .Values.agent.annotationPrefix }}
{{- end }}

{{/* The AgentSettings file (installer/nodecred/host/settings.py, agent/config.py). */}}
{{- define "nodecred.agentSettings" -}}
apiVersion: nodecred.io/v1alpha1
kind: AgentSettings
paths:
  {{- toYaml .Values.hostPaths | nindent 2 }}
{{- with .Values.provider.matchImages }}
matchImages:
  {{- toYaml . | nindent 2 }}
{{- end }}
defaultCacheDuration: {{ .Values.provider.defaultCacheDuration | quote }}
restart:
  timeout: {{ printf "%ds" (int .Values.restart.timeoutSeconds) | quote }}
  allowControlPlaneRestart: {{ .Values.restart.allowControlPlaneRestart }}
agent:
  release: {{ include "nodecred.fullname" . | quote }}
  modeConfigMap: {{ include "nodecred.modeConfigMap" . | quote }}
  annotationPrefix: {{ .Values.agent.annotationPrefix | quote }}
  driftInterval: {{ .Values.agent.driftInterval | quote }}
  probeInterval: {{ .Values.agent.probeInterval | quote }}
  maxConcurrentRestarts: {{ .Values.restart.maxConcurrent | quote }}
  leaseDuration: {{ printf "%ds" (int .Values.restart.leaseDurationSeconds) | quote }}
  healthPort: {{ .Values.agent.healthPort }}
{{- end }}

{{/* The ProviderSettings file (DESIGN.md "Provider settings"), as the provider reads it on every call. */}}
{{- define "nodecred.providerSettings" -}}
apiVersion: nodecred.io/v1alpha1
kind: ProviderSettings
cacheDir: {{ printf "%s/cache" .Values.hostPaths.stateDir | quote }}
unmatchedCacheDuration: {{ .Values.provider.unmatchedCacheDuration | quote }}
timeout: {{ .Values.provider.timeout | quote }}
registries:
{{- if .Values.provider.registries }}
  {{- toYaml .Values.provider.registries | nindent 2 }}
{{- else }} []
{{- end }}
{{- end }}

{{/* values.nodeSelector as a label selector (k=v,...), for the hook and the test to see the same nodes. */}}
{{- define "nodecred.nodeSelector" -}}
{{- range $i, $k := keys .Values.nodeSelector | sortAlpha }}{{ if $i }},{{ end }}{{ $k }}={{ get $.Values.nodeSelector $k }}{{ end }}
{{- end }}

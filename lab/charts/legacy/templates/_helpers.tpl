{{/* Chart name (nameOverride wins). */}}
{{- define "portkey.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fullname: fullnameOverride, else the release name when it contains the chart name, else <release>-<name>. */}}
{{- define "portkey.fullname" -}}
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

{{- define "portkey.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "portkey.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portkey.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "portkey.labels" -}}
helm.sh/chart: {{ include "portkey.chart" . }}
{{ include "portkey.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* service.annotations are put on most objects (as upstream). */}}
{{- define "portkey.annotations" -}}
{{- with .Values.service.annotations }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{- define "portkey.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "portkey.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Name of the Secret/ConfigMap the gateway env is read from. */}}
{{- define "portkey.envSource" -}}
{{- if .Values.useVaultInjection }}
{{- default .Chart.Name .Values.vaultConfig.kubernetesSecret }}
{{- else }}
{{- include "portkey.fullname" . }}
{{- end }}
{{- end }}

{{- define "portkey.dataservice.fullname" -}}
{{- printf "%s-%s" (include "portkey.fullname" .) .Values.dataservice.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "portkey.dataservice.selectorLabels" -}}
{{- $sel := dict "app.kubernetes.io/name" (include "portkey.name" .) "app.kubernetes.io/instance" .Release.Name "app.kubernetes.io/component" (include "portkey.dataservice.fullname" .) }}
{{- toYaml (merge (deepCopy .Values.dataservice.deployment.selectorLabels) $sel) }}
{{- end }}

{{- define "portkey.dataservice.serviceAccountName" -}}
{{- if .Values.dataservice.serviceAccount.create }}
{{- default (include "portkey.dataservice.fullname" .) .Values.dataservice.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.dataservice.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* .dockerconfigjson of one imageCredentials item. */}}
{{- define "portkey.dockerconfigjson" -}}
{{- $entry := dict }}
{{- if .auth }}
{{- $_ := set $entry "auth" .auth }}
{{- else }}
{{- $_ := set $entry "username" .username }}
{{- $_ := set $entry "password" .password }}
{{- $_ := set $entry "email" .email }}
{{- $_ := set $entry "auth" (printf "%s:%s" .username .password | b64enc) }}
{{- end }}
{{- dict "auths" (dict .registry $entry) | toJson | b64enc }}
{{- end }}

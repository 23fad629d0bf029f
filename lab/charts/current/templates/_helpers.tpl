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
{{- with .Values.selectorLabels }}
{{ toYaml . }}
{{- end }}
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
{{- required "serviceAccount.name is required (set it to an existing ServiceAccount, or with serviceAccount.create=true to the one to create)" .Values.serviceAccount.name }}
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
{{- if not .Values.dataservice.serviceAccount.name }}
{{- fail "dataservice.serviceAccount.name is required when dataservice.enabled" }}
{{- end }}
{{- .Values.dataservice.serviceAccount.name }}
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

{{/* Gateway container port: service.containerPort, else environment.data.PORT, else service.port. */}}
{{- define "portkey.containerPort" -}}
{{- .Values.service.containerPort | default .Values.environment.data.PORT | default .Values.service.port | toString }}
{{- end }}

{{/* A probe with httpGet and no port gets the gateway port. */}}
{{- define "portkey.probe" -}}
{{- $probe := deepCopy .probe }}
{{- if and $probe.httpGet (not $probe.httpGet.port) }}
{{- $_ := set $probe.httpGet "port" (atoi .port) }}
{{- end }}
{{- toYaml $probe }}
{{- end }}

{{/* imagePullSecrets (strings or {name}) merged and deduplicated with imageCredentials[].name. */}}
{{- define "portkey.imagePullSecrets" -}}
{{- $names := list }}
{{- range .Values.imagePullSecrets }}
{{- if kindIs "map" . }}
{{- $names = append $names .name }}
{{- else }}
{{- $names = append $names . }}
{{- end }}
{{- end }}
{{- range .Values.imageCredentials }}
{{- $names = append $names .name }}
{{- end }}
{{- range ($names | compact | uniq) }}
- name: {{ . }}
{{- end }}
{{- end }}

{{/* env entries: the chart's Secret/ConfigMap (environment.create, the default; Vault injection reads its Secret),
     else environment.existingSecret (only when create is false, as upstream): explicit mode (every secretKeys entry
     from the Secret, whether or not it is in data; the other data keys literal) or lookup mode (data keys found in
     the Secret come from it, the others are literal). */}}
{{- define "portkey.env" -}}
{{- $env := .Values.environment }}
{{- $secret := or .Values.useVaultInjection $env.secret }}
{{- $source := include "portkey.envSource" . }}
{{- if or .Values.useVaultInjection $env.create }}
{{- range $key, $value := $env.data }}
- name: {{ $key }}
  valueFrom:
    {{- if $secret }}
    secretKeyRef:
    {{- else }}
    configMapKeyRef:
    {{- end }}
      name: {{ $source }}
      key: {{ $key }}
{{- end }}
{{- else if $env.existingSecret }}
{{- $fromExisting := $env.secretKeys }}
{{- if not $env.secretKeys }}
{{- $found := lookup "v1" "Secret" .Release.Namespace $env.existingSecret }}
{{- $fromExisting = keys (($found | default dict).data | default dict) }}
{{- range $key, $value := $env.data }}
{{- if has $key $fromExisting }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $env.existingSecret }}
      key: {{ $key }}
{{- end }}
{{- end }}
{{- else }}
{{- range $fromExisting }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $env.existingSecret }}
      key: {{ . }}
{{- end }}
{{- end }}
{{- range $key, $value := $env.data }}
{{- if not (has $key $fromExisting) }}
- name: {{ $key }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- define "profcol.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "profcol.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "profcol.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "profcol.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "profcol.selector" -}}
app.kubernetes.io/name: {{ include "profcol.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "profcol.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The parts every profcol config of this chart shares: extensions, exporters, telemetry. */}}
{{- define "profcol.commonConfig" -}}
extensions:
  health_check:
    endpoint: 0.0.0.0:{{ .Values.ports.health }}
  {{- if .Values.statusPage.enabled }}
  status:
    endpoint: 0.0.0.0:{{ .Values.ports.status }}
  {{- end }}
exporters:
{{ toYaml .Values.exporters | indent 2 }}
{{- end -}}

{{- define "profcol.serviceConfig" -}}
telemetry:
  metrics:
    address: 0.0.0.0:{{ .root.Values.ports.metrics }}
extensions: [health_check{{ if .root.Values.statusPage.enabled }}, status{{ end }}]
limits:
{{ toYaml .limits | indent 2 }}
{{- end -}}

{{/* Container ports, probes and security shared by both workloads. */}}
{{- define "profcol.container" -}}
image: {{ include "profcol.image" .root }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
args: ["run", "--config", "/etc/profcol/profcol.yaml", "--log-format", "json"]
ports:
  - { name: metrics, containerPort: {{ .root.Values.ports.metrics }} }
  - { name: health, containerPort: {{ .root.Values.ports.health }} }
  {{- if .root.Values.statusPage.enabled }}
  - { name: status, containerPort: {{ .root.Values.ports.status }} }
  {{- end }}
  {{- range .extraPorts }}
  - {{ toYaml . | nindent 4 | trim }}
  {{- end }}
livenessProbe:
  httpGet: { path: /healthz, port: health }
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet: { path: /readyz, port: health }
  periodSeconds: 5
  failureThreshold: 2
startupProbe:
  httpGet: { path: /healthz, port: health }
  periodSeconds: 2
  failureThreshold: 30
securityContext:
{{ toYaml .root.Values.securityContext | indent 2 }}
volumeMounts:
  - { name: config, mountPath: /etc/profcol, readOnly: true }
  - { name: data, mountPath: /var/lib/profcol }
{{- end -}}

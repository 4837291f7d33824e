{{- define "esc-csi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "esc-csi.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "esc-csi.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "esc-csi.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "esc-csi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "esc-csi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "esc-csi.labels" -}}
{{ include "esc-csi.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "esc-csi.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "esc-csi.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- /* The version key Secret's name: the user's, the chart's own, or empty for none. */}}
{{- define "esc-csi.versionKeySecret" -}}
{{- if .Values.versionKey.existingSecret }}
{{- .Values.versionKey.existingSecret }}
{{- else if .Values.versionKey.create }}
{{- include "esc-csi.fullname" . }}-version-key
{{- end }}
{{- end }}

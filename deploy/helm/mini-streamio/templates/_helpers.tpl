{{/* Names: the release's full name, and one per component. */}}
{{- define "mini-streamio.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mini-streamio.fullname" -}}
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

{{/* A component's name: <fullname>-<component>, at most 63 characters. */}}
{{- define "mini-streamio.component" -}}
{{- printf "%s-%s" (include "mini-streamio.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mini-streamio.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "mini-streamio.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: mini-streamio
{{- end -}}

{{- define "mini-streamio.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mini-streamio.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "mini-streamio.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{/* Object storage: the in-chart MinIO or the external endpoint. */}}
{{- define "mini-streamio.s3Endpoint" -}}
{{- if .Values.minio.enabled -}}
{{- printf "http://%s:9000" (include "mini-streamio.component" (dict "root" . "component" "minio")) -}}
{{- else -}}
{{- required "s3.endpoint is required when minio.enabled is false" .Values.s3.endpoint -}}
{{- end -}}
{{- end -}}

{{- define "mini-streamio.s3SecretName" -}}
{{- default (include "mini-streamio.component" (dict "root" . "component" "s3")) .Values.s3.existingSecret -}}
{{- end -}}

{{- define "mini-streamio.apiKeySecretName" -}}
{{- default (include "mini-streamio.component" (dict "root" . "component" "api-key")) .Values.apiKey.existingSecret -}}
{{- end -}}

{{- define "mini-streamio.apiKeyEnabled" -}}
{{- if or .Values.apiKey.existingSecret .Values.apiKey.value -}}true{{- end -}}
{{- end -}}

{{- define "mini-streamio.trackingUri" -}}
{{- if .Values.mlflow.enabled -}}
{{- printf "http://%s:%d" (include "mini-streamio.component" (dict "root" . "component" "mlflow")) (int .Values.mlflow.port) -}}
{{- else -}}
{{- required "mlflow.externalTrackingUri is required when mlflow.enabled is false" .Values.mlflow.externalTrackingUri -}}
{{- end -}}
{{- end -}}

{{/* The headless Service of the BentoML replicas, as the gateway's BENTOML_DNS (host:port). */}}
{{- define "mini-streamio.bentoDns" -}}
{{- printf "%s.%s.svc.%s:%d" (include "mini-streamio.component" (dict "root" . "component" "bento-headless")) .Release.Namespace .Values.clusterDomain (int .Values.bento.port) -}}
{{- end -}}

{{/* S3 settings and credentials, from the Secret: every component that talks to the buckets. */}}
{{- define "mini-streamio.s3Env" -}}
- name: MINIO_ENDPOINT
  value: {{ include "mini-streamio.s3Endpoint" . | quote }}
- name: MINIO_REGION
  value: {{ .Values.s3.region | quote }}
- name: MINIO_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "mini-streamio.s3SecretName" . }}
      key: {{ .Values.s3.accessKeyKey }}
- name: MINIO_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "mini-streamio.s3SecretName" . }}
      key: {{ .Values.s3.secretKeyKey }}
{{- end -}}

{{/* What every Python process needs (compose's x-python-env). */}}
{{- define "mini-streamio.pythonEnv" -}}
{{ include "mini-streamio.s3Env" . }}
- name: MLFLOW_TRACKING_URI
  value: {{ include "mini-streamio.trackingUri" . | quote }}
- name: MINI_STREAMIO_DATA_DIR
  value: /data
{{- end -}}

{{/* Extra settings from a map of values (sorted, strings). */}}
{{- define "mini-streamio.extraEnv" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end -}}
{{- end -}}

{{/* The pod's security context: an unprivileged user that owns the volumes. */}}
{{- define "mini-streamio.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "mini-streamio.containerSecurityContext" -}}
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Scheduling of the GPU pods (BentoML, the trainer). */}}
{{- define "mini-streamio.bentoScheduling" -}}
{{- with .Values.bento.runtimeClassName }}
runtimeClassName: {{ . }}
{{- end }}
{{- with .Values.bento.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.bento.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Resources with the GPU limit added when bento.gpu.enabled. */}}
{{- define "mini-streamio.gpuResources" -}}
{{- $resources := deepCopy .resources -}}
{{- if .root.Values.bento.gpu.enabled -}}
{{- $limits := default dict $resources.limits -}}
{{- $_ := set $limits .root.Values.bento.gpu.resourceName (int .root.Values.bento.gpu.count) -}}
{{- $_ := set $resources "limits" $limits -}}
{{- end -}}
{{- toYaml $resources -}}
{{- end -}}

{{/* Checks of the values, failing the render with the reason. */}}
{{- define "mini-streamio.validate" -}}
{{- if and (not .Values.minio.enabled) (not .Values.s3.endpoint) -}}
{{- fail "set s3.endpoint (an external S3 API) or minio.enabled=true" -}}
{{- end -}}
{{- if and (not .Values.minio.enabled) (not .Values.s3.existingSecret) (not (and .Values.s3.accessKey .Values.s3.secretKey)) -}}
{{- fail "an external S3 endpoint needs credentials: s3.existingSecret, or s3.accessKey and s3.secretKey" -}}
{{- end -}}
{{- if and .Values.s3.secretKey (lt (len .Values.s3.secretKey) 8) -}}
{{- fail "s3.secretKey must have 8 characters or more" -}}
{{- end -}}
{{- if and .Values.apiKey.value (lt (len .Values.apiKey.value) 8) -}}
{{- fail "apiKey.value must have 8 characters or more" -}}
{{- end -}}
{{- end -}}

{{/* Pods restart when the chart's Secrets change (their settings are read at start). */}}
{{- define "mini-streamio.checksum" -}}
checksum/secrets: {{ include (print .Template.BasePath "/secrets.yaml") . | sha256sum }}
{{- end -}}

{{/* Chart name, truncated to the 63 characters Kubernetes names allow. */}}
{{- define "llm-lakehouse.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-llm-lakehouse, or the release name alone when it already contains the chart name. */}}
{{- define "llm-lakehouse.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "llm-lakehouse.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "llm-lakehouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
ConfigMap names. The airflow subchart refers to them from values.yaml through its own tpl (extraEnvFrom,
scheduler.extraVolumes), where only .Release.Name is shared: so they are <release>-lakehouse-*.
*/}}
{{- define "llm-lakehouse.envConfigMap" -}}
{{- printf "%s-lakehouse-env" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "llm-lakehouse.sparkConfigMap" -}}
{{- printf "%s-lakehouse-spark-conf" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "llm-lakehouse.sparkServiceAccount" -}}
{{- if .Values.spark.serviceAccount.name }}
{{- .Values.spark.serviceAccount.name }}
{{- else }}
{{- printf "%s-spark" (include "llm-lakehouse.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
Full name the official Airflow chart gives its objects ("airflow.fullname" there, which this chart cannot
call): fullnameOverride, else <release> if it contains the chart name "airflow", else <release>-airflow.
*/}}
{{- define "llm-lakehouse.airflowFullname" -}}
{{- $airflow := .Values.airflow | default dict }}
{{- if $airflow.fullnameOverride }}
{{- $airflow.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default "airflow" $airflow.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The Airflow Celery workers' ServiceAccount (the official chart's <fullname>-worker). Their task processes run
spark-submit in client mode, and the Spark driver there creates the executor pods: this account needs the Role.
*/}}
{{- define "llm-lakehouse.airflowWorkerServiceAccount" -}}
{{- $sa := ((.Values.airflow | default dict).workers | default dict).serviceAccount | default dict }}
{{- if and (hasKey $sa "create") (not $sa.create) }}
{{- default "default" $sa.name }}
{{- else }}
{{- default (printf "%s-worker" (include "llm-lakehouse.airflowFullname" .)) $sa.name }}
{{- end }}
{{- end }}

{{/*
Secret environment of every pod that runs Spark or pyiceberg: the S3 keys, read by the AWS SDKs' default chain
(never a Spark property), and the DataHub token when one is set. Kept in Secrets created beforehand.
*/}}
{{- define "llm-lakehouse.secretEnv" -}}
- name: AWS_ACCESS_KEY_ID
  valueFrom: {secretKeyRef: {name: {{ .Values.lakehouse.s3.existingSecret }}, key: AWS_ACCESS_KEY_ID}}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ .Values.lakehouse.s3.existingSecret }}, key: AWS_SECRET_ACCESS_KEY}}
- name: PGPASSWORD
  valueFrom: {secretKeyRef: {name: {{ .Values.lakehouse.leases.passwordSecret }}, key: PGPASSWORD}}
{{- with .Values.lakehouse.datahub.tokenSecret }}
- name: DATAHUB_GMS_TOKEN
  valueFrom: {secretKeyRef: {name: {{ . }}, key: token}}
{{- end }}
{{- end }}

{{/*
An image by digest: <repository>:<tag>@<digest>. The tag is only for people; the runtime pulls the digest, which
release tooling writes into values (images.*.digest). Called with one entry of .Values.images.
*/}}
{{- define "llm-lakehouse.image" -}}
{{- printf "%s:%s@%s" .repository .tag .digest }}
{{- end }}

{{/* The executors' ServiceAccount: no Role, no API token mounted. */}}
{{- define "llm-lakehouse.sparkExecutorServiceAccount" -}}
{{- if .Values.spark.executorServiceAccount.name }}
{{- .Values.spark.executorServiceAccount.name }}
{{- else }}
{{- printf "%s-spark-executor" (include "llm-lakehouse.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Pod securityContext of every pod this chart defines (values: security). */}}
{{- define "llm-lakehouse.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.security.runAsUser }}
runAsGroup: {{ .Values.security.runAsGroup }}
fsGroup: {{ .Values.security.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container securityContext: no privilege escalation, no capabilities, read-only root (writable: emptyDirs). */}}
{{- define "llm-lakehouse.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: {{ .Values.security.readOnlyRootFilesystem }}
capabilities:
  drop: ["ALL"]
{{- end }}

{{/* The writable scratch space a read-only root needs: an emptyDir at /tmp. */}}
{{- define "llm-lakehouse.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.security.tmpSizeLimit }}
{{- end }}

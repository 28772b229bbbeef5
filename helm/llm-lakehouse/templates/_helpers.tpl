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
The Airflow scheduler's ServiceAccount. With the LocalExecutor, tasks run spark-submit in the scheduler pod
and the Spark driver there creates the executor pods, so this account needs the Spark Role.
*/}}
{{- define "llm-lakehouse.airflowSchedulerServiceAccount" -}}
{{- $sa := ((.Values.airflow | default dict).scheduler | default dict).serviceAccount | default dict }}
{{- if and (hasKey $sa "create") (not $sa.create) }}
{{- default "default" $sa.name }}
{{- else }}
{{- default (printf "%s-scheduler" (include "llm-lakehouse.airflowFullname" .)) $sa.name }}
{{- end }}
{{- end }}

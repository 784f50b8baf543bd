{{/* Chart name, overridable. */}}
{{- define "bco.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: the release name when it already contains the chart name. */}}
{{- define "bco.fullname" -}}
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

{{- define "bco.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bco.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bco.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "bco.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: bedrock-chatbot-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "bco.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bco.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "bco.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
One release per cluster: two controllers would both reconcile every (cluster-scoped)
ChatbotPlatform and every chatbot, fighting over the same AWS resources. Refuses to
render when a controller Deployment of another release exists. `lookup` sees the
cluster only under `helm install/upgrade` (and --dry-run=server); `helm template`,
and so Argo CD, cannot check it.
*/}}
{{- define "bco.refuseSecondRelease" -}}
{{- range (lookup "apps/v1" "Deployment" "" "").items }}
{{- $labels := .metadata.labels | default dict }}
{{- if and (eq (get $labels "app.kubernetes.io/part-of") "bedrock-chatbot-operator") (eq (get $labels "app.kubernetes.io/component") "controller") }}
{{- $release := get $labels "app.kubernetes.io/instance" }}
{{- if not (and (eq $release $.Release.Name) (eq .metadata.namespace $.Release.Namespace)) }}
{{- fail (printf "the operator is already installed as release %s in namespace %s (Deployment %s): one release per cluster, or two controllers would reconcile the same ChatbotPlatforms and chatbots. Upgrade that release (helm upgrade %s --namespace %s), or uninstall it first" $release .metadata.namespace .metadata.name $release .metadata.namespace) }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The chart's name, shortened to a DNS label. */}}
{{- define "proxy-replacement.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the objects: the release name, with the chart's name unless the release name has it. */}}
{{- define "proxy-replacement.fullname" -}}
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

{{- define "proxy-replacement.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels every object carries. */}}
{{- define "proxy-replacement.labels" -}}
helm.sh/chart: {{ include "proxy-replacement.chart" . }}
{{ include "proxy-replacement.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: service-proxy
{{- end }}

{{/* The labels that select the daemon's pods (never change them in an upgrade: the selector is immutable). */}}
{{- define "proxy-replacement.selectorLabels" -}}
app.kubernetes.io/name: {{ include "proxy-replacement.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "proxy-replacement.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "proxy-replacement.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "proxy-replacement.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The daemon's --bpffs-root: the pin directory on the node's bpffs (mounted at the same path). */}}
{{- define "proxy-replacement.bpffsRoot" -}}
{{- printf "%s/%s" (.Values.bpf.hostRoot | trimSuffix "/") .Values.bpf.pinDirectory }}
{{- end }}

{{/* Where the node's cgroup v2 root is mounted in the daemon's container. */}}
{{- define "proxy-replacement.cgroupMount" -}}
/run/proxy-replacement/cgroupv2
{{- end }}

{{/*
The daemon's config file (`service-proxy run --config`): the keys are the camelCase names of run's options.
extraConfig wins over the dedicated values.
*/}}
{{- define "proxy-replacement.config" -}}
{{- $config := dict
  "source" "kubernetes"
  "bpffsRoot" (include "proxy-replacement.bpffsRoot" .)
  "healthzBindAddress" (printf "0.0.0.0:%d" (int .Values.healthz.port))
  "metricsBindAddress" (ternary (printf "0.0.0.0:%d" (int .Values.metrics.port)) "" (gt (int .Values.metrics.port) 0))
  "workloadInterfaces" .Values.interfaces.workload
  "hostInterfaces" .Values.interfaces.host
  "serviceNodePortRange" .Values.nodePort.range
  "serviceCidrs" .Values.serviceCidrs
  "socketLbMode" .Values.socketLB.mode
  "minSyncInterval" .Values.sync.minInterval
  "syncPeriod" .Values.sync.period
  "apiTimeout" .Values.apiTimeout
  "frontendMapSize" (int .Values.maps.frontends)
  "backendMapSize" (int .Values.maps.backends)
  "affinityMapSize" (int .Values.maps.affinity)
  "conntrackMapSize" (int .Values.maps.conntrack)
  "socketReverseMapSize" (int .Values.maps.socketReverse)
  "directTableSize" (ternary .Values.maps.directTable (int .Values.maps.directTable) (kindIs "string" .Values.maps.directTable))
  "externalServiceMode" .Values.externalServiceMode
  "tunnelPort" (int .Values.tunnel.port)
  "tunnelVni" (int .Values.tunnel.vni)
  "tunnelMtu" (int .Values.tunnel.mtu)
  "snatPortRange" .Values.snat.portRange
  "networkPolicy" .Values.networkPolicy
}}
{{- if ne .Values.socketLB.mode "disabled" }}
{{- $_ := set $config "cgroupPath" (include "proxy-replacement.cgroupMount" .) }}
{{- end }}
{{- with .Values.nodePort.addresses }}
{{- $_ := set $config "nodeportAddresses" . }}
{{- end }}
{{- if .Values.serviceProxyName }}
{{- $_ := set $config "serviceProxyName" .Values.serviceProxyName }}
{{- end }}
{{- toYaml (mergeOverwrite $config .Values.extraConfig) }}
{{- end }}

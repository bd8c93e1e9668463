/**
 * Prometheus scrape jobs as a cluster would configure them, for a Prometheus started by a test:
 * the job the Prometheus Operator generates for a PodMonitor (with file-based discovery standing in
 * for Kubernetes' pod discovery, since the test's pods are local processes), and the exporters'
 * jobs as kube-prometheus-stack scrapes them.
 */
import type { Manifest } from '../../support/manifests';

/** Prometheus's label-name sanitising, as the operator applies it to pod label keys. */
export function sanitizeLabelName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

/** What Kubernetes pod discovery tells Prometheus about one container port of a pod. */
export interface PodTarget {
  readonly address: string;
  readonly namespace: string;
  readonly pod: string;
  readonly phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  readonly container: string;
  readonly portName: string;
  readonly labels: Record<string, string>;
}

/** A file_sd target group carrying the `__meta_kubernetes_*` labels pod discovery would set. */
export function podTargetGroup(t: PodTarget): { targets: string[]; labels: Record<string, string> } {
  const labels: Record<string, string> = {
    __meta_kubernetes_namespace: t.namespace,
    __meta_kubernetes_pod_name: t.pod,
    __meta_kubernetes_pod_phase: t.phase,
    __meta_kubernetes_pod_container_name: t.container,
    __meta_kubernetes_pod_container_port_name: t.portName,
  };
  for (const [key, value] of Object.entries(t.labels)) {
    labels[`__meta_kubernetes_pod_label_${sanitizeLabelName(key)}`] = value;
    labels[`__meta_kubernetes_pod_labelpresent_${sanitizeLabelName(key)}`] = 'true';
  }
  return { targets: [t.address], labels };
}

/**
 * The scrape job of endpoint 0 of `podMonitor` (a synthesized PodMonitor), discovering pods from
 * `targetsFile`. Relabelings as prometheus-operator v0.93.0 writes them
 * (`pkg/prometheus/promcfg.go`, `generatePodMonitorConfig`): the job name into a temporary label,
 * pods in phase Failed or Succeeded dropped (`generateRunningFilter`), the selector's `In`
 * expressions and match labels kept, the endpoint's port name kept, `namespace`, `container` and
 * `pod` from the pod, each of `podTargetLabels` from the pod's label, then `job` and `endpoint`.
 * `interval` becomes `scrape_interval` (through `shorten`, the test's time scale).
 */
export function podMonitorScrapeConfig(
  podMonitor: Manifest,
  targetsFile: string,
  shorten: (duration: string) => string,
): Record<string, unknown> {
  const { metadata, spec } = podMonitor;
  const endpoint = spec.podMetricsEndpoints[0];
  const keep = (key: string, values: string[]) => ({
    action: 'keep',
    source_labels: [
      `__meta_kubernetes_pod_label_${sanitizeLabelName(key)}`,
      `__meta_kubernetes_pod_labelpresent_${sanitizeLabelName(key)}`,
    ],
    regex: `(${values.join('|')});true`,
  });
  const expressions: Manifest[] = spec.selector.matchExpressions ?? [];
  for (const e of expressions) {
    if (e.operator !== 'In') throw new Error(`selector operator ${e.operator} is not mirrored here`);
  }
  return {
    job_name: `podMonitor/${metadata.namespace}/${metadata.name}/0`,
    honor_labels: false,
    file_sd_configs: [{ files: [targetsFile] }],
    ...(endpoint.interval ? { scrape_interval: shorten(endpoint.interval) } : {}),
    metrics_path: endpoint.path,
    relabel_configs: [
      { source_labels: ['job'], target_label: '__tmp_prometheus_job_name' },
      { action: 'drop', source_labels: ['__meta_kubernetes_pod_phase'], regex: '(Failed|Succeeded)' },
      ...Object.entries((spec.selector.matchLabels ?? {}) as Record<string, string>)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, value]) => keep(key, [value])),
      ...expressions.map((e) => keep(e.key, e.values)),
      { action: 'keep', source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: endpoint.port },
      { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
      { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      ...((spec.podTargetLabels ?? []) as string[]).map((label) => ({
        source_labels: [`__meta_kubernetes_pod_label_${sanitizeLabelName(label)}`],
        target_label: sanitizeLabelName(label),
        regex: '(.+)',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a Prometheus relabel reference, not a JS template
        replacement: '${1}',
      })),
      { target_label: 'job', replacement: `${metadata.namespace}/${metadata.name}` },
      { target_label: 'endpoint', replacement: endpoint.port },
    ],
  };
}

/**
 * An exporter's scrape job. kube-prometheus-stack scrapes kube-state-metrics with `honorLabels:
 * true`, so its series keep their own `namespace` (the object's) over the target's; the KEDA
 * operator's metrics scraped without it lose their `namespace` to the target's (the operator's,
 * `keda`), and the ScaledJob's moves to `exported_namespace`.
 */
export function exporterScrapeConfig(exporter: {
  readonly job: string;
  readonly address: string;
  readonly path: string;
  readonly honorLabels: boolean;
  /** The namespace the exporter's pod runs in: the target's `namespace` label. */
  readonly namespace: string;
}): Record<string, unknown> {
  return {
    job_name: exporter.job,
    honor_labels: exporter.honorLabels,
    metrics_path: exporter.path,
    static_configs: [{ targets: [exporter.address], labels: { namespace: exporter.namespace } }],
  };
}

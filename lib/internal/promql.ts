/**
 * PromQL building blocks shared by the alert rules and the dashboard: durations, label selectors and
 * the pod / Job name patterns that scope kube-state-metrics series to one agent workload.
 *
 * @module
 */
import { WORKLOAD_LABEL } from '../workload';

/**
 * The target label that carries an agent pod's {@link WORKLOAD_LABEL}: Prometheus's label-name
 * sanitising of it (`agent_fleet_dev_workload`). The PodMonitor copies the pod label onto every
 * target under this name (`podTargetLabels`), which is also what the common
 * `labelmap: __meta_kubernetes_pod_label_(.+)` scrape config produces. It is one value per
 * workload, not per pod, so it adds no series (the target's `pod` label already identifies the pod).
 */
export const WORKLOAD_TARGET_LABEL = WORKLOAD_LABEL.replace(/[^a-zA-Z0-9_]/g, '_');

/** A PromQL duration for whole seconds: `1h`, `15m`, `90s`. */
export function promDuration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** One label matcher. */
export interface Matcher {
  readonly label: string;
  readonly value: string;
  /** `=` (default), `=~` or `!=`. */
  readonly op?: '=' | '=~' | '!=';
}

/** `{a="x",b=~"y"}`; values are label values or regexes without quotes or backslashes. */
export function selector(...matchers: Matcher[]): string {
  for (const m of matchers) {
    if (/["\\]/.test(m.value))
      throw new Error(`label value ${m.value} must not contain quotes or backslashes`);
  }
  return `{${matchers.map((m) => `${m.label}${m.op ?? '='}"${m.value}"`).join(',')}}`;
}

/**
 * Names of the pods of one workload, as a regex. The Job controller names pods
 * `<job>-<5 random>` (`<job>-<index>-<5 random>` for Indexed Jobs), and KEDA names a ScaledJob's
 * Jobs `<scaledjob>-<5 random>`, so:
 * - a fixed workload (AgentJob, Job `<name>`): `<name>-([0-9]+-)?[a-z0-9]{5}`;
 * - a queue-driven one (AgentScaledJob): `<name>-[a-z0-9]{5}-[a-z0-9]{5}`.
 * Name patterns need no kube-state-metrics label allow-list (a `kube_pod_labels` join would).
 */
export function podNamePattern(name: string, scaling: 'fixed' | 'queue-driven'): string {
  return scaling === 'fixed' ? `${name}-([0-9]+-)?[a-z0-9]{5}` : `${name}-[a-z0-9]{5}-[a-z0-9]{5}`;
}

/** The `job_name` matcher for a workload's Jobs (exact for an AgentJob, KEDA's names for a ScaledJob). */
export function jobNameMatcher(name: string, scaling: 'fixed' | 'queue-driven'): Matcher {
  return scaling === 'fixed'
    ? { label: 'job_name', value: name }
    : { label: 'job_name', value: `${name}-[a-z0-9]{5}`, op: '=~' };
}

/**
 * Metric names that agent alerts and dashboards read from outside the worker. The worker's own
 * names come from the runtime contract (`Metrics` in `@agent-fleet/contract`); these are the
 * documented names of the two exporters every queue-driven fleet already runs. Written here once,
 * so the alert rules, the dashboard and the tests share them.
 *
 * @module
 */

/**
 * kube-state-metrics (v2). Source: kubernetes/kube-state-metrics `docs/metrics/workload/pod-metrics.md`
 * and `docs/metrics/workload/job-metrics.md`; label sets from `internal/store/pod.go` (every pod
 * series: `namespace`, `pod`, `uid`; container series add `container`) and `internal/store/job.go`
 * (`namespace`, `job_name`), v2.17.
 */
export const KubeStateMetrics = {
  /**
   * Gauge, 1 with label `reason` (`OOMKilled`, `Error`, `Completed`, …) while the container is
   * *currently* terminated. Agent pods run with `restartPolicy: Never`, so an OOM kill shows up here,
   * not in the last-terminated metric.
   */
  podContainerStatusTerminatedReason: 'kube_pod_container_status_terminated_reason',
  /** Gauge, 1 with label `reason` for the container's previous termination (restarted containers). */
  podContainerStatusLastTerminatedReason: 'kube_pod_container_status_last_terminated_reason',
  /** Gauge: running pods of the Job (label `job_name`). */
  jobStatusActive: 'kube_job_status_active',
} as const;

/**
 * KEDA 2.16 operator metrics. Source: keda-docs `content/docs/2.16/operate/prometheus.md` ("Integrate
 * with Prometheus"), labels from kedacore/keda `pkg/metricscollector/prommetrics.go`: `namespace`,
 * `metric`, `scaledObject` (the ScaledJob's name for ScaledJobs), `scaler`, `triggerIndex` and
 * `type` (`scaledobject` | `scaledjob`).
 */
export const KedaMetrics = {
  /** Gauge: the current value of each scaler's metric, for a queue trigger the queue length. */
  scalerMetricsValue: 'keda_scaler_metrics_value',
} as const;

/** The value of KEDA's `type` label on ScaledJob series. */
export const KEDA_SCALED_JOB_TYPE = 'scaledjob';

/** Every external metric name the observability constructs may use. */
export const EXTERNAL_METRIC_NAMES: readonly string[] = [
  ...Object.values(KubeStateMetrics),
  ...Object.values(KedaMetrics),
];

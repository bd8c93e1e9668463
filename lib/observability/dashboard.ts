/**
 * The fleet's Grafana dashboard as plain JSON (schemaVersion 39, timeseries panels on a 24-column
 * grid). Every query reads a metric of the runtime contract or of {@link KubeStateMetrics} /
 * {@link KedaMetrics}.
 *
 * Counters are read with {@link counterIncrease} over a fixed window, not `rate()` over
 * `$__rate_interval`: agent pods are short-lived series whose first sample may already hold their
 * count, which `rate()` never sees (a batch of one-task pods would show no task at all).
 *
 * @module
 */
import { Metrics } from '@agent-fleet/contract';
import { KedaMetrics, KubeStateMetrics } from '../internal/external-metrics';
import { AGENT_CONTAINER } from '../internal/job-policy';
import { promDuration, selector, WORKLOAD_TARGET_LABEL } from '../internal/promql';
import {
  type AlertTarget,
  jobSelector,
  kedaSelector,
  podSelector,
  type ResolvedAlertSettings,
} from './alerts';
import { counterIncrease } from './counter-increase';

/** Grafana dashboard JSON schema version written. */
export const DASHBOARD_SCHEMA_VERSION = 39;

/** Window of the dashboard's counts, quantiles and per-minute figures: 5 minutes. */
export const DASHBOARD_WINDOW_SECONDS = 300;

/** Window of the failed-pods panel: pods failed within the last hour. */
const FAILED_PODS_WINDOW_SECONDS = 3600;

interface Target {
  readonly expr: string;
  readonly legendFormat: string;
}

type Settings = Pick<
  ResolvedAlertSettings,
  'namespace' | 'kubeStateMetricsNamespaceLabel' | 'kedaNamespaceLabel'
>;

/** Builds the dashboard JSON for `agents`. */
export function agentDashboard(
  title: string,
  uid: string,
  agents: readonly AlertTarget[],
  s: Settings,
): Record<string, unknown> {
  const names = agents.map((a) => a.name).join('|');
  const all = (...extra: { label: string; value: string }[]) =>
    selector(
      { label: 'namespace', value: s.namespace },
      { label: WORKLOAD_TARGET_LABEL, value: names, op: '=~' },
      ...extra,
    );
  const window = DASHBOARD_WINDOW_SECONDS;
  const minutes = window / 60;
  const by = WORKLOAD_TARGET_LABEL;
  /** What a counter of every workload counted within the window, per series. */
  const counted = (metric: string) => counterIncrease(`${metric}${all()}`, window);
  const quantiles = (metric: string): Target[] =>
    [0.5, 0.95, 0.99].map((q) => ({
      expr: `histogram_quantile(${q}, sum by (${by}, le) (${counted(`${metric}_bucket`)}))`,
      legendFormat: `{{${by}}} p${Math.round(q * 100)}`,
    }));
  const scaled = agents.filter((a) => a.scaling === 'queue-driven');
  const w = promDuration(window);

  const panels: { title: string; unit: string; targets: Target[] }[] = [
    {
      title: `Tasks per minute by status (${w} average)`,
      unit: 'short',
      targets: [
        {
          expr: `sum by (${by}, status) (${counted(Metrics.tasksCompleted)}) / ${minutes}`,
          legendFormat: `{{${by}}} {{status}}`,
        },
      ],
    },
    {
      title: `Task duration p50 / p95 / p99 (tasks ended in ${w})`,
      unit: 's',
      targets: quantiles(Metrics.taskDuration),
    },
    {
      title: `LLM tokens per minute by model (${w} average)`,
      unit: 'short',
      targets: [
        { expr: `sum by (model) (${counted(Metrics.llmTokens)}) / ${minutes}`, legendFormat: '{{model}}' },
      ],
    },
    {
      title: 'Tasks in flight',
      unit: 'short',
      targets: [{ expr: `sum by (${by}) (${Metrics.tasksInFlight}${all()})`, legendFormat: `{{${by}}}` }],
    },
    {
      title: 'Queue depth vs running Jobs',
      unit: 'short',
      targets: [
        ...scaled.map((a) => ({
          expr: `sum(${KedaMetrics.scalerMetricsValue}${kedaSelector(s, a)})`,
          legendFormat: `${a.name} queue depth`,
        })),
        ...agents.map((a) => ({
          expr: `sum(${KubeStateMetrics.jobStatusActive}${jobSelector(s, a)})`,
          legendFormat: `${a.name} running pods`,
        })),
      ],
    },
    {
      title: `Checkpoint write latency (writes in ${w})`,
      unit: 's',
      targets: quantiles(Metrics.checkpointWrite),
    },
    {
      // Agent pods run with restartPolicy Never: a failure ends the pod (the Job makes a new one), so
      // it shows as the agent container's terminated reason, never as a restart.
      title: `Failed agent pods by reason (last ${promDuration(FAILED_PODS_WINDOW_SECONDS)})`,
      unit: 'short',
      targets: agents.map((a) => ({
        expr: `count by (reason) (max_over_time(${KubeStateMetrics.podContainerStatusTerminatedReason}${podSelector(
          s,
          a,
          { label: 'container', value: AGENT_CONTAINER },
          { label: 'reason', value: 'Completed', op: '!=' },
        )}[${promDuration(FAILED_PODS_WINDOW_SECONDS)}]) == 1)`,
        legendFormat: `${a.name} {{reason}}`,
      })),
    },
    {
      title: `Dead-lettered tasks per minute by reason (${w} average), and open circuit breakers`,
      unit: 'short',
      targets: [
        {
          expr: `sum by (${by}, reason) (${counted(Metrics.deadLettered)}) / ${minutes} > 0`,
          legendFormat: `{{${by}}} dead-lettered {{reason}}`,
        },
        {
          expr: `sum by (${by}, dependency) (${Metrics.circuitOpen}${all()})`,
          legendFormat: `{{${by}}} open circuits {{dependency}}`,
        },
      ],
    },
  ];

  // biome-ignore lint/suspicious/noTemplateCurlyInString: a Grafana variable reference, not a JS template
  const datasource = { type: 'prometheus', uid: '${datasource}' };
  return {
    uid,
    title,
    tags: ['agent-fleet'],
    schemaVersion: DASHBOARD_SCHEMA_VERSION,
    version: 1,
    editable: true,
    time: { from: 'now-6h', to: 'now' },
    refresh: '30s',
    templating: {
      list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Data source' }],
    },
    panels: panels.map((p, i) => ({
      id: i + 1,
      type: 'timeseries',
      title: p.title,
      datasource,
      gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
      fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
      options: { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi' } },
      targets: p.targets.map((t, j) => ({
        refId: j < 26 ? String.fromCharCode(65 + j) : `Q${j}`,
        datasource,
        expr: t.expr,
        legendFormat: t.legendFormat,
      })),
    })),
  };
}

/**
 * The fleet's Grafana dashboard as plain JSON (schemaVersion 39, timeseries panels on a 24-column
 * grid). Every query reads a metric of the runtime contract or of {@link KubeStateMetrics} /
 * {@link KedaMetrics}.
 *
 * @module
 */
import { Metrics } from '@agent-fleet/contract';
import { KedaMetrics, KubeStateMetrics } from '../internal/external-metrics';
import { selector, WORKLOAD_TARGET_LABEL } from '../internal/promql';
import {
  type AlertTarget,
  jobSelector,
  kedaSelector,
  podSelector,
  type ResolvedAlertSettings,
} from './alerts';

/** Grafana dashboard JSON schema version written. */
export const DASHBOARD_SCHEMA_VERSION = 39;

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
  const rate = '$__rate_interval';
  const by = WORKLOAD_TARGET_LABEL;
  const quantiles = (metric: string): Target[] =>
    [0.5, 0.95, 0.99].map((q) => ({
      expr: `histogram_quantile(${q}, sum by (${by}, le) (rate(${metric}_bucket${all()}[${rate}])))`,
      legendFormat: `{{${by}}} p${Math.round(q * 100)}`,
    }));
  const scaled = agents.filter((a) => a.scaling === 'queue-driven');

  const panels: { title: string; unit: string; targets: Target[] }[] = [
    {
      title: 'Tasks/s by status',
      unit: 'ops',
      targets: [
        {
          expr: `sum by (${by}, status) (rate(${Metrics.tasksCompleted}${all()}[${rate}]))`,
          legendFormat: `{{${by}}} {{status}}`,
        },
      ],
    },
    { title: 'Task duration p50 / p95 / p99', unit: 's', targets: quantiles(Metrics.taskDuration) },
    {
      title: 'LLM tokens/s by model',
      unit: 'short',
      targets: [
        { expr: `sum by (model) (rate(${Metrics.llmTokens}${all()}[${rate}]))`, legendFormat: '{{model}}' },
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
    { title: 'Checkpoint write latency', unit: 's', targets: quantiles(Metrics.checkpointWrite) },
    {
      title: 'Restarts and OOM kills (per hour)',
      unit: 'short',
      targets: agents.flatMap((a) => [
        {
          expr: `sum(increase(${KubeStateMetrics.podContainerStatusRestartsTotal}${podSelector(s, a)}[1h]))`,
          legendFormat: `${a.name} restarts`,
        },
        {
          expr: `count(max_over_time(${KubeStateMetrics.podContainerStatusTerminatedReason}${podSelector(s, a, { label: 'reason', value: 'OOMKilled' })}[1h]) == 1) or vector(0)`,
          legendFormat: `${a.name} OOM kills`,
        },
      ]),
    },
    {
      title: 'Dead-lettered tasks/s and open circuit breakers',
      unit: 'short',
      targets: [
        {
          expr: `sum by (${by}, reason) (rate(${Metrics.deadLettered}${all()}[${rate}]))`,
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

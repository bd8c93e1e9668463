import { Defaults, Http, Metrics } from '@agent-fleet/contract';
import { Chart, Duration, Testing } from 'cdk8s';
import { AgentFleetChart } from '../examples/main';
import {
  AgentAlert,
  AgentFleetValidationError,
  AgentJob,
  type AgentJobProps,
  AgentObservability,
  type AgentObservabilityProps,
  AgentScaledJob,
  type AgentScaledJobProps,
  llmCapacityGuard,
  QueueConnection,
  ScaledJobTrigger,
  WORKLOAD_LABEL,
} from '../lib';
import { EXTERNAL_METRIC_NAMES, KubeStateMetrics } from '../lib/internal/external-metrics';
import { WORKLOAD_TARGET_LABEL } from '../lib/internal/promql';
import { DASHBOARD_SCHEMA_VERSION } from '../lib/observability/dashboard';
import { type Manifest, only, synthValid } from './support/manifests';
import { checkRules, promtoolPath, testRules } from './support/promtool';

const NS = 'agents';
const queue = QueueConnection.fromSecretName('agent-secrets', 'queue-url');
const image = 'registry.example.com/agent:1.0.0';
const llmCapacity: AgentScaledJobProps['llmCapacity'] = {
  gateway: { requestsPerMinute: 1000, tokensPerMinute: 200_000 },
  task: { requestsPerTask: 10, tokensPerTask: 20_000, taskDuration: Duration.minutes(2) },
};

function newChart(): Chart {
  return new Chart(Testing.app(), 'test', { namespace: NS });
}

function batch(chart: Chart, props: Partial<AgentJobProps> = {}): AgentJob {
  return new AgentJob(chart, 'Batch', {
    image,
    queue,
    name: 'batch',
    completions: 10,
    parallelism: 5,
    ...props,
  });
}

function workers(chart: Chart, props: Partial<AgentScaledJobProps> = {}): AgentScaledJob {
  return new AgentScaledJob(chart, 'Workers', {
    image,
    queue,
    name: 'workers',
    triggers: [ScaledJobTrigger.rabbitmq({ value: 5 })],
    maxReplicaCount: 40,
    ...props,
  });
}

/** A chart with an AgentJob, an AgentScaledJob with an LLM capacity guard, and observability. */
function fleet(props: Partial<AgentObservabilityProps> = {}) {
  const chart = newChart();
  const agents = [batch(chart), workers(chart, { llmCapacity, maxReplicaCount: undefined })];
  const obs = new AgentObservability(chart, 'Observability', { agents, ...props });
  return { chart, obs, agents };
}

function synthFleet(props: Partial<AgentObservabilityProps> = {}): Manifest[] {
  return synthValid(fleet(props).chart);
}

function rulesOf(objects: Manifest[]): Manifest[] {
  return only(objects, 'PrometheusRule').spec.groups;
}

function rule(groups: Manifest[], group: string, alert: string): Manifest {
  const found = groups
    .find((g: Manifest) => g.name === group)
    ?.rules.find((r: Manifest) => r.alert === alert);
  if (!found) throw new Error(`no ${alert} in ${group}`);
  return found;
}

// --- metric names in PromQL -------------------------------------------------------------------

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
  'by',
  'without',
  'on',
  'ignoring',
]);

/** Metric names an expression selects: identifiers outside strings, matchers, ranges and groupings that are not functions. */
function metricNames(expr: string): string[] {
  let e = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  e = e.replace(/\{[^}]*\}/g, ' ');
  e = e.replace(/\[[^\]]*\]/g, ' ');
  e = e.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  e = e.replace(/\boffset\s+\S+/g, ' ');
  const names: string[] = [];
  for (const m of e.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const before = e[(m.index ?? 0) - 1];
    if (before && /[0-9.]/.test(before)) continue; // exponent of a number
    if (
      e
        .slice((m.index ?? 0) + m[0].length)
        .trimStart()
        .startsWith('(')
    )
      continue; // function or aggregation
    if (KEYWORDS.has(m[0].toLowerCase())) continue;
    names.push(m[0]);
  }
  return names;
}

const HISTOGRAMS: string[] = [Metrics.taskDuration, Metrics.checkpointWrite];
const KNOWN = new Set<string>([
  ...Object.values(Metrics),
  ...HISTOGRAMS.flatMap((h) => ['_bucket', '_sum', '_count'].map((s) => `${h}${s}`)),
  ...EXTERNAL_METRIC_NAMES,
]);

function unknownMetrics(expr: string): string[] {
  return metricNames(expr).filter((n) => !KNOWN.has(n));
}

describe('metric-name extraction (the checker the other tests rely on)', () => {
  test('finds selected metrics and ignores functions, labels, ranges, groupings and keywords', () => {
    expect(
      metricNames(
        'sum by (status, le) (rate(foo_total{a="b",c=~"x-[a-z]{5}"}[5m])) / on() bar > 1e3 and bool baz offset 5m or vector(0)',
      ),
    ).toEqual(['foo_total', 'bar', 'baz']);
    expect(unknownMetrics(`rate(${Metrics.taskDuration}_bucket[5m]) + agent_typo_total`)).toEqual([
      'agent_typo_total',
    ]);
    expect(unknownMetrics(`rate(${Metrics.tasksCompleted}_bucket[5m])`)).toEqual([
      `${Metrics.tasksCompleted}_bucket`,
    ]);
  });
});

// --- objects ----------------------------------------------------------------------------------

describe('AgentObservability objects', () => {
  test('one ClusterIP Service per workload over its pods on the contract metrics port', () => {
    const objects = synthFleet();
    const services = objects.filter((o) => o.kind === 'Service');
    expect(services.map((s) => s.metadata.name)).toEqual(['batch-metrics', 'workers-metrics']);
    const svc = services[1];
    expect(svc.metadata.namespace).toBe(NS);
    expect(svc.spec).toEqual({
      type: 'ClusterIP',
      selector: { [WORKLOAD_LABEL]: 'workers' },
      ports: [
        { name: Http.portName, port: Defaults.metricsPort, targetPort: Http.portName, protocol: 'TCP' },
      ],
    });
  });

  test('the Service selects what the workload selects (its selectorLabels)', () => {
    const { obs, agents } = fleet();
    expect(obs.services.map((s) => s.toJson().spec.selector)).toEqual(agents.map((a) => a.selectorLabels));
  });

  test('the PodMonitor scrapes every workload on the metrics port name and path, labelled by workload', () => {
    const pm = only(synthFleet({ monitorLabels: { release: 'kube-prometheus-stack' } }), 'PodMonitor');
    expect(pm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(pm.metadata.labels).toEqual({ release: 'kube-prometheus-stack' });
    expect(pm.spec).toEqual({
      selector: { matchExpressions: [{ key: WORKLOAD_LABEL, operator: 'In', values: ['batch', 'workers'] }] },
      namespaceSelector: { matchNames: [NS] },
      podTargetLabels: [WORKLOAD_LABEL],
      podMetricsEndpoints: [{ port: Http.portName, path: Http.metricsPath }],
    });
    expect(WORKLOAD_TARGET_LABEL).toBe('agent_fleet_dev_workload');
  });

  test('podMonitor: false leaves the PodMonitor out', () => {
    const objects = synthFleet({ podMonitor: false });
    expect(objects.filter((o) => o.kind === 'PodMonitor')).toEqual([]);
    expect(objects.filter((o) => o.kind === 'PrometheusRule')).toHaveLength(1);
  });

  test('the PrometheusRule has one group per workload with the alerts that apply to it', () => {
    const groups = rulesOf(synthFleet());
    expect(groups.map((g: Manifest) => g.name)).toEqual(['agent-fleet.batch', 'agent-fleet.workers']);
    const alerts = (i: number) => groups[i].rules.map((r: Manifest) => r.alert);
    const common = [
      AgentAlert.TASK_FAILURE_RATIO,
      AgentAlert.TASKS_DEAD_LETTERED,
      AgentAlert.OOM_KILLED,
      AgentAlert.CIRCUIT_OPEN,
      AgentAlert.NO_TASK_COMPLETED,
    ];
    expect(alerts(0)).toEqual(common);
    expect(alerts(1)).toEqual([...common, AgentAlert.BACKLOG_AT_MAX, AgentAlert.TOKEN_BURN]);
    for (const g of groups) {
      for (const r of g.rules) {
        expect(typeof r.expr).toBe('string'); // the int-or-string wrapper was rendered, not dropped
        expect(r.labels).toMatchObject({ namespace: NS, workload: g.name.replace('agent-fleet.', '') });
        expect(['critical', 'warning', 'info']).toContain(r.labels.severity);
        expect(r.annotations.summary).toBeTruthy();
      }
    }
  });

  test('the backlog alert compares running Jobs with the ScaledJob’s maxReplicaCount', () => {
    const { chart, agents } = fleet();
    const scaled = agents[1] as AgentScaledJob;
    const r = rule(rulesOf(synthValid(chart)), 'agent-fleet.workers', AgentAlert.BACKLOG_AT_MAX);
    expect(r.expr).toContain(`>= ${scaled.maxReplicaCount}`);
    expect(r.expr).toContain(
      'keda_scaler_metrics_value{exported_namespace="agents",scaledObject="workers",type="scaledjob"}',
    );
    expect(r.expr).toContain('kube_job_status_active{namespace="agents",job_name=~"workers-[a-z0-9]{5}"}');
    expect(r.for).toBe('15m');
  });

  test('token burn alerts above the capacity guard’s token budget, only for workloads with llmCapacity', () => {
    const { chart, agents } = fleet({ alerts: { tokenBurnRatio: 0.9 } });
    const scaled = agents[1] as AgentScaledJob;
    const budget = llmCapacityGuard({
      gateway: llmCapacity!.gateway,
      task: llmCapacity!.task,
    }).tokenBudgetPerMinute;
    expect(scaled.llmTokenBudgetPerMinute).toBe(budget);
    const r = rule(rulesOf(synthValid(chart)), 'agent-fleet.workers', AgentAlert.TOKEN_BURN);
    expect(r.expr).toBe(
      `sum(rate(${Metrics.llmTokens}{namespace="agents",agent_fleet_dev_workload="workers"}[10m])) * 60 > ${budget * 0.9}`,
    );
    expect(workers(newChart()).llmTokenBudgetPerMinute).toBeUndefined();
  });

  test('thresholds and windows are rendered as given', () => {
    const groups = rulesOf(
      synthFleet({
        alerts: {
          failureRatio: 0.25,
          failureWindow: Duration.minutes(30),
          failureFor: Duration.seconds(90),
          stallWindow: Duration.hours(3),
          runbookUrl: 'https://runbooks.example.com/agents',
        },
      }),
    );
    const failure = rule(groups, 'agent-fleet.batch', AgentAlert.TASK_FAILURE_RATIO);
    expect(failure.expr).toMatch(/\[30m\]\)\)\n> 0.25$/);
    expect(failure.for).toBe('90s');
    expect(failure.annotations.runbook_url).toBe(
      'https://runbooks.example.com/agents#agenttaskfailureratiohigh',
    );
    expect(rule(groups, 'agent-fleet.batch', AgentAlert.NO_TASK_COMPLETED).expr).toContain('[3h]');
  });

  test('kube-state-metrics series are scoped by the workload’s pod and Job names', () => {
    const groups = rulesOf(
      synthFleet({ externalMetricLabels: { kubeStateMetricsNamespace: 'exported_namespace' } }),
    );
    expect(rule(groups, 'agent-fleet.batch', AgentAlert.OOM_KILLED).expr).toContain(
      `${KubeStateMetrics.podContainerStatusTerminatedReason}{exported_namespace="agents",pod=~"batch-([0-9]+-)?[a-z0-9]{5}",reason="OOMKilled"}`,
    );
    expect(rule(groups, 'agent-fleet.batch', AgentAlert.NO_TASK_COMPLETED).expr).toContain(
      `${KubeStateMetrics.jobStatusActive}{exported_namespace="agents",job_name="batch"}`,
    );
  });

  test('every alert expression names only contract or documented external metrics', () => {
    const groups = rulesOf(synthFleet());
    const exprs = groups.flatMap((g: Manifest) => g.rules.map((r: Manifest) => r.expr));
    expect(exprs.length).toBeGreaterThan(10);
    for (const expr of exprs) {
      expect(metricNames(expr).length).toBeGreaterThan(0);
      expect({ expr, unknown: unknownMetrics(expr) }).toEqual({ expr, unknown: [] });
    }
  });

  test('the example app synthesizes the whole stack in one namespace', () => {
    const objects = synthValid(new AgentFleetChart(Testing.app(), 'agent-fleet'));
    const kinds = objects.map((o) => o.kind);
    for (const kind of [
      'Job',
      'ScaledJob',
      'TriggerAuthentication',
      'PersistentVolumeClaim',
      'PodDisruptionBudget',
    ]) {
      expect(kinds).toContain(kind);
    }
    for (const kind of [
      'LimitRange',
      'NetworkPolicy',
      'Service',
      'PodMonitor',
      'PrometheusRule',
      'ConfigMap',
    ]) {
      expect(kinds).toContain(kind);
    }
    expect(new Set(objects.map((o) => o.metadata.namespace))).toEqual(new Set(['agents']));
    expect(only(objects, 'PrometheusRule').metadata).toMatchObject({
      name: 'agent-fleet-alerts',
      labels: { release: 'kube-prometheus-stack' },
    });
    expect(only(objects, 'ConfigMap').metadata.name).toBe('agent-fleet-dashboard');
  });

  test('snapshot', () => {
    expect(synthFleet({ monitorLabels: { release: 'kube-prometheus-stack' } })).toMatchSnapshot();
  });
});

// --- dashboard --------------------------------------------------------------------------------

describe('AgentObservability dashboard', () => {
  function dashboard(objects: Manifest[]) {
    const cm = only(objects, 'ConfigMap');
    const files = Object.keys(cm.data);
    expect(files).toHaveLength(1);
    return { cm, json: JSON.parse(cm.data[files[0]]) };
  }

  test('a ConfigMap labelled for the Grafana sidecar holding valid dashboard JSON', () => {
    const { cm, json } = dashboard(synthFleet());
    expect(cm.metadata.labels).toEqual({ grafana_dashboard: '1' });
    expect(json.schemaVersion).toBe(DASHBOARD_SCHEMA_VERSION);
    expect(json.title).toBe('Agent fleet (agents)');
    expect(json.panels.map((p: Manifest) => p.title)).toEqual([
      'Tasks/s by status',
      'Task duration p50 / p95 / p99',
      'LLM tokens/s by model',
      'Tasks in flight',
      'Queue depth vs running Jobs',
      'Checkpoint write latency',
      'Restarts and OOM kills (per hour)',
      'Dead-lettered tasks/s and open circuit breakers',
    ]);
    const ids = new Set<number>();
    for (const p of json.panels) {
      ids.add(p.id);
      expect(p.gridPos).toEqual({
        h: expect.any(Number),
        w: expect.any(Number),
        x: expect.any(Number),
        y: expect.any(Number),
      });
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      expect(p.targets.length).toBeGreaterThan(0);
      const refIds = p.targets.map((t: Manifest) => t.refId);
      expect(new Set(refIds).size).toBe(refIds.length);
    }
    expect(ids.size).toBe(json.panels.length);
  });

  test('the duration panel asks for p50, p95 and p99 of the task-duration histogram', () => {
    const { json } = dashboard(synthFleet());
    const exprs = json.panels[1].targets.map((t: Manifest) => t.expr);
    expect(exprs).toHaveLength(3);
    expect(exprs.map((e: string) => /histogram_quantile\(([0-9.]+),/.exec(e)?.[1])).toEqual([
      '0.5',
      '0.95',
      '0.99',
    ]);
    for (const e of exprs) expect(e).toContain(`${Metrics.taskDuration}_bucket{`);
  });

  test('every dashboard query names only contract or documented external metrics', () => {
    const { json } = dashboard(synthFleet());
    const exprs: string[] = json.panels.flatMap((p: Manifest) => p.targets.map((t: Manifest) => t.expr));
    expect(exprs.length).toBeGreaterThanOrEqual(14);
    for (const expr of exprs) {
      expect(metricNames(expr).length).toBeGreaterThan(0);
      expect({ expr, unknown: unknownMetrics(expr) }).toEqual({ expr, unknown: [] });
    }
    // Every contract metric shows up somewhere on the dashboard except resumes.
    const used = new Set(exprs.flatMap(metricNames).map((n) => n.replace(/_bucket$/, '')));
    for (const m of Object.values(Metrics)) {
      if (m !== Metrics.taskResumes) expect(used).toContain(m);
    }
  });

  test('the label key and value are configurable, and the dashboard can be left out', () => {
    const { cm } = dashboard(
      synthFleet({ dashboard: { labelKey: 'grafana.example.com/dashboard', labelValue: 'agents' } }),
    );
    expect(cm.metadata.labels).toEqual({ 'grafana.example.com/dashboard': 'agents' });
    expect(synthFleet({ dashboard: { enabled: false } }).filter((o) => o.kind === 'ConfigMap')).toEqual([]);
  });
});

// --- failures ---------------------------------------------------------------------------------

describe('AgentObservability fails', () => {
  const fails = (props: Partial<AgentObservabilityProps>, pattern: RegExp) => {
    expect(() => fleet(props)).toThrow(AgentFleetValidationError);
    expect(() => fleet(props)).toThrow(pattern);
  };

  test('fails with no agents', () => {
    expect(() => new AgentObservability(newChart(), 'O', { agents: [] })).toThrow(
      /agents = \[\] is empty\. Fix: pass/,
    );
  });

  test('fails when a workload is listed twice', () => {
    const chart = newChart();
    const b = batch(chart);
    expect(() => new AgentObservability(chart, 'O', { agents: [b, b] })).toThrow(
      /agents = "batch" lists the same workload twice/,
    );
  });

  test('fails without a namespace', () => {
    const chart = Testing.chart();
    expect(() => new AgentObservability(chart, 'O', { agents: [batch(chart)] })).toThrow(
      /namespace = undefined is not set and the chart has no namespace/,
    );
  });

  test('fails on a failure ratio outside (0, 1]', () => {
    fails({ alerts: { failureRatio: 0 } }, /alerts\.failureRatio = 0 is not a fraction in \(0, 1\]/);
    fails({ alerts: { failureRatio: 1.5 } }, /alerts\.failureRatio = 1\.5/);
  });

  test('fails on a window that is not whole seconds', () => {
    fails(
      { alerts: { failureWindow: Duration.millis(1500) } },
      /alerts\.failureWindow = .* is not a whole number of seconds/,
    );
    fails({ alerts: { stallWindow: Duration.millis(0) } }, /alerts\.stallWindow/);
  });

  test('fails on a negative or fractional dead-letter threshold and a non-positive token ratio', () => {
    fails({ alerts: { deadLetteredThreshold: -1 } }, /alerts\.deadLetteredThreshold = -1/);
    fails({ alerts: { deadLetteredThreshold: 0.5 } }, /alerts\.deadLetteredThreshold = 0\.5/);
    fails({ alerts: { tokenBurnRatio: 0 } }, /alerts\.tokenBurnRatio = 0 is not a positive number/);
  });

  test('fails on bad label names, keys and URLs', () => {
    fails(
      { externalMetricLabels: { kedaNamespace: 'exported-namespace' } },
      /kedaNamespace = "exported-namespace" is not a Prometheus label name/,
    );
    fails({ dashboard: { labelKey: 'grafana dashboard' } }, /dashboard\.labelKey/);
    fails({ monitorLabels: { release: 'not valid!' } }, /monitorLabels\.release/);
    fails({ alerts: { runbookUrl: 'runbooks' } }, /alerts\.runbookUrl = "runbooks" is not an http\(s\) URL/);
  });
});

// --- promtool ---------------------------------------------------------------------------------

describe('alert rules under promtool', () => {
  beforeAll(() => {
    promtoolPath(); // downloads promtool on first use (see test/support/promtool.ts)
  }, 300_000);

  test('promtool check rules accepts every group (and rejects a broken one)', () => {
    const groups = rulesOf(synthFleet({ alerts: { runbookUrl: 'https://runbooks.example.com/agents' } }));
    const result = checkRules(groups);
    expect(result.output).toMatch(/SUCCESS: 12 rules found/);
    expect(result.ok).toBe(true);
    const broken = [
      { name: 'broken', rules: [{ alert: 'X', expr: 'sum(rate(agent_tasks_completed_total[5m])' }] },
    ];
    expect(checkRules(broken).ok).toBe(false);
  });

  test('the example app’s rules pass promtool check rules', () => {
    const groups = rulesOf(synthValid(new AgentFleetChart(Testing.app(), 'agent-fleet')));
    const result = checkRules(groups);
    expect(result.output).toMatch(/SUCCESS/);
    expect(result.ok).toBe(true);
  });

  const w = `namespace="${NS}",${WORKLOAD_TARGET_LABEL}="workers"`;

  test('AgentTaskFailureRatioHigh fires for the failing workload only, after its for: duration', () => {
    const groups = rulesOf(synthFleet());
    const failure = rule(groups, 'agent-fleet.workers', AgentAlert.TASK_FAILURE_RATIO);
    const labels = { severity: 'warning', namespace: NS, workload: 'workers' };
    const annotations = {
      summary: failure.annotations.summary,
      description: failure.annotations.description.replace('{{ $value | humanizePercentage }}', '30%'),
    };
    const series = (sel: string, status: string, perMinute: number) => ({
      series: `${Metrics.tasksCompleted}{${sel},pod="p",status="${status}"}`,
      values: `0+${perMinute}x60`,
    });
    const result = testRules(groups, [
      {
        interval: '1m',
        input_series: [
          // workers: 30% failed.
          series(w, 'failed', 3),
          series(w, 'succeeded', 7),
          // batch: 5% failed, under the 10% threshold.
          series(`namespace="${NS}",${WORKLOAD_TARGET_LABEL}="batch"`, 'failed', 1),
          series(`namespace="${NS}",${WORKLOAD_TARGET_LABEL}="batch"`, 'succeeded', 19),
          // another namespace's workers, all failing: out of scope.
          series(`namespace="other",${WORKLOAD_TARGET_LABEL}="workers"`, 'failed', 5),
        ],
        alert_rule_test: [
          { eval_time: '5m', alertname: AgentAlert.TASK_FAILURE_RATIO, exp_alerts: [] }, // pending (for: 10m)
          {
            eval_time: '30m',
            alertname: AgentAlert.TASK_FAILURE_RATIO,
            exp_alerts: [{ exp_labels: labels, exp_annotations: annotations }],
          },
        ],
      },
    ]);
    expect(result.output).toMatch(/SUCCESS/);
    expect(result.ok).toBe(true);
  });

  test('the failure-ratio unit test fails when the expectation is wrong (the check can fail)', () => {
    const groups = rulesOf(synthFleet());
    const result = testRules(groups, [
      {
        interval: '1m',
        input_series: [{ series: `${Metrics.tasksCompleted}{${w},status="succeeded"}`, values: '0+10x60' }],
        alert_rule_test: [
          {
            eval_time: '30m',
            alertname: AgentAlert.TASK_FAILURE_RATIO,
            exp_alerts: [{ exp_labels: { severity: 'warning', namespace: NS, workload: 'workers' } }],
          },
        ],
      },
    ]);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/FAILED/);
  });

  test('AgentOOMKilled fires for an OOM-killed agent pod of the workload, for the window only', () => {
    const groups = rulesOf(synthFleet());
    const oom = rule(groups, 'agent-fleet.workers', AgentAlert.OOM_KILLED);
    const pod = 'workers-x7k2p-9qzt4';
    const ksm = (p: string, reason: string) =>
      `${KubeStateMetrics.podContainerStatusTerminatedReason}{namespace="${NS}",pod="${p}",container="agent",reason="${reason}"}`;
    const result = testRules(groups, [
      {
        interval: '1m',
        input_series: [
          { series: ksm(pod, 'OOMKilled'), values: '_x4 1x4' },
          // Another workload's pod and a plain error: not this alert.
          { series: ksm('other-x7k2p-9qzt4', 'OOMKilled'), values: '1x8' },
          { series: ksm('workers-abcde-fghij', 'Error'), values: '1x8' },
        ],
        alert_rule_test: [
          { eval_time: '2m', alertname: AgentAlert.OOM_KILLED, exp_alerts: [] },
          {
            eval_time: '10m',
            alertname: AgentAlert.OOM_KILLED,
            exp_alerts: [
              {
                exp_labels: {
                  severity: 'warning',
                  namespace: NS,
                  workload: 'workers',
                  pod,
                  container: 'agent',
                },
                exp_annotations: {
                  summary: oom.annotations.summary,
                  description: oom.annotations.description
                    .replace('{{ $labels.container }}', 'agent')
                    .replace('{{ $labels.pod }}', pod),
                },
              },
            ],
          },
          // 15m after the last sample the kill is out of the window.
          { eval_time: '30m', alertname: AgentAlert.OOM_KILLED, exp_alerts: [] },
        ],
      },
    ]);
    expect(result.output).toMatch(/SUCCESS/);
    expect(result.ok).toBe(true);
  });

  test('AgentNoTaskCompleted fires while the queue holds tasks and nothing completes, even with no worker series', () => {
    const groups = rulesOf(synthFleet({ alerts: { stallWindow: Duration.minutes(30) } }));
    const queueDepth = `keda_scaler_metrics_value{exported_namespace="${NS}",namespace="keda",scaledObject="workers",scaler="rabbitMQScaler",triggerIndex="0",metric="s0-rabbitmq-agent-tasks",type="scaledjob"}`;
    const stalled = rule(groups, 'agent-fleet.workers', AgentAlert.NO_TASK_COMPLETED);
    const result = testRules(groups, [
      {
        interval: '1m',
        input_series: [{ series: queueDepth, values: '50x60' }],
        alert_rule_test: [
          {
            eval_time: '45m',
            alertname: AgentAlert.NO_TASK_COMPLETED,
            exp_alerts: [
              {
                exp_labels: { severity: 'critical', namespace: NS, workload: 'workers' },
                exp_annotations: stalled.annotations,
              },
            ],
          },
        ],
      },
      {
        interval: '1m',
        input_series: [
          { series: queueDepth, values: '50x60' },
          { series: `${Metrics.tasksCompleted}{${w},status="succeeded"}`, values: '0+1x60' },
        ],
        alert_rule_test: [{ eval_time: '45m', alertname: AgentAlert.NO_TASK_COMPLETED, exp_alerts: [] }],
      },
    ]);
    expect(result.output).toMatch(/SUCCESS/);
    expect(result.ok).toBe(true);
  });
});

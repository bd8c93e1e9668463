import {
  DeadLetterReasons,
  Defaults,
  Http,
  Metrics,
  SCRAPE_DISCOVERY_SECONDS,
  scrapeWaitSecondsFor,
} from '@agent-fleet/contract';
import { Chart, Duration, Testing } from 'cdk8s';
import fc from 'fast-check';
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
import { parsePromDuration } from '../testkit/prometheus';
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
      podMetricsEndpoints: [{ port: Http.portName, path: Http.metricsPath, interval: '30s' }],
    });
    expect(WORKLOAD_TARGET_LABEL).toBe('agent_fleet_dev_workload');
  });

  test('the scrape interval is written into the PodMonitor, and the workloads’ scrape wait follows it', () => {
    const { obs } = fleet();
    expect(obs.scrapeIntervalSeconds).toBe(Defaults.scrapeIntervalSeconds);
    expect(obs.scrapeWaitSeconds).toBe(scrapeWaitSecondsFor(Defaults.scrapeIntervalSeconds));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7200 }), (seconds) => {
        const { chart, obs } = fleet({ scrapeInterval: Duration.seconds(seconds) });
        const pm = only(synthValid(chart), 'PodMonitor');
        const interval: string = pm.spec.podMetricsEndpoints[0].interval;
        expect(parsePromDuration(interval)).toBe(seconds);
        expect(obs.scrapeWaitSeconds).toBe(seconds + SCRAPE_DISCOVERY_SECONDS);
      }),
      { numRuns: 25 },
    );
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
      'keda_scaler_metrics_value{exported_namespace="agents",scaledObject="workers",type="scaledjob",scaler!="llm-token-budget"}',
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
    const tokens = `${Metrics.llmTokens}{namespace="agents",agent_fleet_dev_workload="workers"}`;
    expect(r.expr).toBe(
      `sum(clamp_min(last_over_time(${tokens}[10m]) - (${tokens} offset 10m or last_over_time(${tokens}[10m]) * 0), 0)) * 60 / 600 > ${budget * 0.9}`,
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
    expect(failure.expr).toMatch(/\[30m\]\) \* 0\), 0\)\)\n> 0\.25$/);
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

  test("the example app synthesizes the agents' whole stack in one namespace", () => {
    // The example's model server lives in a namespace of its own (GPU quotas apart from the agents').
    const objects = synthValid(new AgentFleetChart(Testing.app(), 'agent-fleet')).filter(
      (o) => o.metadata.namespace !== 'llm-serving',
    );
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
    // The dashboard, and the evaluation batch's shard files.
    expect(
      objects
        .filter((o) => o.kind === 'ConfigMap')
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['agent-eval-tasks', 'agent-fleet-dashboard']);
  });

  test('every alert waits a for: of its own; an alert on events counted over a window waits less than the window', () => {
    const groups = rulesOf(synthFleet());
    for (const g of groups) {
      for (const r of g.rules) {
        expect({ alert: r.alert, for: typeof r.for }).toEqual({ alert: r.alert, for: 'string' });
        expect(parsePromDuration(r.for)).toBeGreaterThan(0);
      }
    }
    for (const alert of [AgentAlert.TASKS_DEAD_LETTERED, AgentAlert.OOM_KILLED]) {
      const r = rule(groups, 'agent-fleet.workers', alert);
      const window = parsePromDuration(/\[(\w+)\]/.exec(r.expr)![1]);
      expect({ alert, shorter: parsePromDuration(r.for) < window }).toEqual({ alert, shorter: true });
    }
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
      'Tasks per minute by status (5m average)',
      'Task duration p50 / p95 / p99 (tasks ended in 5m)',
      'LLM tokens per minute by model (5m average)',
      'Tasks in flight',
      'Queue depth vs running Jobs',
      'Checkpoint write latency (writes in 5m)',
      'Failed agent pods by reason (last 1h)',
      'Dead-lettered tasks per minute by reason (5m average), and open circuit breakers',
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

  test('fails on a for: of an event alert that its window cannot outlast', () => {
    fails(
      { alerts: { deadLetteredFor: Duration.minutes(15) } },
      /alerts\.deadLetteredFor = "900s" is not shorter than alerts\.deadLetteredWindow \(900s\).*never fire\. Fix: use a deadLetteredFor under 900s/,
    );
    fails(
      { alerts: { oomWindow: Duration.minutes(5), oomFor: Duration.minutes(10) } },
      /alerts\.oomFor = "600s" is not shorter than alerts\.oomWindow \(300s\)/,
    );
    fails(
      { alerts: { stallFor: Duration.seconds(0) } },
      /alerts\.stallFor = .* is not a whole number of seconds ≥ 1/,
    );
  });

  test('fails on a scrape interval that is not a whole number of seconds of at least 1', () => {
    fails(
      { scrapeInterval: Duration.millis(500) },
      /scrapeInterval = .* is not a whole number of seconds ≥ 1\. Fix: use e\.g\. Duration\.seconds\(1\)/,
    );
    fails({ scrapeInterval: Duration.millis(1500) }, /scrapeInterval = /);
  });
});

// --- promtool ---------------------------------------------------------------------------------

describe('alert rules under promtool', () => {
  beforeAll(() => {
    promtoolPath(); // downloads promtool on first use (see testkit/prometheus.ts)
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

  // --- series as short-lived agent pods produce them --------------------------------------------

  /** One sample a minute: nothing before minute `from`, then `values`, then stale (the pod ended). */
  const podSeries = (from: number, values: number[]) =>
    `${from > 0 ? `_x${from} ` : ''}${values.join(' ')} stale`;
  const wb = `namespace="${NS}",${WORKLOAD_TARGET_LABEL}="batch"`;
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const expectPass = (result: { ok: boolean; output: string }) => {
    expect(result.output).toMatch(/SUCCESS/);
    expect(result.ok).toBe(true);
  };

  test('AgentTasksDeadLettered counts series that start at a non-zero value: a pod that dead-letters once and exits, twenty one-task pods', () => {
    const groups = rulesOf(synthFleet());
    const dead = rule(groups, 'agent-fleet.workers', AgentAlert.TASKS_DEAD_LETTERED);
    const series = (pod: string, reason: string) =>
      `${Metrics.deadLettered}{${w},pod="${pod}",reason="${reason}"}`;
    const expected = (reason: string, value: number) => ({
      exp_labels: { severity: 'warning', namespace: NS, workload: 'workers', reason },
      exp_annotations: {
        summary: dead.annotations.summary,
        description: dead.annotations.description
          .replace('{{ $value | humanize }}', String(value))
          .replace('{{ $labels.reason }}', reason),
      },
    });
    const result = testRules(groups, [
      {
        interval: '1m',
        input_series: [
          // First scraped after its one invalid-JSON message, then gone: never seen at 0.
          {
            series: series('workers-aaaaa-bbbbb', DeadLetterReasons.invalidJson),
            values: podSeries(3, [1, 1]),
          },
          // Twenty pods, each dead-lettering its one task, each first scraped holding 1.
          ...range(20).map((i) => ({
            series: series(`workers-m${String(i).padStart(4, '0')}-xxxxx`, DeadLetterReasons.maxAttempts),
            values: podSeries(2 + (i % 5), [1]),
          })),
          // Scraped at 0 before its event: counted as increase() would count it.
          {
            series: series('workers-ccccc-ddddd', DeadLetterReasons.permanentError),
            values: podSeries(0, [0, 0, 0, 1, 1, 1]),
          },
        ],
        alert_rule_test: [
          {
            eval_time: '10m',
            alertname: AgentAlert.TASKS_DEAD_LETTERED,
            exp_alerts: [
              expected(DeadLetterReasons.invalidJson, 1),
              expected(DeadLetterReasons.maxAttempts, 20),
              expected(DeadLetterReasons.permanentError, 1),
            ],
          },
          // Out of the 15m window.
          { eval_time: '30m', alertname: AgentAlert.TASKS_DEAD_LETTERED, exp_alerts: [] },
        ],
      },
    ]);
    expectPass(result);
  });

  test('AgentTaskFailureRatioHigh sees a batch of one-task pods, each first scraped holding its result', () => {
    const groups = rulesOf(synthFleet());
    const failure = rule(groups, 'agent-fleet.batch', AgentAlert.TASK_FAILURE_RATIO);
    // Pod i starts and ends at minute 2i + 1; pods 0, 3, 6 and 9 fail. The healthy workers' pods
    // all succeed.
    const pods = (sel: string, failed: (i: number) => boolean) =>
      range(10).flatMap((i) => [
        {
          series: `${Metrics.tasksCompleted}{${sel},pod="p${i}",status="failed"}`,
          values: podSeries(2 * i + 1, [failed(i) ? 1 : 0]),
        },
        {
          series: `${Metrics.tasksCompleted}{${sel},pod="p${i}",status="succeeded"}`,
          values: podSeries(2 * i + 1, [failed(i) ? 0 : 1]),
        },
      ]);
    const result = testRules(groups, [
      {
        interval: '1m',
        input_series: [...pods(wb, (i) => i % 3 === 0), ...pods(w, () => false)],
        alert_rule_test: [
          {
            eval_time: '15m',
            alertname: AgentAlert.TASK_FAILURE_RATIO,
            exp_alerts: [
              {
                // 3 of the 8 pods that ended in the last 15m failed.
                exp_labels: { severity: 'warning', namespace: NS, workload: 'batch' },
                exp_annotations: {
                  summary: failure.annotations.summary,
                  description: failure.annotations.description.replace(
                    '{{ $value | humanizePercentage }}',
                    '37.5%',
                  ),
                },
              },
            ],
          },
        ],
      },
    ]);
    expectPass(result);
  });

  test('AgentNoTaskCompleted stays silent when work arrives after a quiet period and when a batch Job starts; it fires once the stall lasted its window and for:', () => {
    const groups = rulesOf(synthFleet({ alerts: { stallWindow: Duration.minutes(30) } }));
    const stalled = (workload: string) => ({
      exp_labels: { severity: 'critical', namespace: NS, workload },
      exp_annotations: rule(groups, `agent-fleet.${workload}`, AgentAlert.NO_TASK_COMPLETED).annotations,
    });
    // The ScaledJob's queue is empty for two hours (a fleet scaled to zero), then holds 50 tasks;
    // the batch Job starts at minute 60 with 5 running pods. Both keep their work to the end.
    const backlog = [
      {
        series: `keda_scaler_metrics_value{exported_namespace="${NS}",namespace="keda",scaledObject="workers",scaler="rabbitMQScaler",triggerIndex="0",metric="s0-rabbitmq-agent-tasks",type="scaledjob"}`,
        values: '0x119 50x59',
      },
      { series: `kube_job_status_active{namespace="${NS}",job_name="batch"}`, values: '_x60 5x119' },
    ];
    // One-task pods finishing every 3 minutes from `from` to the end, each first scraped holding
    // its result.
    const completions = (sel: string, from: number) =>
      range(Math.floor((179 - from) / 3)).map((j) => ({
        series: `${Metrics.tasksCompleted}{${sel},pod="p${j}",status="succeeded"}`,
        values: podSeries(from + 3 * j, [1]),
      }));
    const silent = (minutes: number[]) =>
      minutes.map((m) => ({ eval_time: `${m}m`, alertname: AgentAlert.NO_TASK_COMPLETED, exp_alerts: [] }));
    const result = testRules(groups, [
      {
        // Work arrives and gets done: never.
        interval: '1m',
        input_series: [...backlog, ...completions(w, 122), ...completions(wb, 62)],
        alert_rule_test: silent([61, 62, 100, 121, 122, 165]),
      },
      {
        // Work arrives and nothing completes: only once it waited the whole 30m window, plus 5m.
        interval: '1m',
        input_series: backlog,
        alert_rule_test: [
          ...silent([61, 94]),
          { eval_time: '96m', alertname: AgentAlert.NO_TASK_COMPLETED, exp_alerts: [stalled('batch')] },
          { eval_time: '121m', alertname: AgentAlert.NO_TASK_COMPLETED, exp_alerts: [stalled('batch')] },
          { eval_time: '149m', alertname: AgentAlert.NO_TASK_COMPLETED, exp_alerts: [stalled('batch')] },
          {
            eval_time: '156m',
            alertname: AgentAlert.NO_TASK_COMPLETED,
            exp_alerts: [stalled('batch'), stalled('workers')],
          },
        ],
      },
    ]);
    expectPass(result);
  });

  test('AgentCircuitBreakerOpen holds across the agent pods that come and go during an outage, not for one short open', () => {
    const groups = rulesOf(synthFleet());
    const open = rule(groups, 'agent-fleet.workers', AgentAlert.CIRCUIT_OPEN);
    const gauge = (sel: string, pod: string, dependency: string) =>
      `${Metrics.circuitOpen}{${sel},pod="${pod}",dependency="${dependency}"}`;
    const llm = (text: string) => text.replaceAll('{{ $labels.dependency }}', 'llm');
    const result = testRules(groups, [
      {
        interval: '1m',
        input_series: [
          // Six pods one after another, each with its breaker open for its two scraped minutes,
          // then a minute with no pod.
          ...range(6).map((k) => ({
            series: gauge(w, `workers-p${k}`, 'llm'),
            values: podSeries(3 * k, [1, 1]),
          })),
          // One pod's breaker open for one scrape: a blip, not an outage.
          { series: gauge(wb, 'batch-0-abcde', 'search'), values: podSeries(2, [1]) },
        ],
        alert_rule_test: [
          { eval_time: '4m', alertname: AgentAlert.CIRCUIT_OPEN, exp_alerts: [] },
          {
            eval_time: '10m',
            alertname: AgentAlert.CIRCUIT_OPEN,
            exp_alerts: [
              {
                exp_labels: { severity: 'warning', namespace: NS, workload: 'workers', dependency: 'llm' },
                exp_annotations: {
                  summary: llm(open.annotations.summary),
                  description: llm(open.annotations.description),
                },
              },
            ],
          },
          { eval_time: '30m', alertname: AgentAlert.CIRCUIT_OPEN, exp_alerts: [] },
        ],
      },
    ]);
    expectPass(result);
  });

  test('AgentQueueBacklogGrowingAtMaxReplicas: a burst the fleet drains at its maximum never fires it; a queue that keeps growing does', () => {
    const { chart, agents } = fleet();
    const max = (agents[1] as AgentScaledJob).maxReplicaCount;
    const groups = rulesOf(synthValid(chart));
    const growing = rule(groups, 'agent-fleet.workers', AgentAlert.BACKLOG_AT_MAX);
    const queue = `keda_scaler_metrics_value{exported_namespace="${NS}",namespace="keda",scaledObject="workers",scaler="rabbitMQScaler",triggerIndex="0",metric="s0-rabbitmq-agent-tasks",type="scaledjob"}`;
    // All maxReplicaCount Jobs run from minute 5.
    const jobs = range(max).map((i) => ({
      series: `kube_job_status_active{namespace="${NS}",job_name="workers-j${String(i).padStart(4, '0')}"}`,
      values: '_x5 1x55',
    }));
    const at = (m: number, alerts: unknown[]) => ({
      eval_time: `${m}m`,
      alertname: AgentAlert.BACKLOG_AT_MAX,
      exp_alerts: alerts,
    });
    const firing = {
      exp_labels: { severity: 'warning', namespace: NS, workload: 'workers' },
      exp_annotations: growing.annotations,
    };
    const result = testRules(groups, [
      {
        // 1000 tasks arrive at minute 5 and drain at 10 a minute.
        interval: '1m',
        input_series: [...jobs, { series: queue, values: '0x4 1000-10x55' }],
        alert_rule_test: [at(10, []), at(20, []), at(25, []), at(40, [])],
      },
      {
        // The queue grows by 10 a minute all along.
        interval: '1m',
        input_series: [...jobs, { series: queue, values: '100+10x60' }],
        alert_rule_test: [at(19, []), at(21, [firing]), at(40, [firing])],
      },
    ]);
    expectPass(result);
  });
});

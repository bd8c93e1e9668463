import { Defaults, Http, scrapeWaitSecondsFor } from '@agent-fleet/contract';
import { type ApiObject, Chart, Duration, Names } from 'cdk8s';
import { k8s } from 'cdk8s-plus-30';
import { Construct } from 'constructs';
import {
  PodMonitor,
  type PodMonitorSpecSelectorMatchExpressions,
  PrometheusRule,
  PrometheusRuleSpecGroupsRulesExpr,
} from '../../imports/monitoring-monitoring.coreos.com';
import { AgentScaledJob } from '../agent-scaled-job';
import { refuseCredentialsInOutput } from '../internal/credential-scan';
import { promDuration } from '../internal/promql';
import {
  invalid,
  requireDnsLabel,
  requireDnsSubdomain,
  requireInt,
  requireLabelValue,
  requireSeconds,
} from '../internal/validation';
import { type IAgentWorkload, WORKLOAD_LABEL } from '../workload';
import {
  type AlertRuleGroup,
  type AlertTarget,
  agentAlertGroups,
  type ResolvedAlertSettings,
} from './alerts';
import { agentDashboard } from './dashboard';

/** Thresholds and windows of the fleet's alerts. */
export interface AgentAlertOptions {
  /**
   * Share of completed tasks that failed, in (0, 1], above which `AgentTaskFailureRatioHigh` fires.
   * @default 0.1
   */
  readonly failureRatio?: number;
  /**
   * Window over which the failure ratio is computed.
   * @default Duration.minutes(15)
   */
  readonly failureWindow?: Duration;
  /**
   * How long the ratio must stay above the threshold before the alert fires.
   * @default Duration.minutes(10)
   */
  readonly failureFor?: Duration;
  /**
   * Dead-lettered tasks within `deadLetteredWindow` tolerated before `AgentTasksDeadLettered` fires.
   * @default 0 (any dead-lettered task)
   */
  readonly deadLetteredThreshold?: number;
  /**
   * Window over which dead-lettered tasks are counted.
   * @default Duration.minutes(15)
   */
  readonly deadLetteredWindow?: Duration;
  /**
   * How long the count must stay above the threshold before `AgentTasksDeadLettered` fires; shorter
   * than `deadLetteredWindow` (a dead letter stays in the count for that window). Dead letters of
   * one burst, across pods and reasons, then reach Alertmanager together.
   * @default Duration.minutes(1)
   */
  readonly deadLetteredFor?: Duration;
  /**
   * How long an OOM kill keeps `AgentOOMKilled` firing (and how far back it looks; pods of finished
   * Jobs disappear from kube-state-metrics when the Job is cleaned up).
   * @default Duration.minutes(15)
   */
  readonly oomWindow?: Duration;
  /**
   * How long an OOM kill must be seen before `AgentOOMKilled` fires; shorter than `oomWindow`.
   * @default Duration.minutes(1)
   */
  readonly oomFor?: Duration;
  /**
   * How long the queue must grow while the ScaledJob runs maxReplicaCount Jobs; the growth rate is
   * measured over a third of it, so a burst the fleet then drains does not count.
   * @default Duration.minutes(15)
   */
  readonly backlogWindow?: Duration;
  /**
   * How long a circuit breaker must stay open before `AgentCircuitBreakerOpen` fires.
   * @default Duration.minutes(5)
   */
  readonly circuitOpenFor?: Duration;
  /**
   * `AgentNoTaskCompleted` fires when no task completed for this long while work waited all along
   * (the queue held tasks, or the Job had running pods, since the window's start). Make it longer
   * than a fleet's start (KEDA's poll, scheduling, image pull) plus your slowest normal task.
   * @default Duration.hours(1)
   */
  readonly stallWindow?: Duration;
  /**
   * How long the stall must last beyond `stallWindow` before `AgentNoTaskCompleted` fires.
   * @default Duration.minutes(5)
   */
  readonly stallFor?: Duration;
  /**
   * Share of the capacity guard's token budget (tokens/min) above which `AgentTokenBurnAboveBudget`
   * fires; > 0. The alert exists only for workloads with `llmCapacity`.
   * @default 1 (the budget itself)
   */
  readonly tokenBurnRatio?: number;
  /**
   * Window of the token rate, and how long it must stay above the budget.
   * @default Duration.minutes(10)
   */
  readonly tokenBurnWindow?: Duration;
  /**
   * Base URL of the runbook (e.g. your copy of docs/observability.md); each alert gets
   * `runbook_url: <url>#<alert name in lower case>`.
   * @default - no runbook_url annotation
   */
  readonly runbookUrl?: string;
}

/** The Grafana dashboard ConfigMap. */
export interface AgentDashboardOptions {
  /**
   * Synthesize the dashboard ConfigMap.
   * @default true
   */
  readonly enabled?: boolean;
  /**
   * Label the Grafana sidecar looks for (`sidecar.dashboards.label`).
   * @default "grafana_dashboard"
   */
  readonly labelKey?: string;
  /**
   * Value of that label (`sidecar.dashboards.labelValue`).
   * @default "1"
   */
  readonly labelValue?: string;
  /**
   * Dashboard title.
   * @default "Agent fleet (<namespace>)"
   */
  readonly title?: string;
}

/** Label names under which the exporters' series carry the namespace of the object they describe. */
export interface ExternalMetricLabels {
  /**
   * Namespace label of kube-state-metrics series. kube-prometheus-stack scrapes kube-state-metrics with
   * `honorLabels: true`, which keeps `namespace`; without it Prometheus renames the series' label to
   * `exported_namespace`.
   * @default "namespace"
   */
  readonly kubeStateMetricsNamespace?: string;
  /**
   * Namespace label of KEDA operator series. Scraped without `honorLabels`, the operator pod's own
   * `namespace` target label wins and the ScaledJob's namespace moves to `exported_namespace`.
   * @default "exported_namespace"
   */
  readonly kedaNamespace?: string;
}

/** Props of {@link AgentObservability}. */
export interface AgentObservabilityProps {
  /** The agent workloads to watch (AgentJob, AgentScaledJob); at least one. */
  readonly agents: IAgentWorkload[];
  /**
   * Base name of the PodMonitor (`<name>`), PrometheusRule (`<name>-alerts`) and dashboard
   * ConfigMap (`<name>-dashboard`).
   * @default - derived from the construct path
   */
  readonly name?: string;
  /**
   * Namespace of the agents, used in every alert and dashboard query.
   * @default - the chart's namespace (required when the chart has none)
   */
  readonly namespace?: string;
  /**
   * Synthesize a PodMonitor that scrapes the agents' metrics port. Turn it off when Prometheus
   * finds the pods by other means; its scrape config must then copy the pod label
   * `agent-fleet.dev/workload` to the target label `agent_fleet_dev_workload` (a
   * `labelmap: __meta_kubernetes_pod_label_(.+)` does), which every worker query selects on.
   * @default true
   */
  readonly podMonitor?: boolean;
  /**
   * How often Prometheus scrapes the agents: the PodMonitor's `interval` (or your own scrape
   * config's, without the PodMonitor). Before exiting, a worker waits for one more scrape of its
   * last metric changes, at most `AGENT_SCRAPE_WAIT_SECONDS`: its pods need
   * {@link AgentObservability.scrapeWaitSeconds} for this interval (the worker's default fits the
   * default interval).
   * @default Duration.seconds(30)
   */
  readonly scrapeInterval?: Duration;
  /**
   * Labels on the PodMonitor and PrometheusRule, for the Prometheus resource's
   * `podMonitorSelector` / `ruleSelector` (kube-prometheus-stack: `release: <release name>`).
   * @default - none
   */
  readonly monitorLabels?: Record<string, string>;
  /**
   * Alert thresholds and windows.
   * @default - see AgentAlertOptions
   */
  readonly alerts?: AgentAlertOptions;
  /**
   * The Grafana dashboard.
   * @default - a dashboard ConfigMap labelled grafana_dashboard: "1"
   */
  readonly dashboard?: AgentDashboardOptions;
  /**
   * Where the exporters put the namespace label.
   * @default - kube-state-metrics `namespace`, KEDA `exported_namespace`
   */
  readonly externalMetricLabels?: ExternalMetricLabels;
}

const DEFAULT_FAILURE_RATIO = 0.1;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/**
 * Observability for agent fleets: a metrics Service per workload, a PodMonitor, a PrometheusRule with
 * the alerts that matter for fleets and a Grafana dashboard ConfigMap.
 *
 * Worker metrics carry no per-agent label (fact 11: the scrape target already identifies the pod).
 * Queries select one workload by `namespace` and the target label `agent_fleet_dev_workload`, which
 * the PodMonitor copies from the pod's `agent-fleet.dev/workload` label. kube-state-metrics series are
 * selected by namespace and the workload's pod / Job name pattern (no label allow-list needed), KEDA
 * series by the ScaledJob's name. Assumes kube-state-metrics and the KEDA operator are scraped.
 */
export class AgentObservability extends Construct {
  /** One ClusterIP Service per workload, over its pods' metrics port. */
  readonly services: k8s.KubeService[];
  /** The PodMonitor, unless `podMonitor: false`. */
  readonly podMonitor?: PodMonitor;
  readonly prometheusRule: PrometheusRule;
  /** The rule groups in the PrometheusRule (one per workload), as plain data. */
  readonly ruleGroups: AlertRuleGroup[];
  /** The dashboard ConfigMap, unless disabled. */
  readonly dashboard?: k8s.KubeConfigMap;
  /** The dashboard JSON. */
  readonly dashboardJson: Record<string, unknown>;
  readonly namespace: string;
  /** Seconds between scrapes of the agents (the PodMonitor's `interval`). */
  readonly scrapeIntervalSeconds: number;
  /**
   * The `AGENT_SCRAPE_WAIT_SECONDS` the watched workloads' pods need for {@link scrapeIntervalSeconds}:
   * the interval plus the contract's allowance for Prometheus to discover a new pod.
   */
  readonly scrapeWaitSeconds: number;

  constructor(scope: Construct, id: string, props: AgentObservabilityProps) {
    super(scope, id);
    refuseCredentialsInOutput(this);
    const agents = props.agents ?? [];
    if (agents.length === 0) {
      invalid(this, 'agents', agents, 'is empty', 'pass the AgentJob / AgentScaledJob constructs to watch');
    }
    const seen = new Set<string>();
    for (const a of agents) {
      if (seen.has(a.name)) {
        invalid(this, 'agents', a.name, 'lists the same workload twice', 'list each workload once');
      }
      seen.add(a.name);
    }
    const namespace = props.namespace ?? Chart.of(this).namespace;
    if (namespace === undefined) {
      invalid(
        this,
        'namespace',
        namespace,
        'is not set and the chart has no namespace',
        "set namespace (the agents' namespace) or give the chart one",
      );
    }
    this.namespace = requireDnsLabel(this, 'namespace', namespace);
    const base = requireDnsSubdomain(this, 'name', props.name ?? Names.toDnsLabel(this));
    const monitorLabels = this.labels('monitorLabels', props.monitorLabels ?? {});
    this.scrapeIntervalSeconds = requireSeconds(
      this,
      'scrapeInterval',
      props.scrapeInterval ?? Duration.seconds(Defaults.scrapeIntervalSeconds),
      1,
    );
    this.scrapeWaitSeconds = scrapeWaitSecondsFor(this.scrapeIntervalSeconds);
    const settings = this.resolveSettings(props);

    this.services = agents.map(
      (agent) =>
        new k8s.KubeService(this, `Service-${agent.name}`, {
          metadata: {
            name: requireDnsLabel(
              this,
              'agents[].name (Service name <name>-metrics)',
              `${agent.name}-metrics`,
            ),
            labels: { ...agent.selectorLabels },
          },
          spec: {
            type: 'ClusterIP',
            selector: { ...agent.selectorLabels },
            ports: [
              {
                name: Http.portName,
                port: Defaults.metricsPort,
                targetPort: k8s.IntOrString.fromString(Http.portName),
                protocol: 'TCP',
              },
            ],
          },
        }),
    );

    if (props.podMonitor ?? true) {
      const matchExpressions: PodMonitorSpecSelectorMatchExpressions[] = [
        { key: WORKLOAD_LABEL, operator: 'In', values: agents.map((a) => a.name) },
      ];
      this.podMonitor = new PodMonitor(this, 'PodMonitor', {
        metadata: { name: base, labels: monitorLabels },
        spec: {
          selector: { matchExpressions },
          namespaceSelector: { matchNames: [this.namespace] },
          podTargetLabels: [WORKLOAD_LABEL],
          podMetricsEndpoints: [
            {
              port: Http.portName,
              path: Http.metricsPath,
              interval: promDuration(this.scrapeIntervalSeconds),
            },
          ],
        },
      });
    }

    const targets: AlertTarget[] = agents.map((a) => ({
      name: a.name,
      scaling: a.scaling,
      maxReplicaCount: a instanceof AgentScaledJob ? a.maxReplicaCount : undefined,
      tokenBudgetPerMinute: a instanceof AgentScaledJob ? a.llmTokenBudgetPerMinute : undefined,
    }));
    this.ruleGroups = agentAlertGroups(targets, settings);
    this.prometheusRule = new PrometheusRule(this, 'Rules', {
      metadata: { name: `${base}-alerts`, labels: monitorLabels },
      spec: {
        groups: this.ruleGroups.map((g) => ({
          name: g.name,
          rules: g.rules.map((r) => ({
            alert: r.alert,
            expr: PrometheusRuleSpecGroupsRulesExpr.fromString(r.expr),
            for: r.for,
            labels: r.labels,
            annotations: r.annotations,
          })),
        })),
      },
    });

    const dash = props.dashboard ?? {};
    this.dashboardJson = agentDashboard(
      dash.title ?? `Agent fleet (${this.namespace})`,
      `agent-fleet-${this.namespace}`.slice(0, 40),
      targets,
      settings,
    );
    if (dash.enabled ?? true) {
      const key = this.labelKey('dashboard.labelKey', dash.labelKey ?? 'grafana_dashboard');
      const value = requireLabelValue(this, 'dashboard.labelValue', dash.labelValue ?? '1');
      this.dashboard = new k8s.KubeConfigMap(this, 'Dashboard', {
        metadata: { name: `${base}-dashboard`, labels: { [key]: value } },
        data: { [`${base}.json`]: JSON.stringify(this.dashboardJson, null, 2) },
      });
    }
  }

  /** Every object synthesized, for tests and for users who add labels or annotations. */
  get apiObjects(): ApiObject[] {
    return [
      ...this.services,
      ...(this.podMonitor ? [this.podMonitor] : []),
      this.prometheusRule,
      ...(this.dashboard ? [this.dashboard] : []),
    ];
  }

  private resolveSettings(props: AgentObservabilityProps): ResolvedAlertSettings {
    const a = props.alerts ?? {};
    const window = (prop: string, d: Duration | undefined, fallback: Duration) =>
      requireSeconds(this, `alerts.${prop}`, d ?? fallback, 1);
    const failureRatio = a.failureRatio ?? DEFAULT_FAILURE_RATIO;
    if (!Number.isFinite(failureRatio) || failureRatio <= 0 || failureRatio > 1) {
      invalid(
        this,
        'alerts.failureRatio',
        failureRatio,
        'is not a fraction in (0, 1]',
        'use e.g. 0.1 for 10%',
      );
    }
    const tokenBurnRatio = a.tokenBurnRatio ?? 1;
    if (!Number.isFinite(tokenBurnRatio) || tokenBurnRatio <= 0) {
      invalid(
        this,
        'alerts.tokenBurnRatio',
        tokenBurnRatio,
        'is not a positive number',
        'use 1 to alert at the budget, 0.9 to alert before it',
      );
    }
    if (a.runbookUrl !== undefined && !/^https?:\/\/\S+$/.test(a.runbookUrl)) {
      invalid(
        this,
        'alerts.runbookUrl',
        a.runbookUrl,
        'is not an http(s) URL',
        'use e.g. https://runbooks.example.com/agents',
      );
    }
    const ext = props.externalMetricLabels ?? {};
    const deadLetteredWindow = window('deadLetteredWindow', a.deadLetteredWindow, Duration.minutes(15));
    const oomWindow = window('oomWindow', a.oomWindow, Duration.minutes(15));
    return {
      namespace: this.namespace,
      kubeStateMetricsNamespaceLabel: this.labelName(
        'externalMetricLabels.kubeStateMetricsNamespace',
        ext.kubeStateMetricsNamespace ?? 'namespace',
      ),
      kedaNamespaceLabel: this.labelName(
        'externalMetricLabels.kedaNamespace',
        ext.kedaNamespace ?? 'exported_namespace',
      ),
      failureRatio,
      failureWindow: window('failureWindow', a.failureWindow, Duration.minutes(15)),
      failureFor: requireSeconds(this, 'alerts.failureFor', a.failureFor ?? Duration.minutes(10), 0),
      deadLetteredThreshold: requireInt(
        this,
        'alerts.deadLetteredThreshold',
        a.deadLetteredThreshold ?? 0,
        0,
      ),
      deadLetteredWindow,
      deadLetteredFor: this.forWithin(
        'deadLetteredFor',
        a.deadLetteredFor ?? Duration.minutes(1),
        'deadLetteredWindow',
        deadLetteredWindow,
      ),
      oomWindow,
      oomFor: this.forWithin('oomFor', a.oomFor ?? Duration.minutes(1), 'oomWindow', oomWindow),
      backlogWindow: window('backlogWindow', a.backlogWindow, Duration.minutes(15)),
      circuitOpenFor: requireSeconds(
        this,
        'alerts.circuitOpenFor',
        a.circuitOpenFor ?? Duration.minutes(5),
        0,
      ),
      // A pod's successor is created within a KEDA poll and scraped within scrapeWaitSeconds.
      circuitGap: 2 * this.scrapeWaitSeconds,
      stallWindow: window('stallWindow', a.stallWindow, Duration.hours(1)),
      stallFor: window('stallFor', a.stallFor, Duration.minutes(5)),
      tokenBurnRatio,
      tokenBurnWindow: window('tokenBurnWindow', a.tokenBurnWindow, Duration.minutes(10)),
      runbookUrl: a.runbookUrl,
    };
  }

  /**
   * A `for:` of an alert on events counted over a window: the count stays up for the window only,
   * so a `for:` as long fires never.
   */
  private forWithin(prop: string, value: Duration, windowProp: string, windowSeconds: number): number {
    const seconds = requireSeconds(this, `alerts.${prop}`, value, 1);
    if (seconds >= windowSeconds) {
      invalid(
        this,
        `alerts.${prop}`,
        `${seconds}s`,
        `is not shorter than alerts.${windowProp} (${windowSeconds}s): an event leaves the count after the window, so the alert would never fire`,
        `use a ${prop} under ${windowSeconds}s, e.g. Duration.minutes(1), or a longer ${windowProp}`,
      );
    }
    return seconds;
  }

  private labelName(prop: string, value: string): string {
    if (!LABEL_NAME.test(value)) {
      invalid(
        this,
        prop,
        value,
        'is not a Prometheus label name',
        'use letters, digits and "_", not starting with a digit',
      );
    }
    return value;
  }

  private labelKey(prop: string, value: string): string {
    if (!LABEL_KEY.test(value)) {
      invalid(this, prop, value, 'is not a Kubernetes label key', 'use e.g. grafana_dashboard');
    }
    return value;
  }

  private labels(prop: string, labels: Record<string, string>): Record<string, string> {
    for (const [k, v] of Object.entries(labels)) {
      this.labelKey(`${prop} key`, k);
      requireLabelValue(this, `${prop}.${k}`, v);
    }
    return labels;
  }
}

/**
 * The fleet's alert rules as plain data: one rule group per agent workload. Pure (no constructs), so
 * the construct, the docs and the tests see the same expressions.
 *
 * @module
 */
import { Metrics } from '@agent-fleet/contract';
import { KEDA_SCALED_JOB_TYPE, KedaMetrics, KubeStateMetrics } from '../internal/external-metrics';
import {
  jobNameMatcher,
  type Matcher,
  podNamePattern,
  promDuration,
  selector,
  WORKLOAD_TARGET_LABEL,
} from '../internal/promql';
import { TOKEN_BUDGET_TRIGGER_NAME } from '../scaling/token-budget';
import { counterIncrease } from './counter-increase';

/** Severity label of an alert, for Alertmanager routing. */
export enum AlertSeverity {
  /** Wake someone: the fleet is losing work or money now. */
  CRITICAL = 'critical',
  /** Look at it today. */
  WARNING = 'warning',
  /** For dashboards and tickets. */
  INFO = 'info',
}

/** Names of the alerts (the `alert` field), also the anchors in docs/observability.md. */
export const AgentAlert = {
  TASK_FAILURE_RATIO: 'AgentTaskFailureRatioHigh',
  TASKS_DEAD_LETTERED: 'AgentTasksDeadLettered',
  OOM_KILLED: 'AgentOOMKilled',
  BACKLOG_AT_MAX: 'AgentQueueBacklogGrowingAtMaxReplicas',
  CIRCUIT_OPEN: 'AgentCircuitBreakerOpen',
  NO_TASK_COMPLETED: 'AgentNoTaskCompleted',
  TOKEN_BURN: 'AgentTokenBurnAboveBudget',
} as const;

/** One agent workload as the rules see it. */
export interface AlertTarget {
  readonly name: string;
  readonly scaling: 'fixed' | 'queue-driven';
  /** ScaledJob's maxReplicaCount (queue-driven only). */
  readonly maxReplicaCount?: number;
  /** Token budget per minute (only when the workload has an LLM capacity guard). */
  readonly tokenBudgetPerMinute?: number;
}

/** Resolved thresholds and windows (seconds). */
export interface ResolvedAlertSettings {
  readonly namespace: string;
  readonly kubeStateMetricsNamespaceLabel: string;
  readonly kedaNamespaceLabel: string;
  readonly failureRatio: number;
  readonly failureWindow: number;
  readonly failureFor: number;
  readonly deadLetteredThreshold: number;
  readonly deadLetteredWindow: number;
  readonly deadLetteredFor: number;
  readonly oomWindow: number;
  readonly oomFor: number;
  readonly backlogWindow: number;
  readonly circuitOpenFor: number;
  /**
   * How long an agent's open breaker keeps counting after its last sample: agent pods come and go
   * (a ScaledJob's pod ends after its tasks, the next one is scraped a discovery and an interval
   * after it starts), and an outage outlives any one of them.
   */
  readonly circuitGap: number;
  readonly stallWindow: number;
  readonly stallFor: number;
  readonly tokenBurnRatio: number;
  readonly tokenBurnWindow: number;
  readonly runbookUrl?: string;
}

/** A rule as in a Prometheus rule file. */
export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

/** A rule group as in a Prometheus rule file. */
export interface AlertRuleGroup {
  readonly name: string;
  readonly rules: AlertRule[];
}

/** Selector of one workload's worker series (scraped through the PodMonitor). */
function workerSelector(s: { namespace: string }, agent: { name: string }, ...extra: Matcher[]): string {
  return selector(
    { label: 'namespace', value: s.namespace },
    { label: WORKLOAD_TARGET_LABEL, value: agent.name },
    ...extra,
  );
}

/** Selector of one workload's pod series in kube-state-metrics. */
export function podSelector(
  s: Pick<ResolvedAlertSettings, 'namespace' | 'kubeStateMetricsNamespaceLabel'>,
  agent: Pick<AlertTarget, 'name' | 'scaling'>,
  ...extra: Matcher[]
): string {
  return selector(
    { label: s.kubeStateMetricsNamespaceLabel, value: s.namespace },
    { label: 'pod', value: podNamePattern(agent.name, agent.scaling), op: '=~' },
    ...extra,
  );
}

/** Selector of one workload's Job series in kube-state-metrics. */
export function jobSelector(
  s: Pick<ResolvedAlertSettings, 'namespace' | 'kubeStateMetricsNamespaceLabel'>,
  agent: Pick<AlertTarget, 'name' | 'scaling'>,
): string {
  return selector(
    { label: s.kubeStateMetricsNamespaceLabel, value: s.namespace },
    jobNameMatcher(agent.name, agent.scaling),
  );
}

/**
 * Selector of one ScaledJob's queue-length series in KEDA's metrics: every trigger but the token
 * budget gate, whose value (-1 or 0) is no queue. KEDA labels a trigger's series with the trigger's
 * name when it has one (`scaler`), else with the scaler's type.
 */
export function kedaSelector(
  s: Pick<ResolvedAlertSettings, 'namespace' | 'kedaNamespaceLabel'>,
  agent: Pick<AlertTarget, 'name'>,
): string {
  return selector(
    { label: s.kedaNamespaceLabel, value: s.namespace },
    { label: 'scaledObject', value: agent.name },
    { label: 'type', value: KEDA_SCALED_JOB_TYPE },
    { label: 'scaler', value: TOKEN_BUDGET_TRIGGER_NAME, op: '!=' },
  );
}

/**
 * The window over which the backlog alert measures the queue's growth: a third of `backlogWindow`,
 * which the growth must then last. A burst that the fleet drains makes the queue's slope positive
 * only for one growth window after it, so it cannot hold for the whole `backlogWindow`.
 */
export function backlogGrowthWindow(backlogWindow: number): number {
  return Math.max(1, Math.round(backlogWindow / 3));
}

/** The rule groups for `agents`: one group per workload, one rule per alert that applies to it. */
export function agentAlertGroups(agents: readonly AlertTarget[], s: ResolvedAlertSettings): AlertRuleGroup[] {
  return agents.map((agent) => ({ name: `agent-fleet.${agent.name}`, rules: agentRules(agent, s) }));
}

function agentRules(agent: AlertTarget, s: ResolvedAlertSettings): AlertRule[] {
  const w = (matchers: Matcher[] = []) => workerSelector(s, agent, ...matchers);
  /** What `metric` of this workload counted within `window` seconds, per series. */
  const counted = (metric: string, window: number, ...matchers: Matcher[]) =>
    counterIncrease(`${metric}${w(matchers)}`, window);
  const d = promDuration;
  const rule = (
    alert: string,
    severity: AlertSeverity,
    expr: string,
    forSeconds: number,
    summary: string,
    description: string,
  ): AlertRule => ({
    alert,
    expr,
    ...(forSeconds > 0 ? { for: d(forSeconds) } : {}),
    labels: { severity, namespace: s.namespace, workload: agent.name },
    annotations: {
      summary,
      description,
      ...(s.runbookUrl ? { runbook_url: `${s.runbookUrl}#${alert.toLowerCase()}` } : {}),
    },
  });

  const completed = Metrics.tasksCompleted;
  const rules: AlertRule[] = [
    rule(
      AgentAlert.TASK_FAILURE_RATIO,
      AlertSeverity.WARNING,
      `sum(${counted(completed, s.failureWindow, { label: 'status', value: 'failed' })})\n` +
        `  / sum(${counted(completed, s.failureWindow)})\n` +
        `> ${s.failureRatio}`,
      s.failureFor,
      `More than ${pct(s.failureRatio)} of ${agent.name}'s tasks fail`,
      `{{ $value | humanizePercentage }} of the tasks ${agent.name} completed in namespace ${s.namespace} over the last ${d(s.failureWindow)} failed.`,
    ),
    rule(
      AgentAlert.TASKS_DEAD_LETTERED,
      AlertSeverity.WARNING,
      `sum by (reason) (${counted(Metrics.deadLettered, s.deadLetteredWindow)}) > ${s.deadLetteredThreshold}`,
      s.deadLetteredFor,
      `${agent.name} dead-lettered tasks`,
      `{{ $value | humanize }} tasks were dead-lettered with reason {{ $labels.reason }} in the last ${d(s.deadLetteredWindow)}; they will not be retried.`,
    ),
    rule(
      AgentAlert.OOM_KILLED,
      AlertSeverity.WARNING,
      `max by (${s.kubeStateMetricsNamespaceLabel}, pod, container) (\n` +
        `  max_over_time(${KubeStateMetrics.podContainerStatusTerminatedReason}${podSelector(s, agent, { label: 'reason', value: 'OOMKilled' })}[${d(s.oomWindow)}])\n` +
        `  or max_over_time(${KubeStateMetrics.podContainerStatusLastTerminatedReason}${podSelector(s, agent, { label: 'reason', value: 'OOMKilled' })}[${d(s.oomWindow)}])\n` +
        `) == 1`,
      s.oomFor,
      `An ${agent.name} agent was OOM-killed`,
      `Container {{ $labels.container }} of pod {{ $labels.pod }} was killed for exceeding its memory limit in the last ${d(s.oomWindow)}.`,
    ),
    rule(
      AgentAlert.CIRCUIT_OPEN,
      AlertSeverity.WARNING,
      `max by (dependency) (max_over_time(${Metrics.circuitOpen}${w()}[${d(s.circuitGap)}])) == 1`,
      s.circuitOpenFor,
      `${agent.name}'s circuit breaker for {{ $labels.dependency }} is open`,
      `Agents of ${agent.name} stopped calling {{ $labels.dependency }} after repeated failures, for at least ${d(s.circuitOpenFor)}.`,
    ),
    rule(
      AgentAlert.NO_TASK_COMPLETED,
      AlertSeverity.CRITICAL,
      `(sum(${counted(completed, s.stallWindow)}) or on() vector(0)) == 0\n` +
        `and on() (${workWaitingThroughout(agent, s)})`,
      s.stallFor,
      `${agent.name} completed no task in ${d(s.stallWindow)} while work waited all along`,
      agent.scaling === 'queue-driven'
        ? `The queue of ${agent.name} held tasks for the whole last ${d(s.stallWindow)} and no agent finished one.`
        : `Job ${agent.name} had running pods for the whole last ${d(s.stallWindow)} and no agent finished a task.`,
    ),
  ];
  if (agent.scaling === 'queue-driven' && agent.maxReplicaCount !== undefined) {
    const queue = `${KedaMetrics.scalerMetricsValue}${kedaSelector(s, agent)}`;
    rules.push(
      rule(
        AgentAlert.BACKLOG_AT_MAX,
        AlertSeverity.WARNING,
        `sum(deriv(${queue}[${d(backlogGrowthWindow(s.backlogWindow))}])) > 0\n` +
          `and on() sum(${queue}) > 0\n` +
          `and on() sum(${KubeStateMetrics.jobStatusActive}${jobSelector(s, agent)}) >= ${agent.maxReplicaCount}`,
        s.backlogWindow,
        `${agent.name}'s queue grows while it runs its maximum of ${agent.maxReplicaCount} Jobs`,
        `The backlog of ${agent.name} kept growing for ${d(s.backlogWindow)} with all ${agent.maxReplicaCount} Jobs running; the fleet cannot catch up.`,
      ),
    );
  }
  if (agent.tokenBudgetPerMinute !== undefined) {
    const threshold = round(agent.tokenBudgetPerMinute * s.tokenBurnRatio);
    rules.push(
      rule(
        AgentAlert.TOKEN_BURN,
        AlertSeverity.CRITICAL,
        `sum(${counted(Metrics.llmTokens, s.tokenBurnWindow)}) * 60 / ${s.tokenBurnWindow} > ${threshold}`,
        s.tokenBurnWindow,
        `${agent.name} burns more LLM tokens than its capacity budget`,
        `${agent.name} used {{ $value | humanize }} tokens/min over ${d(s.tokenBurnWindow)}; the capacity guard budgeted ${threshold} tokens/min. Tasks cost more than the llmCapacity task profile says.`,
      ),
    );
  }
  return rules;
}

/**
 * Non-empty while the workload has had work waiting for the whole of the stall window: its queue
 * (ScaledJob) or its running pods (Job) were there at the window's start and never fell to 0 since.
 * Work that has just arrived (a fleet scaled to zero receiving tasks, a batch Job starting) is not
 * waiting yet.
 */
function workWaitingThroughout(agent: AlertTarget, s: ResolvedAlertSettings): string {
  const series =
    agent.scaling === 'queue-driven'
      ? `${KedaMetrics.scalerMetricsValue}${kedaSelector(s, agent)}`
      : `${KubeStateMetrics.jobStatusActive}${jobSelector(s, agent)}`;
  const window = promDuration(s.stallWindow);
  return `min_over_time(${series}[${window}]) > 0 and ${series} offset ${window} > 0`;
}

function pct(ratio: number): string {
  return `${round(ratio * 100)}%`;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/**
 * The composer: one AgentGuardrails construct writes, for its agent workloads, the objects of each
 * kind (lib/guardrails/disruption-budget.ts, limit-range.ts, resource-quota.ts, network-policy.ts).
 */
import { type ApiObject, Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { refuseCredentialsInOutput } from '../internal/credential-scan';
import { invalid, requireDnsLabel } from '../internal/validation';
import type { IAgentWorkload } from '../workload';
import { disruptionBudget, UnhealthyPodEvictionPolicy } from './disruption-budget';
import { type LimitRangeOptions, limitRange } from './limit-range';
import { agentNetworkPolicies, type DnsOptions, type EgressPeer, requireLabels } from './network-policy';
import { type NamespaceQuota, resourceQuota } from './resource-quota';

/** Metadata type under which {@link AgentGuardrails} records synth-time warnings (`node.metadata`). */
export const WARNING_METADATA = 'agent-fleet:warning';
/** Metadata type of a notice the user acknowledged: kept in the construct tree, not printed. */
export const ACKNOWLEDGED_WARNING_METADATA = 'agent-fleet:acknowledged-warning';

let warnedOnStderr = false;

const DEFAULT_MAX_DISRUPTED_PERCENT = 10;

export interface AgentGuardrailsProps {
  /** The agent workloads (AgentJob, AgentScaledJob, AgentPool) whose pods these guardrails protect. */
  readonly agents: IAgentWorkload[];
  /**
   * Share of a workload's running agents that voluntary disruptions (drains) may evict at once, in
   * (0, 100]. A fixed Job's PodDisruptionBudget gets the integer
   * `minAvailable = P − max(1, floor(P × percent / 100))` for parallelism P: at most `percent`
   * rounded down, but always at least one, because a budget that allows no eviction hangs every
   * drain until the Job ends. A pool's gets `maxUnavailable: "<percent>%"` (whole percent, at least
   * 1), which the disruption controller applies to the Deployment's current size, rounding up.
   * @default 10
   */
  readonly maxDisruptedPercent?: number;
  /**
   * What evictions do with running but unready agent pods.
   * @default UnhealthyPodEvictionPolicy.ALWAYS_ALLOW (a crash-looping agent must not block drains)
   */
  readonly unhealthyPodEvictionPolicy?: UnhealthyPodEvictionPolicy;
  /**
   * Container defaults and ceilings for the namespace.
   * @default - no LimitRange
   */
  readonly limitRange?: LimitRangeOptions;
  /**
   * Hard ceiling for the namespace.
   * @default - no ResourceQuota
   */
  readonly resourceQuota?: NamespaceQuota;
  /**
   * Destinations the agents may reach besides DNS. Everything else is denied.
   * @default - DNS only
   */
  readonly egress?: EgressPeer[];
  /**
   * Where DNS runs.
   * @default - `k8s-app: kube-dns` pods in `kube-system`
   */
  readonly dns?: DnsOptions;
  /**
   * Namespace allowed to reach the agents' metrics port (Prometheus). No other ingress is allowed.
   * @default "monitoring"
   */
  readonly monitoringNamespace?: string;
  /**
   * Only these pods of the monitoring namespace may scrape.
   * @default - every pod of the monitoring namespace
   */
  readonly monitoringPodSelector?: Record<string, string>;
  /**
   * Queue-driven workloads (AgentScaledJob) whose missing PodDisruptionBudget you accept, so the
   * synth-time notice about it is no longer printed. The notice stays in the construct tree as
   * `node.metadata` of type `agent-fleet:acknowledged-warning`, for tools and reviews that read it.
   * Each entry must be one of `agents` and queue-driven.
   * @default - none: the notice is printed (once per process) and recorded as `agent-fleet:warning`
   */
  readonly acknowledgeNoDisruptionBudget?: IAgentWorkload[];
}

/**
 * Guardrails around agent workloads, in the workloads' namespace:
 *
 * - **PodDisruptionBudget** per fixed (AgentJob) workload, with an integer `minAvailable` only:
 *   Jobs have no scale subresource, and over such pods `maxUnavailable` or a percentage leaves the
 *   disruption controller unable to compute a budget, so no eviction is ever allowed.
 *   Queue-driven workloads (AgentScaledJob) get **no** PDB and a synth-time warning: their pod
 *   count moves between 0 and maxReplicaCount, and a minAvailable computed from maxReplicaCount
 *   would block every eviction whenever fewer pods run (i.e. almost always). Evicting them is
 *   safe anyway: the worker checkpoints on SIGTERM and exits non-zero, and the podFailurePolicy
 *   ignores `DisruptionTarget` failures, so the task is retried without spending the retry budget.
 *   Note for fixed Jobs: when fewer than `minAvailable` pods still run (the batch's tail), healthy
 *   pods cannot be evicted until they finish; unready ones can (`unhealthyPodEvictionPolicy`).
 *   Pools (AgentPool, a Deployment with a scale subresource) get `maxUnavailable` as a percentage,
 *   which follows the pool's current size.
 * - optional **LimitRange** and **ResourceQuota**. Neither limits restarts; the Job's retry
 *   settings (`backoffLimitPerIndex`, `backoffLimit`, podFailurePolicy) do.
 * - **NetworkPolicy** per workload: default deny in both directions; egress to DNS (UDP and TCP
 *   53), the given peers and the workload's `modelServer` (its pods, on its port); ingress only to
 *   the contract's metrics port from the monitoring namespace, so Prometheus can still scrape.
 */
export class AgentGuardrails extends Construct {
  /** One PodDisruptionBudget per fixed workload and per pool. */
  readonly disruptionBudgets: ApiObject[] = [];
  /** One NetworkPolicy per workload. */
  readonly networkPolicies: ApiObject[];
  readonly limitRange?: ApiObject;
  readonly resourceQuota?: ApiObject;
  /** Synth-time warnings, also recorded as `node.metadata` entries of type {@link WARNING_METADATA}. */
  readonly warnings: string[] = [];
  /** Notices the user acknowledged: recorded as {@link ACKNOWLEDGED_WARNING_METADATA}, never printed. */
  readonly acknowledgedWarnings: string[] = [];

  constructor(scope: Construct, id: string, props: AgentGuardrailsProps) {
    super(scope, id);
    refuseCredentialsInOutput(this);
    const agents = validateAgents(this, props.agents);
    const percent = props.maxDisruptedPercent ?? DEFAULT_MAX_DISRUPTED_PERCENT;
    if (typeof percent !== 'number' || !Number.isFinite(percent) || percent <= 0 || percent > 100) {
      invalid(
        this,
        'maxDisruptedPercent',
        percent,
        'is not a percentage in (0, 100]',
        'use e.g. 10 to let drains evict at most 10% of running agents at once',
      );
    }
    const unhealthyPodEvictionPolicy =
      props.unhealthyPodEvictionPolicy ?? UnhealthyPodEvictionPolicy.ALWAYS_ALLOW;
    const acknowledged = validateAcknowledged(this, props.acknowledgeNoDisruptionBudget ?? [], agents);

    for (const agent of agents) {
      const budget = disruptionBudget(this, agent, percent, unhealthyPodEvictionPolicy);
      if (budget) {
        this.disruptionBudgets.push(budget);
      } else {
        this.notice(
          acknowledged.has(agent),
          `no PodDisruptionBudget for queue-driven workload "${agent.name}": its pod count moves between 0 and ` +
            `maxReplicaCount (${agent.maxConcurrentPods}), so an integer minAvailable would block every eviction ` +
            'whenever fewer pods run. Evictions are safe without one: the worker checkpoints on SIGTERM and exits ' +
            'non-zero, and the podFailurePolicy ignores DisruptionTarget failures. To stop printing this notice, ' +
            'list the workload in acknowledgeNoDisruptionBudget',
        );
      }
    }
    if (props.limitRange) this.limitRange = limitRange(this, props.limitRange, agents);
    if (props.resourceQuota) {
      this.resourceQuota = resourceQuota(this, props.resourceQuota, agents, props.limitRange);
    }
    this.networkPolicies = agentNetworkPolicies(this, agents, {
      egress: props.egress ?? [],
      dns: props.dns ?? {},
      monitoringNamespace: requireDnsLabel(
        this,
        'monitoringNamespace',
        props.monitoringNamespace ?? 'monitoring',
      ),
      monitoringPodSelector:
        props.monitoringPodSelector &&
        requireLabels(this, 'monitoringPodSelector', props.monitoringPodSelector),
    });
  }

  private notice(acknowledged: boolean, message: string): void {
    if (acknowledged) {
      this.acknowledgedWarnings.push(message);
      this.node.addMetadata(ACKNOWLEDGED_WARNING_METADATA, message);
      return;
    }
    this.warnings.push(message);
    this.node.addMetadata(WARNING_METADATA, message);
    // Also on stderr, so `cdk8s synth` shows it; once per process, since an app with hundreds of
    // fleets would otherwise print the same advice hundreds of times.
    if (!warnedOnStderr) {
      warnedOnStderr = true;
      process.emitWarning(`${this.node.path}: ${message}`, { type: 'AgentFleetWarning' });
    }
  }
}

function validateAcknowledged(
  scope: Construct,
  acknowledged: readonly IAgentWorkload[],
  agents: readonly IAgentWorkload[],
): Set<IAgentWorkload> {
  for (const [i, workload] of acknowledged.entries()) {
    if (!agents.includes(workload)) {
      invalid(
        scope,
        `acknowledgeNoDisruptionBudget[${i}]`,
        workload?.name,
        'is not one of `agents`',
        'list only workloads these guardrails protect, or add it to `agents`',
      );
    }
    if (workload.scaling !== 'queue-driven' || workload.scaleSubresource === true) {
      invalid(
        scope,
        `acknowledgeNoDisruptionBudget[${i}]`,
        workload.name,
        `${workload.scaling === 'fixed' ? 'has a fixed pod count' : 'is a pool'} and gets a PodDisruptionBudget, so there is nothing to acknowledge`,
        'remove it from acknowledgeNoDisruptionBudget',
      );
    }
  }
  return new Set(acknowledged);
}

function validateAgents(scope: Construct, agents: IAgentWorkload[]): IAgentWorkload[] {
  if (!Array.isArray(agents) || agents.length === 0) {
    invalid(
      scope,
      'agents',
      agents,
      'names no agent workload',
      'pass the AgentJob / AgentScaledJob / AgentPool constructs to protect, e.g. agents: [job, scaledJob]',
    );
  }
  const namespace = Chart.of(scope).namespace;
  const seen = new Set<string>();
  agents.forEach((agent, i) => {
    const a = agent as Partial<IAgentWorkload> | undefined;
    const labels = a?.selectorLabels;
    if (
      typeof a?.name !== 'string' ||
      typeof labels !== 'object' ||
      labels === null ||
      Object.keys(labels).length === 0 ||
      !Number.isInteger(a.maxConcurrentPods) ||
      (a.maxConcurrentPods ?? 0) < 1 ||
      (a.scaling !== 'fixed' && a.scaling !== 'queue-driven') ||
      typeof a.resources !== 'object' ||
      !Array.isArray(a.podResources?.containers)
    ) {
      invalid(
        scope,
        `agents[${i}]`,
        a && typeof a === 'object' ? (a.name ?? '(unnamed object)') : a,
        'is not an agent workload (name, selectorLabels, maxConcurrentPods, scaling, resources, podResources)',
        'pass an AgentJob, AgentScaledJob or AgentPool construct',
      );
    }
    if (seen.has(agent.name)) {
      invalid(scope, `agents[${i}]`, agent.name, 'is listed twice', 'list each workload once');
    }
    seen.add(agent.name);
    if (Construct.isConstruct(agent)) {
      const theirs = Chart.of(agent).namespace;
      if (theirs !== namespace) {
        invalid(
          scope,
          `agents[${i}]`,
          agent.name,
          `is in namespace ${theirs ?? '(none)'}, but these guardrails are in ${namespace ?? '(none)'}; namespaced policies cannot reach it`,
          'create the AgentGuardrails in the chart (namespace) of its agents',
        );
      }
    }
  });
  return agents;
}

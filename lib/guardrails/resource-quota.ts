/**
 * The namespace's ResourceQuota: ceilings written by hand, or derived from the agents' most pods at
 * once and their pods' effective requests and limits.
 */
import { type ApiObject, Names } from 'cdk8s';
import { k8s } from 'cdk8s-plus-30';
import type { Construct } from 'constructs';
import type { ResourceAmounts } from '../agent-pod-props';
import { withDirectJson } from '../internal/direct-json';
import { formatUnits, podAmount, type ResourceField, renderAmounts } from '../internal/pod-features';
import { invalid } from '../internal/validation';
import type { IAgentWorkload } from '../workload';
import { admittedContainers, amountsOf, describeContainer, unitsIn } from './admission';
import type { LimitRangeOptions } from './limit-range';

const KubeResourceQuota = withDirectJson(k8s.KubeResourceQuota, ['spec.hard.*']);

/** Explicit ceilings of {@link NamespaceQuota.of}. */
export interface QuotaAmounts {
  /**
   * Ceiling on the sum of requests.
   * @default - none
   */
  readonly requests?: ResourceAmounts;
  /**
   * Ceiling on the sum of limits.
   * @default - none
   */
  readonly limits?: ResourceAmounts;
  /**
   * Most non-terminal pods.
   * @default - none
   */
  readonly pods?: number;
}

/**
 * The namespace's hard ceiling (a ResourceQuota). Like the LimitRange it does **not** limit
 * restarts: a crash-looping agent stays inside the quota; the Job's retry settings stop it.
 */
export class NamespaceQuota {
  /** Ceilings written by hand. */
  static of(amounts: QuotaAmounts): NamespaceQuota {
    return new NamespaceQuota(amounts);
  }

  /**
   * Derived from the agents: for requests and limits of CPU and memory, the sum over agents of
   * `maxConcurrentPods` (parallelism or maxReplicaCount) × the pod's effective amount, as
   * Kubernetes counts a pod against a quota: the larger of the agent plus its sidecars and, for
   * each init container, that container plus the sidecars started before it (see
   * `IAgentWorkload.podResources`). An amount a container does not set comes from the LimitRange
   * defaults as admission would fill it in (a missing request is first the container's own limit).
   * A resource is capped only when every container of every agent has an amount for it (a quota on
   * a resource rejects pods with a container that leaves it unset). Covers the agents only: other
   * pods of the namespace need an explicit quota.
   */
  static fromAgents(): NamespaceQuota {
    return new NamespaceQuota(undefined);
  }

  private constructor(readonly amounts: QuotaAmounts | undefined) {}
}

function explicitQuota(scope: Construct, amounts: QuotaAmounts): Record<string, k8s.Quantity> {
  const hard: Record<string, k8s.Quantity> = {};
  for (const kind of ['requests', 'limits'] as const) {
    amountsOf(scope, `resourceQuota.${kind}`, amounts[kind]);
    for (const [key, q] of Object.entries(renderAmounts(amounts[kind]) ?? {})) hard[`${kind}.${key}`] = q;
  }
  if (amounts.pods !== undefined) {
    if (!Number.isInteger(amounts.pods) || amounts.pods < 1) {
      invalid(
        scope,
        'resourceQuota.pods',
        amounts.pods,
        'is not a whole number ≥ 1',
        'use an integer of at least 1',
      );
    }
    hard.pods = k8s.Quantity.fromString(String(amounts.pods));
  }
  if (Object.keys(hard).length === 0) {
    invalid(
      scope,
      'resourceQuota',
      amounts,
      'sets no ceiling',
      'give requests, limits or pods, or NamespaceQuota.fromAgents()',
    );
  }
  return hard;
}

function derivedQuota(
  scope: Construct,
  agents: IAgentWorkload[],
  limitRange: LimitRangeOptions | undefined,
): Record<string, k8s.Quantity> {
  const fill = {
    limits: unitsIn(amountsOf(scope, 'limitRange.containerDefault', limitRange?.containerDefault)),
    requests: unitsIn(
      amountsOf(scope, 'limitRange.containerDefaultRequest', limitRange?.containerDefaultRequest),
    ),
  };
  const totals: Record<string, number | undefined> = {};
  const fields = ['cpu', 'memory'] as const;
  agents.forEach((agent) => {
    const containers = admittedContainers(scope, agent, fill);
    // A quota on a resource rejects every pod with a container that leaves it unset.
    const unset = (kind: 'limits' | 'requests', field: ResourceField) =>
      containers.find((c) => c[kind][field] === undefined);
    const noCpu = unset('limits', 'cpu');
    const noMemory = unset('limits', 'memory');
    if (noCpu && noMemory) {
      invalid(
        scope,
        'resourceQuota',
        'NamespaceQuota.fromAgents()',
        `cannot be derived: ${
          noCpu === noMemory
            ? `${describeContainer(agent, noCpu)} sets no cpu or memory limit`
            : `${describeContainer(agent, noCpu)} sets no cpu limit and ${describeContainer(agent, noMemory)} no memory limit`
        } and the LimitRange gives no default`,
        'set resources.limits on that agent or limitRange.containerDefault, or use NamespaceQuota.of({...})',
      );
    }
    for (const field of fields) {
      for (const kind of ['limits', 'requests'] as const) {
        const key = `${kind}.${field}`;
        if (key in totals && totals[key] === undefined) continue;
        const pod = unset(kind, field)
          ? undefined
          : podAmount(containers.map((c) => ({ role: c.role, amount: c[kind][field] })));
        totals[key] = pod === undefined ? undefined : (totals[key] ?? 0) + agent.maxConcurrentPods * pod;
      }
    }
  });
  const hard: Record<string, k8s.Quantity> = {};
  for (const kind of ['requests', 'limits']) {
    for (const field of fields) {
      const total = totals[`${kind}.${field}`];
      if (total !== undefined) hard[`${kind}.${field}`] = k8s.Quantity.fromString(formatUnits(field, total));
    }
  }
  return hard;
}

/**
 * The ResourceQuota of `quota`: its explicit ceilings, or those derived from `agents` (with the
 * LimitRange's defaults filling what containers leave unset); named after `scope`.
 */
export function resourceQuota(
  scope: Construct,
  quota: NamespaceQuota,
  agents: IAgentWorkload[],
  limitRange: LimitRangeOptions | undefined,
): ApiObject {
  const hard = quota.amounts ? explicitQuota(scope, quota.amounts) : derivedQuota(scope, agents, limitRange);
  return new KubeResourceQuota(scope, 'ResourceQuota', {
    metadata: { name: Names.toDnsLabel(scope) },
    spec: { hard },
  });
}

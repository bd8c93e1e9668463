/**
 * The PodDisruptionBudget of an agent workload, shaped by its controller: an integer `minAvailable`
 * over Job pods (no scale subresource), `maxUnavailable` as a percentage over a Deployment's pods.
 */
import type { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-30';
import type { Construct } from 'constructs';
import { withDirectJson } from '../internal/direct-json';
import type { IAgentWorkload } from '../workload';

const KubePodDisruptionBudget = withDirectJson(k8s.KubePodDisruptionBudget, [
  'spec.maxUnavailable',
  'spec.minAvailable',
]);

/** What the eviction API does with pods that are running but not Ready. */
export enum UnhealthyPodEvictionPolicy {
  /**
   * Unready pods can always be evicted. A crash-looping or hung agent then never blocks a node
   * drain, and evicting it costs nothing: it was not doing work.
   */
  ALWAYS_ALLOW = 'AlwaysAllow',
  /** Unready pods can be evicted only while the budget is met (Kubernetes' default). */
  IF_HEALTHY_BUDGET = 'IfHealthyBudget',
}

/**
 * The PDB's integer minAvailable for `pods` running agents when at most `percent` of them may be
 * disrupted at once: `pods − max(1, floor(pods × percent / 100))`, never below 0. At least one
 * eviction is always allowed while all agents run, so drains make progress.
 */
export function minAvailableFor(pods: number, percent: number): number {
  const disruptable = Math.max(1, Math.floor((pods * percent) / 100));
  return Math.max(0, pods - disruptable);
}

/**
 * The PodDisruptionBudget of `agent`, or undefined for a ScaledJob: its pod count moves between 0 and
 * maxReplicaCount and its Jobs have no scale subresource, so neither an integer `minAvailable` (it
 * would block every eviction whenever fewer pods run) nor a percentage (not computable) fits.
 * - A Job (fixed): the integer `minAvailable` of {@link minAvailableFor}.
 * - A pool (a Deployment, which has a scale subresource): `maxUnavailable` as a whole percentage,
 *   which the disruption controller takes of the current size and rounds up, so one agent may always
 *   go while any runs.
 */
export function disruptionBudget(
  scope: Construct,
  agent: IAgentWorkload,
  percent: number,
  unhealthyPodEvictionPolicy: UnhealthyPodEvictionPolicy,
): ApiObject | undefined {
  let budget: Pick<k8s.PodDisruptionBudgetSpec, 'minAvailable' | 'maxUnavailable'>;
  if (agent.scaling === 'fixed') {
    budget = { minAvailable: k8s.IntOrString.fromNumber(minAvailableFor(agent.maxConcurrentPods, percent)) };
  } else if (agent.scaleSubresource === true) {
    budget = { maxUnavailable: k8s.IntOrString.fromString(`${Math.max(1, Math.floor(percent))}%`) };
  } else {
    return undefined;
  }
  return new KubePodDisruptionBudget(scope, `DisruptionBudget-${agent.name}`, {
    metadata: { name: agent.name },
    spec: {
      ...budget,
      selector: { matchLabels: { ...agent.selectorLabels } },
      unhealthyPodEvictionPolicy,
    },
  });
}

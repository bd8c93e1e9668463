/**
 * How admission sees an agent pod's containers (the API server's request defaulting, then the
 * LimitRange's defaults): the amounts both the LimitRange checks and the derived ResourceQuota use.
 */
import type { Construct } from 'constructs';
import type { ResourceAmounts } from '../agent-pod-props';
import { RESOURCE_NAMES, type Units, unitsOf } from '../internal/pod-features';
import { requireQuantity } from '../internal/validation';
import { ContainerRole, type IAgentWorkload, type PodContainerResources } from '../workload';

export type Amounts = Partial<Record<(typeof RESOURCE_NAMES)[number][0], number>>;

export function amountsOf(scope: Construct, prop: string, amounts: ResourceAmounts | undefined): Amounts {
  const out: Amounts = {};
  for (const [field] of RESOURCE_NAMES) {
    const q = amounts?.[field];
    if (q !== undefined) out[field] = requireQuantity(scope, `${prop}.${field}`, q);
  }
  return out;
}

/** A container of an agent pod with its amounts in units, as admission leaves them. */
export interface AdmittedContainer extends PodContainerResources {
  readonly requests: Units;
  readonly limits: Units;
}

/**
 * The containers of `agent`'s pod with the amounts admission gives them: the API server makes a
 * missing request equal to the container's limit; then the LimitRange fills a missing limit from
 * its default and a missing request from its default request (which defaults to the default).
 */
export function admittedContainers(
  scope: Construct,
  agent: IAgentWorkload,
  fill: { readonly limits: Units; readonly requests: Units },
): AdmittedContainer[] {
  return agent.podResources.containers.map((c) => {
    const prop =
      c.role === ContainerRole.AGENT
        ? `agents[${agent.name}].resources`
        : `agents[${agent.name}].podResources[${c.name}].resources`;
    const ownLimits = unitsIn(amountsOf(scope, `${prop}.limits`, c.resources.limits));
    const ownRequests = unitsIn(amountsOf(scope, `${prop}.requests`, c.resources.requests));
    const limits: Units = {};
    const requests: Units = {};
    for (const [field] of RESOURCE_NAMES) {
      limits[field] = ownLimits[field] ?? fill.limits[field];
      requests[field] = ownRequests[field] ?? ownLimits[field] ?? fill.requests[field] ?? fill.limits[field];
    }
    return { ...c, limits, requests };
  });
}

export function roleName(role: ContainerRole): string {
  return role === ContainerRole.INIT ? 'init container' : role;
}

/** `agent "batch"`, or `agent "batch"'s sidecar "proxy"` for another container of its pod. */
export function describeContainer(agent: IAgentWorkload, c: PodContainerResources): string {
  return c.role === ContainerRole.AGENT
    ? `agent "${agent.name}"`
    : `agent "${agent.name}"'s ${roleName(c.role)} "${c.name}"`;
}

/** Amounts (cores, bytes) in whole units. */
export function unitsIn(amounts: Amounts): Units {
  const out: Units = {};
  for (const [field] of RESOURCE_NAMES) {
    const amount = amounts[field];
    if (amount !== undefined) out[field] = unitsOf(field, amount);
  }
  return out;
}

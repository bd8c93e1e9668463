/**
 * The namespace's LimitRange: container defaults and ceilings and a pod ceiling, checked at synth
 * time against every agent's containers so that admission never rejects an agent pod.
 */
import { type ApiObject, Names } from 'cdk8s';
import { k8s } from 'cdk8s-plus-30';
import type { Construct } from 'constructs';
import type { ResourceAmounts } from '../agent-pod-props';
import { withDirectJson } from '../internal/direct-json';
import { formatUnits, podAmount, RESOURCE_NAMES, renderAmounts, unitsOf } from '../internal/pod-features';
import { invalid } from '../internal/validation';
import type { Quantity } from '../quantity';
import { ContainerRole, type IAgentWorkload } from '../workload';
import { admittedContainers, amountsOf, describeContainer, roleName, unitsIn } from './admission';

const KubeLimitRange = withDirectJson(
  k8s.KubeLimitRange,
  ['default', 'defaultRequest', 'max', 'maxLimitRequestRatio', 'min'].map((f) => `spec.limits[].${f}.*`),
);

/**
 * Namespace-wide container defaults and ceilings (a LimitRange). It shapes each pod as it is
 * admitted; it does **not** limit restarts or retries: the Job's `backoffLimitPerIndex` /
 * `backoffLimit` and podFailurePolicy do.
 */
export interface LimitRangeOptions {
  /**
   * Limits given to a container that sets none.
   * @default - none
   */
  readonly containerDefault?: ResourceAmounts;
  /**
   * Requests given to a container that sets none.
   * @default - none (Kubernetes then uses the default limit)
   */
  readonly containerDefaultRequest?: ResourceAmounts;
  /**
   * Largest limit a container may set; a pod above it is rejected at admission. It applies to
   * every container, sidecars and init containers included, and is checked against the agents'
   * containers at synth time.
   * @default - none
   */
  readonly containerMax?: ResourceAmounts;
  /**
   * Largest effective limit of a pod: the agent plus its sidecars, or an init container plus the
   * sidecars started before it, whichever is larger (Kubernetes' rule for native sidecars).
   * @default - none
   */
  readonly podMax?: ResourceAmounts;
}

function validateLimitRange(
  scope: Construct,
  options: LimitRangeOptions,
  agents: IAgentWorkload[],
): k8s.LimitRangeItem[] {
  const dflt = amountsOf(scope, 'limitRange.containerDefault', options.containerDefault);
  const request = amountsOf(scope, 'limitRange.containerDefaultRequest', options.containerDefaultRequest);
  const max = amountsOf(scope, 'limitRange.containerMax', options.containerMax);
  const podMax = amountsOf(scope, 'limitRange.podMax', options.podMax);
  for (const [field] of RESOURCE_NAMES) {
    const above = (lowProp: string, low: number | undefined, highProp: string, high: number | undefined) => {
      if (low !== undefined && high !== undefined && low > high) {
        const lowQ = (options as Record<string, ResourceAmounts | undefined>)[lowProp]?.[field] as Quantity;
        const highQ = (options as Record<string, ResourceAmounts | undefined>)[highProp]?.[field] as Quantity;
        invalid(
          scope,
          `limitRange.${lowProp}.${field}`,
          lowQ.value,
          `is above limitRange.${highProp}.${field} (${highQ.value}); Kubernetes rejects the LimitRange`,
          `lower it to at most ${highQ.value}, or raise ${highProp}`,
        );
      }
    };
    above('containerDefault', dflt[field], 'containerMax', max[field]);
    above('containerDefaultRequest', request[field], 'containerDefault', dflt[field]);
    above('containerDefaultRequest', request[field], 'containerMax', max[field]);
  }
  // An agent whose pod the LimitRange would reject never starts; say so now, not at admission. The
  // per-container ceiling applies to the sidecars and init containers too, the pod ceiling to the
  // pod's effective limit.
  const fill = { limits: unitsIn(dflt), requests: unitsIn(request) };
  for (const agent of agents) {
    const containers = admittedContainers(scope, agent, fill);
    for (const [field] of RESOURCE_NAMES) {
      const check = (
        prop: 'containerMax' | 'podMax',
        limit: number | undefined,
        who: string,
        what: string,
        fix: string,
      ) => {
        const ceiling = (prop === 'containerMax' ? max : podMax)[field];
        if (ceiling === undefined) return;
        const ceilingText = options[prop]?.[field]?.value;
        if (limit === undefined) {
          invalid(
            scope,
            `limitRange.${prop}.${field}`,
            ceilingText,
            `requires a ${field} limit, but ${who} sets none and the LimitRange gives no default`,
            `set resources.limits.${field} on ${fix}, or limitRange.containerDefault.${field}`,
          );
        }
        if (limit > unitsOf(field, ceiling)) {
          invalid(
            scope,
            `limitRange.${prop}.${field}`,
            ceilingText,
            `is below ${what}, so its pods would be rejected`,
            `raise it, or lower the ${field} limit of ${fix}`,
          );
        }
      };
      for (const c of containers) {
        const text = c.resources.limits?.[field]?.value ?? options.containerDefault?.[field]?.value;
        check(
          'containerMax',
          c.limits[field],
          describeContainer(agent, c),
          c.role === ContainerRole.AGENT
            ? `agent "${agent.name}"'s ${field} limit (${text})`
            : `the ${field} limit of ${describeContainer(agent, c)} (${text})`,
          c.role === ContainerRole.AGENT ? 'that agent' : `that ${roleName(c.role)}`,
        );
      }
      const podLimit = podAmount(containers.map((c) => ({ role: c.role, amount: c.limits[field] })));
      check(
        'podMax',
        podLimit,
        `agent "${agent.name}"`,
        containers.length === 1
          ? `agent "${agent.name}"'s ${field} limit (${formatUnits(field, podLimit ?? 0)})`
          : `the ${field} limit of agent "${agent.name}"'s pod (${formatUnits(field, podLimit ?? 0)}: its ` +
              'sidecars run beside the agent and its init containers before it)',
        "that agent's containers",
      );
    }
  }
  const container: k8s.LimitRangeItem = {
    type: 'Container',
    default: renderAmounts(options.containerDefault),
    defaultRequest: renderAmounts(options.containerDefaultRequest),
    max: renderAmounts(options.containerMax),
  };
  const items: k8s.LimitRangeItem[] = [];
  if (container.default || container.defaultRequest || container.max) items.push(container);
  const pod = renderAmounts(options.podMax);
  if (pod) items.push({ type: 'Pod', max: pod });
  if (items.length === 0) {
    invalid(
      scope,
      'limitRange',
      options,
      'sets nothing',
      'give containerDefault, containerDefaultRequest, containerMax or podMax, or omit limitRange',
    );
  }
  return items;
}

/** The LimitRange of `options`, checked against `agents`; named after `scope`. */
export function limitRange(
  scope: Construct,
  options: LimitRangeOptions,
  agents: IAgentWorkload[],
): ApiObject {
  return new KubeLimitRange(scope, 'LimitRange', {
    metadata: { name: Names.toDnsLabel(scope) },
    spec: { limits: validateLimitRange(scope, options, agents) },
  });
}

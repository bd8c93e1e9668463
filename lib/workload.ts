import type { Quantity } from './quantity';

/** Amounts of one kind of compute resource. */
export interface ResourceAmounts {
  /**
   * CPU, e.g. `Quantity.cpuMillis(500)`.
   * @default - none
   */
  readonly cpu?: Quantity;
  /**
   * Memory, e.g. `Quantity.gibibytes(2)`.
   * @default - none
   */
  readonly memory?: Quantity;
  /**
   * Node-local scratch space (the `/tmp` emptyDir and logs).
   * @default - none
   */
  readonly ephemeralStorage?: Quantity;
}

/** Requests and limits of a container. */
export interface AgentResources {
  /**
   * What the scheduler reserves.
   * @default - none
   */
  readonly requests?: ResourceAmounts;
  /**
   * The ceiling. A memory limit turns a leak into an OOM kill of one agent instead of a node-wide
   * eviction; a CPU limit throttles and is rarely wanted for agents that mostly wait on an LLM.
   * @default - none
   */
  readonly limits?: ResourceAmounts;
}

/** The part a container plays in an agent pod, which decides when it runs and what it costs. */
export enum ContainerRole {
  /** A run-to-completion init container: runs, alone with the sidecars started before it, then exits. */
  INIT = 'init',
  /** A native sidecar (an init container with `restartPolicy: Always`): runs from its start to the pod's end. */
  SIDECAR = 'sidecar',
  /** The agent container. */
  AGENT = 'agent',
}

/** One container of an agent pod and its resources as synthesized. */
export interface PodContainerResources {
  /** The container's name. */
  readonly name: string;
  readonly role: ContainerRole;
  readonly resources: AgentResources;
}

/**
 * What an agent pod asks of a node, a LimitRange and a ResourceQuota: the pod runs more than the
 * agent container once it has sidecars or init containers.
 */
export interface PodResources {
  /**
   * Every container of the pod in the order Kubernetes starts them: the init containers and the
   * sidecars in `spec.initContainers` order, then the agent.
   */
  readonly containers: readonly PodContainerResources[];
  /**
   * The pod's effective requests and limits, by Kubernetes' rule for native sidecars (KEP-753):
   * the larger of the steady state (agent + every sidecar) and the busiest moment of
   * initialization (an init container + the sidecars started before it). A container that sets a
   * limit but no request requests its limit, as the API server defaults it. A resource is absent
   * from `limits` when some container sets no limit for it: the pod then has no ceiling for it.
   */
  readonly effective: AgentResources;
}

/**
 * An agent workload (AgentJob, AgentScaledJob, AgentPool) as guardrails and monitors see it: they
 * select its pods through it instead of retyping labels. The pod builder fills it in; it depends on
 * nothing the pod builder defines.
 */
export interface IAgentWorkload {
  /** Name of the workload object. */
  readonly name: string;
  /** Labels that select exactly this workload's pods. */
  readonly selectorLabels: Record<string, string>;
  /**
   * Most agent pods that can run at once (parallelism, maxReplicaCount Jobs of one pod, or a pool's
   * maxReplicaCount plus the pods a rolling update adds).
   */
  readonly maxConcurrentPods: number;
  /**
   * Whether the pod count is fixed (a Job's parallelism) or moves with the queue (a ScaledJob, a
   * pool).
   */
  readonly scaling: 'fixed' | 'queue-driven';
  /**
   * Whether the pods' controller has a scale subresource (a Deployment has, a Job has not). Only then
   * can the disruption controller compute a PodDisruptionBudget with `maxUnavailable` or a
   * percentage, which follows the workload's current size.
   * @default false
   */
  readonly scaleSubresource?: boolean;
  /** The agent container's resources as synthesized. */
  readonly resources: AgentResources;
  /**
   * The resources of every container of the pod (agent, sidecars, init containers) and the pod's
   * effective requests and limits; guardrails size quotas and check LimitRanges with them.
   */
  readonly podResources: PodResources;
}

/** Label that selects the pods of one agent workload; guardrails and monitors select through it. */
export const WORKLOAD_LABEL = 'agent-fleet.dev/workload';

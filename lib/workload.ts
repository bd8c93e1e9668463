import type { AgentResources } from './agent-pod-props';

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
 * An agent workload (AgentJob, AgentScaledJob) as guardrails and monitors see it: they select its
 * pods through it instead of retyping labels.
 */
export interface IAgentWorkload {
  /** Name of the workload object. */
  readonly name: string;
  /** Labels that select exactly this workload's pods. */
  readonly selectorLabels: Record<string, string>;
  /** Most agent pods that can run at once (parallelism, or maxReplicaCount Jobs of one pod). */
  readonly maxConcurrentPods: number;
  /** Whether the pod count is fixed (a Job's parallelism) or moves with the queue (a ScaledJob). */
  readonly scaling: 'fixed' | 'queue-driven';
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

import type { AgentResources } from './agent-pod-props';

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
  /** The container's resources as synthesized. */
  readonly resources: AgentResources;
}

/** Label that selects the pods of one agent workload; guardrails and monitors select through it. */
export const WORKLOAD_LABEL = 'agent-fleet.dev/workload';

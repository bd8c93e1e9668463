import type { Duration } from 'cdk8s';
import type { IServiceAccount, k8s } from 'cdk8s-plus-30';
import type { ICheckpointStore } from './checkpoint-store';
import { Quantity } from './quantity';
import type { QueueConnection } from './queue';

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

/** Requests and limits of the agent container. */
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

/** Used when `resources` is omitted: room for one agent's context, a hard memory ceiling, no CPU throttling. */
export const DEFAULT_AGENT_RESOURCES: AgentResources = {
  requests: { cpu: Quantity.cpuMillis(500), memory: Quantity.gibibytes(1) },
  limits: { memory: Quantity.gibibytes(2) },
};

/** Effect of a node taint. */
export enum TaintEffect {
  NO_SCHEDULE = 'NoSchedule',
  PREFER_NO_SCHEDULE = 'PreferNoSchedule',
  NO_EXECUTE = 'NoExecute',
}

/** Lets agents run on tainted nodes, e.g. a GPU pool tainted `nvidia.com/gpu=present:NoSchedule`. */
export interface AgentToleration {
  readonly key: string;
  /**
   * Taint value to match.
   * @default - any value (operator Exists)
   */
  readonly value?: string;
  /**
   * Taint effect to match.
   * @default - all effects
   */
  readonly effect?: TaintEffect;
  /**
   * For NoExecute: how long the pod stays bound after the taint appears.
   * @default - forever
   */
  readonly tolerationSeconds?: Duration;
}

/**
 * Everything that shapes an agent pod. Shared by {@link AgentJob} and `AgentScaledJob`, so both
 * build their pod template through the same code.
 */
export interface AgentPodProps {
  /** Container image with an explicit tag or digest (untagged and `:latest` are rejected). */
  readonly image: string;
  /** The task queue's connection URL, from a Secret. */
  readonly queue: QueueConnection;
  /**
   * Queue the agents consume.
   * @default "agent-tasks" (the runtime contract's default)
   */
  readonly queueName?: string;
  /**
   * Queue receiving one result message per task.
   * @default "agent-results" (the runtime contract's default)
   */
  readonly resultQueueName?: string;
  /**
   * Path of the handler module inside the image (`AGENT_HANDLER`).
   * @default - the image's own (the worker's default)
   */
  readonly handlerModule?: string;
  /**
   * Container resources. When given it replaces the default whole (no per-field merge), so what
   * you write is what is synthesized.
   * @default DEFAULT_AGENT_RESOURCES (requests 500m CPU / 1Gi memory, limit 2Gi memory)
   */
  readonly resources?: AgentResources;
  /**
   * Extra environment variables, e.g. the worker's tuning settings (`AGENT_MAX_ATTEMPTS`, …). The
   * contract variables this construct sets from props (queue, identity, paths, deadlines) are
   * rejected here; values that carry credentials are rejected too (use a Secret).
   * @default - none
   */
  readonly env?: Record<string, string>;
  /**
   * Value of the `app` label on the workload and its pods.
   * @default - the workload's name
   */
  readonly app?: string;
  /**
   * Value of the `team` label, for cost allocation and alert routing.
   * @default - no team label
   */
  readonly team?: string;
  /**
   * Where agents persist progress; mounted at the contract's checkpoint path.
   * @default - an emptyDir: checkpoints survive a container restart but not the loss of the pod
   */
  readonly checkpointStore?: ICheckpointStore;
  /**
   * Time between SIGTERM and SIGKILL. The worker's shutdown deadline (`AGENT_SHUTDOWN_SECONDS`) is
   * derived from it, leaving a margin to exit before the kill.
   * @default Duration.seconds(60)
   */
  readonly terminationGracePeriod?: Duration;
  /**
   * Node labels the pods must match, e.g. `{ 'node.kubernetes.io/instance-type': 'g5.xlarge' }`.
   * @default - none
   */
  readonly nodeSelector?: Record<string, string>;
  /**
   * Taints the pods tolerate.
   * @default - none
   */
  readonly tolerations?: AgentToleration[];
  /**
   * Node and pod affinity, as Kubernetes writes it.
   * @default - none
   */
  readonly affinity?: k8s.Affinity;
  /**
   * Service account the pods run as. Its token is not mounted unless
   * `automountServiceAccountToken` is set: agents do not talk to the Kubernetes API.
   * @default - the namespace's default service account
   */
  readonly serviceAccount?: IServiceAccount;
  /**
   * Mount the service account token into the pods.
   * @default false
   */
  readonly automountServiceAccountToken?: boolean;
  /**
   * PriorityClass of the pods, e.g. a low class so agents are preempted before services.
   * @default - the cluster's default priority
   */
  readonly priorityClassName?: string;
  /**
   * UID and GID the container runs as; also the fsGroup that owns the checkpoint volume.
   * Must match a non-root user of the image (the worker image uses 1000).
   * @default 1000
   */
  readonly runAsUser?: number;
  /**
   * Quit after the queue stayed empty this long (`AGENT_IDLE_EXIT_SECONDS`).
   * @default Duration.seconds(30) (the runtime contract's default)
   */
  readonly idleExit?: Duration;
}

import type { Duration } from 'cdk8s';
import type { ContainerPort, EnvFrom, EnvValue, ISecret, IServiceAccount, k8s, Volume } from 'cdk8s-plus-30';
import type { ICheckpointStore } from './checkpoint-store';
import type { IModelServer } from './model-server';
import { Quantity } from './quantity';
import type { QueueConnection } from './queue';
import type { AgentResources } from './workload';

export type { AgentResources, ResourceAmounts } from './workload';

/** Used when `resources` is omitted: room for one agent's context, a hard memory ceiling, no CPU throttling. */
export const DEFAULT_AGENT_RESOURCES: AgentResources = {
  requests: { cpu: Quantity.cpuMillis(500), memory: Quantity.gibibytes(1) },
  limits: { memory: Quantity.gibibytes(2) },
};

/**
 * Used for a sidecar or init container that sets no `resources`: enough for a proxy, a log shipper
 * or a setup script, with a memory ceiling so a leak in a helper cannot take the agent's node
 * memory, and no CPU limit (a throttled proxy slows every LLM call of the agent).
 */
export const DEFAULT_EXTRA_CONTAINER_RESOURCES: AgentResources = {
  requests: { cpu: Quantity.cpuMillis(50), memory: Quantity.mebibytes(64) },
  limits: { memory: Quantity.mebibytes(128) },
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
 * A volume of the agent pod and where a container mounts it.
 *
 * In {@link AgentPodProps.volumes} it adds the volume to the pod and mounts it into the agent
 * container. In a sidecar's or init container's `volumes` it mounts one of those pod volumes (the
 * same `Volume` object) into that container.
 */
export interface AgentVolume {
  /**
   * The volume, built with cdk8s-plus: `Volume.fromSecret(...)`, `Volume.fromConfigMap(...)`,
   * `Volume.fromEmptyDir(..., { sizeLimit })`, `Volume.fromCsi(...)`, `Volume.fromPersistentVolumeClaim(...)`.
   * Only the volume types Pod Security "restricted" admits are accepted (no hostPath, nfs or cloud
   * disks), and an emptyDir must have a `sizeLimit`: its node's disk (or memory) is shared.
   */
  readonly volume: Volume;
  /**
   * Absolute, normalized path in the container. It may not be `/tmp` or the checkpoint path, nor
   * lie above or below them or another mount of the same container.
   */
  readonly mountPath: string;
  /**
   * Mount read-only. Writable space is `/tmp` (and the checkpoint path for the agent); make a
   * mount writable only where a container must write to the volume itself.
   * @default true
   */
  readonly readOnly?: boolean;
  /**
   * Mount this path inside the volume instead of its root (relative, no `..`).
   * @default - the volume's root
   */
  readonly subPath?: string;
}

/**
 * A run-to-completion setup step of the agent pod: it runs, and must exit 0, before the agent
 * starts. It gets the agent's restricted security context (not overridable) and the pod's `/tmp`.
 */
export interface AgentInitContainer {
  /** Container name: a DNS label, unique in the pod, not `agent`. */
  readonly name: string;
  /** Image with an explicit tag or digest, checked like the agent's `image`. */
  readonly image: string;
  /**
   * Entrypoint.
   * @default - the image's ENTRYPOINT
   */
  readonly command?: string[];
  /**
   * Arguments.
   * @default - the image's CMD
   */
  readonly args?: string[];
  /**
   * Environment variables, as the agent's `env` (no contract variable is reserved here).
   * @default - none
   */
  readonly env?: Record<string, string | EnvValue>;
  /**
   * Whole Secrets or ConfigMaps as environment variables, as the agent's `envFrom`.
   * @default - none
   */
  readonly envFrom?: EnvFrom[];
  /**
   * Requests and limits. Given, it replaces the default whole.
   * @default DEFAULT_EXTRA_CONTAINER_RESOURCES (requests 50m CPU / 64Mi memory, limit 128Mi memory)
   */
  readonly resources?: AgentResources;
  /**
   * Volumes of the pod's `volumes` to mount here, by the same `Volume` object, each at its own
   * `mountPath` (read-only unless `readOnly: false`).
   * @default - none besides the pod's `/tmp`
   */
  readonly volumes?: AgentVolume[];
}

/**
 * A container that runs beside the agent for the pod's whole life (a proxy, a log shipper), written
 * as a Kubernetes native sidecar: an init container with `restartPolicy: Always` (Kubernetes 1.29+,
 * KEP-753). A plain second container would keep a Job's pod Running after the agent exits, so the
 * Job would never complete; a native sidecar is stopped once the agent container has exited. That
 * order holds at shutdown too: on SIGTERM the agent is stopped first and the sidecars after it, so a
 * proxy the agent needs while it checkpoints is still up. Its exit code never fails the pod.
 */
export interface AgentSidecar extends AgentInitContainer {
  /**
   * Named ports the sidecar listens on (no host ports; not the agent's metrics port or name). The
   * agent reaches them on localhost; AgentGuardrails' NetworkPolicy admits no other pod to them.
   * @default - none
   */
  readonly ports?: ContainerPort[];
  /**
   * Probe the kubelet runs until the sidecar is up; the containers after it (and the agent) start
   * only once it succeeds.
   * @default - none: the agent may start before the sidecar is ready
   */
  readonly startupProbe?: SidecarStartupProbe;
}

/** Options of a {@link SidecarStartupProbe}. */
export interface SidecarStartupProbeOptions {
  /**
   * Time between two checks.
   * @default Duration.seconds(1)
   */
  readonly period?: Duration;
  /**
   * Failed checks in a row after which the kubelet restarts the sidecar.
   * @default 30
   */
  readonly failureThreshold?: number;
}

/** How the kubelet tells that a sidecar is up: an HTTP GET that answers 2xx/3xx, or a TCP connect. */
export class SidecarStartupProbe {
  /** Up when `GET path` on `port` answers with a status from 200 to 399. */
  static httpGet(path: string, port: number, options: SidecarStartupProbeOptions = {}): SidecarStartupProbe {
    return new SidecarStartupProbe(port, path, options);
  }

  /** Up when `port` accepts a TCP connection. */
  static tcpSocket(port: number, options: SidecarStartupProbeOptions = {}): SidecarStartupProbe {
    return new SidecarStartupProbe(port, undefined, options);
  }

  private constructor(
    /** The container port probed. */
    readonly port: number,
    /** The HTTP path, or undefined for a TCP check. */
    readonly path: string | undefined,
    readonly options: SidecarStartupProbeOptions,
  ) {}
}

/**
 * Everything that shapes an agent pod. Shared by {@link AgentJob}, `AgentScaledJob` and `AgentPool`,
 * so all build their pod template through the same code.
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
   * Extra environment variables of the agent container, e.g. the worker's tuning settings
   * (`AGENT_MAX_ATTEMPTS`, …): a plain string, or a cdk8s-plus `EnvValue`
   * (`EnvValue.fromSecretValue({ secret, key })`, `fromConfigMap`, `fromFieldRef`, `fromResource`,
   * `fromValue`). The contract variables this construct sets from props (queue, identity, paths,
   * deadlines) are rejected here; literal values that carry credentials are rejected too (use a
   * Secret).
   * @default - none
   */
  readonly env?: Record<string, string | EnvValue>;
  /**
   * Whole Secrets or ConfigMaps as environment variables of the agent container:
   * `Env.fromSecret(secret)`, `Env.fromConfigMap(configMap, prefix?)`. A source cannot override a
   * contract variable the construct writes: in Kubernetes an `env` entry wins over `envFrom`. Two
   * are written only with their prop, so a source could set them: `AGENT_HANDLER` without
   * `handlerModule`, and `AGENT_INDEX` when the workload has no completion index.
   * @default - none
   */
  readonly envFrom?: EnvFrom[];
  /**
   * Extra volumes of the pod, each mounted into the agent container (read-only by default); sidecars
   * and init containers mount them by the same `Volume` object.
   * @default - none: the pod has its `/tmp` and checkpoint volumes only
   */
  readonly volumes?: AgentVolume[];
  /**
   * Secret of type `kubernetes.io/dockerconfigjson` with which the pods pull their images
   * (`imagePullSecrets`).
   * @default - the service account's image pull secrets, or none
   */
  readonly dockerRegistryAuth?: ISecret;
  /**
   * Run-to-completion setup steps, run in order before the agent starts. In `spec.initContainers`
   * they come first, then the sidecars: so sidecars start after the setup steps and are up before
   * the agent.
   * @default - none
   */
  readonly initContainers?: AgentInitContainer[];
  /**
   * Containers that run beside the agent, as native sidecars (see {@link AgentSidecar}). They start
   * in order after the init containers and before the agent, and stop once the agent exited. There
   * is deliberately no way to add a plain second container, which would keep a Job's pod running.
   * Their resources count toward the pod's (see `podResources` on the workload).
   * @default - none
   */
  readonly sidecars?: AgentSidecar[];
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
   * Quit after the queue stayed empty this long (`AGENT_IDLE_EXIT_SECONDS`). Jobs only: a pool's
   * agents never quit on their own.
   * @default Duration.seconds(30) (the runtime contract's default)
   */
  readonly idleExit?: Duration;
  /**
   * An in-cluster model server the agents call (a `ModelServer`). The agent container gets
   * `LLM_BASE_URL` (the server's Service URL) and `LLM_MODEL` (the name it serves the model under),
   * which `env` may then not set; `AgentGuardrails` lets the agents reach the server's port, and the
   * server's NetworkPolicy admits them.
   * @default - none: the agents call the LLM that `env` points them at
   */
  readonly modelServer?: IModelServer;
}

/**
 * {@link AgentPodProps} with the queue optional: what the pod builder takes. A workload whose tasks
 * come from files (an `AgentJob` with `tasks`) has no queue.
 */
export type AgentPodSpecProps = Omit<AgentPodProps, 'queue'> & { readonly queue?: QueueConnection };

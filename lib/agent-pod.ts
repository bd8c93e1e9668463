import { Defaults, Env, Http, MIN_SHUTDOWN_SECONDS, shutdownSecondsFor } from '@agent-fleet/worker/contract';
import { Duration } from 'cdk8s';
import { type IServiceAccount, k8s } from 'cdk8s-plus-30';
import type { Construct } from 'constructs';
import { CheckpointAccessMode, type ICheckpointStore } from './checkpoint-store';
import { AGENT_CONTAINER } from './job-policy';
import { Quantity, requireQuantity } from './quantity';
import type { QueueConnection } from './queue';
import {
  invalid,
  requireDnsSubdomain,
  requireInt,
  requireLabelValue,
  requireNoCredential,
  requireSeconds,
} from './validation';

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

/** How the workload identifies each agent in `AGENT_INDEX`. */
export enum AgentIdentity {
  /** The Indexed Job's completion index. */
  COMPLETION_INDEX = 'completion-index',
  /** No index: the worker falls back to the pod name. */
  POD_NAME = 'pod-name',
}

/** What the workload construct decides about its pods beyond {@link AgentPodProps}. */
export interface AgentPodOptions {
  /** Name of the workload; labels and error messages use it. */
  readonly workloadName: string;
  readonly identity: AgentIdentity;
  /** Most pods that can run at once; a ReadWriteOnce store is rejected above 1. */
  readonly maxConcurrentPods: number;
}

const DEFAULT_GRACE = Duration.seconds(60);
const DEFAULT_RUN_AS_USER = 1000;
const CHECKPOINT_VOLUME = 'checkpoints';
const TMP_VOLUME = 'tmp';
/**
 * Contract variables the pod builder sets from props; `env` may not set them. The worker's other
 * contract settings (retry limits, lease length, …) are left to `env`.
 */
const CONSTRUCT_ENV = new Set<string>([
  Env.TASK_QUEUE_URL,
  Env.TASK_QUEUE_NAME,
  Env.RESULT_QUEUE_NAME,
  Env.POD_NAME,
  Env.AGENT_INDEX,
  Env.AGENT_HANDLER,
  Env.CHECKPOINT_DIR,
  Env.METRICS_PORT,
  Env.AGENT_MAX_TASKS,
  Env.AGENT_IDLE_EXIT_SECONDS,
  Env.AGENT_SHUTDOWN_SECONDS,
]);

/**
 * Validates {@link AgentPodProps} at synth time and renders the pod template: contract env,
 * checkpoint mount, metrics port, Pod Security Standards "restricted". Written once, used by
 * every agent workload.
 */
export class AgentPod {
  /** Labels on the workload object and its pods. */
  readonly labels: Record<string, string>;
  /** Labels that select exactly this workload's pods. */
  readonly selectorLabels: Record<string, string>;
  /** Seconds between SIGTERM and SIGKILL. */
  readonly terminationGracePeriodSeconds: number;
  /** The worker's shutdown deadline, grace period minus the contract's margin. */
  readonly shutdownSeconds: number;
  readonly queueName: string;
  readonly resultQueueName: string;
  /** The container's resources (the default when the prop is omitted). */
  readonly resources: AgentResources;
  private readonly idleExitSeconds: number;

  constructor(
    scope: Construct,
    private readonly props: AgentPodProps,
    private readonly options: AgentPodOptions,
  ) {
    validateImage(scope, props.image);
    props.queue.validate(scope);
    this.queueName = validateQueueName(scope, 'queueName', props.queueName ?? Defaults.taskQueueName);
    this.resultQueueName = validateQueueName(
      scope,
      'resultQueueName',
      props.resultQueueName ?? Defaults.resultQueueName,
    );
    if (this.queueName === this.resultQueueName) {
      invalid(
        scope,
        'resultQueueName',
        this.resultQueueName,
        'is the same queue as queueName',
        'give results their own queue, or agents would consume their own results',
      );
    }
    if (props.handlerModule !== undefined && !props.handlerModule.startsWith('/')) {
      invalid(
        scope,
        'handlerModule',
        props.handlerModule,
        'is not an absolute path',
        'give the module path inside the image, e.g. "/app/dist/handler.js"',
      );
    }
    this.resources = props.resources ?? DEFAULT_AGENT_RESOURCES;
    validateResources(scope, this.resources);
    validateEnv(scope, props.env ?? {});

    this.terminationGracePeriodSeconds = requireSeconds(
      scope,
      'terminationGracePeriod',
      props.terminationGracePeriod ?? DEFAULT_GRACE,
    );
    this.shutdownSeconds = shutdownSecondsFor(this.terminationGracePeriodSeconds);
    if (this.shutdownSeconds < MIN_SHUTDOWN_SECONDS) {
      invalid(
        scope,
        'terminationGracePeriod',
        `${this.terminationGracePeriodSeconds}s`,
        `leaves the worker ${this.shutdownSeconds}s to checkpoint and requeue (it needs at least ${MIN_SHUTDOWN_SECONDS}s)`,
        `use at least Duration.seconds(${MIN_SHUTDOWN_SECONDS + this.terminationGracePeriodSeconds - this.shutdownSeconds})`,
      );
    }
    requireInt(scope, 'runAsUser', props.runAsUser ?? DEFAULT_RUN_AS_USER, 1);
    if (props.priorityClassName !== undefined) {
      requireDnsSubdomain(scope, 'priorityClassName', props.priorityClassName);
    }
    for (const [i, t] of (props.tolerations ?? []).entries()) {
      if (t.tolerationSeconds !== undefined && t.effect !== TaintEffect.NO_EXECUTE) {
        invalid(
          scope,
          `tolerations[${i}].tolerationSeconds`,
          t.tolerationSeconds.toHumanString(),
          'only applies to NoExecute taints',
          'set effect: TaintEffect.NO_EXECUTE or drop tolerationSeconds',
        );
      }
    }
    const store = props.checkpointStore;
    if (store?.accessMode === CheckpointAccessMode.READ_WRITE_ONCE && options.maxConcurrentPods > 1) {
      invalid(
        scope,
        'checkpointStore.accessMode',
        store.accessMode,
        `cannot be shared by the ${options.maxConcurrentPods} pods this workload may run at once`,
        'use a ReadWriteMany store (EFS, NFS, CephFS, Filestore), or run one pod at a time',
      );
    }

    const app = requireLabelValue(scope, 'app', props.app ?? options.workloadName);
    this.selectorLabels = { [WORKLOAD_LABEL]: options.workloadName };
    this.labels = {
      app,
      ...(props.team !== undefined ? { team: requireLabelValue(scope, 'team', props.team) } : {}),
      ...this.selectorLabels,
    };
    this.idleExitSeconds = props.idleExit
      ? requireSeconds(scope, 'idleExit', props.idleExit, 1)
      : Defaults.idleExitSeconds;
  }

  /**
   * The pod template, ready for a Job spec or a ScaledJob's jobTargetRef.
   * @param maxTasks `AGENT_MAX_TASKS`: tasks one pod takes before exiting 0 (0 = no limit)
   */
  template(maxTasks: number): k8s.PodTemplateSpec {
    const { props } = this;
    const runAs = props.runAsUser ?? DEFAULT_RUN_AS_USER;
    return {
      metadata: {
        labels: this.labels,
        annotations: {
          'prometheus.io/scrape': 'true',
          'prometheus.io/port': String(Defaults.metricsPort),
          'prometheus.io/path': Http.metricsPath,
        },
      },
      spec: {
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: this.terminationGracePeriodSeconds,
        automountServiceAccountToken: props.automountServiceAccountToken ?? false,
        serviceAccountName: props.serviceAccount?.name,
        priorityClassName: props.priorityClassName,
        nodeSelector: props.nodeSelector,
        tolerations: props.tolerations?.map(renderToleration),
        affinity: props.affinity,
        securityContext: {
          runAsNonRoot: true,
          runAsUser: runAs,
          runAsGroup: runAs,
          fsGroup: runAs,
          fsGroupChangePolicy: 'OnRootMismatch',
          seccompProfile: { type: 'RuntimeDefault' },
        },
        containers: [
          {
            name: AGENT_CONTAINER,
            image: props.image,
            imagePullPolicy: 'IfNotPresent',
            env: this.env(maxTasks),
            ports: [{ name: Http.portName, containerPort: Defaults.metricsPort, protocol: 'TCP' }],
            resources: renderResources(this.resources),
            securityContext: {
              runAsNonRoot: true,
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'] },
              seccompProfile: { type: 'RuntimeDefault' },
            },
            volumeMounts: [
              { name: TMP_VOLUME, mountPath: '/tmp' },
              { name: CHECKPOINT_VOLUME, mountPath: Defaults.checkpointDir },
            ],
          },
        ],
        volumes: [
          { name: TMP_VOLUME, emptyDir: {} },
          props.checkpointStore
            ? {
                name: CHECKPOINT_VOLUME,
                persistentVolumeClaim: { claimName: props.checkpointStore.claimName },
              }
            : { name: CHECKPOINT_VOLUME, emptyDir: {} },
        ],
      },
    };
  }

  private env(maxTasks: number): k8s.EnvVar[] {
    const { props, options } = this;
    const env: k8s.EnvVar[] = [
      {
        name: Env.TASK_QUEUE_URL,
        valueFrom: { secretKeyRef: { name: props.queue.secretName, key: props.queue.key } },
      },
      { name: Env.TASK_QUEUE_NAME, value: this.queueName },
      { name: Env.RESULT_QUEUE_NAME, value: this.resultQueueName },
      { name: Env.POD_NAME, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ];
    if (options.identity === AgentIdentity.COMPLETION_INDEX) {
      env.push({
        name: Env.AGENT_INDEX,
        valueFrom: {
          fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" },
        },
      });
    }
    if (props.handlerModule !== undefined) env.push({ name: Env.AGENT_HANDLER, value: props.handlerModule });
    env.push(
      { name: Env.CHECKPOINT_DIR, value: Defaults.checkpointDir },
      { name: Env.METRICS_PORT, value: String(Defaults.metricsPort) },
      { name: Env.AGENT_MAX_TASKS, value: String(maxTasks) },
      {
        name: Env.AGENT_IDLE_EXIT_SECONDS,
        value: String(this.idleExitSeconds),
      },
      { name: Env.AGENT_SHUTDOWN_SECONDS, value: String(this.shutdownSeconds) },
    );
    for (const [name, value] of Object.entries(props.env ?? {})) env.push({ name, value });
    return env;
  }
}

function validateImage(scope: Construct, image: string): void {
  const fix = 'pin a version, e.g. "registry.example.com/agent:1.4.2" or "…/agent@sha256:<digest>"';
  if (image.trim() !== image || image.length === 0 || /\s/.test(image)) {
    invalid(scope, 'image', image, 'is not an image reference', fix);
  }
  requireNoCredential(scope, 'image', image, 'use an imagePullSecret on the service account');
  if (image.includes('@')) {
    if (!/@sha256:[a-f0-9]{64}$/.test(image)) invalid(scope, 'image', image, 'has a malformed digest', fix);
    return;
  }
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastSegment.lastIndexOf(':');
  if (colon < 0) invalid(scope, 'image', image, 'has no tag, so every pull may run different code', fix);
  const tag = lastSegment.slice(colon + 1);
  if (tag === 'latest') invalid(scope, 'image', image, 'uses the moving tag "latest"', fix);
  if (!/^[\w][\w.-]{0,127}$/.test(tag)) invalid(scope, 'image', image, 'has an invalid tag', fix);
}

function validateQueueName(scope: Construct, prop: string, name: string): string {
  // AMQP short strings: at most 255 bytes; names starting "amq." are reserved by the broker.
  if (name.length === 0 || Buffer.byteLength(name) > 255 || name.startsWith('amq.')) {
    invalid(scope, prop, name, 'is not a usable queue name', 'use 1–255 bytes not starting with "amq."');
  }
  requireNoCredential(scope, prop, name, 'a queue name is not a URL; put the URL in the Secret');
  return name;
}

/** Resource fields of {@link ResourceAmounts} and their Kubernetes names. */
export const RESOURCE_NAMES = [
  ['cpu', 'cpu'],
  ['memory', 'memory'],
  ['ephemeralStorage', 'ephemeral-storage'],
] as const;

/** Amounts as Kubernetes writes them (`ephemeral-storage`, …), or undefined when none is set. */
export function renderAmounts(
  amounts: ResourceAmounts | undefined,
): Record<string, k8s.Quantity> | undefined {
  const entries = RESOURCE_NAMES.flatMap(([field, key]) => {
    const q = amounts?.[field];
    return q === undefined ? [] : [[key, k8s.Quantity.fromString(q.value)] as const];
  });
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

function validateResources(scope: Construct, resources: AgentResources): void {
  for (const [field] of RESOURCE_NAMES) {
    const request = resources.requests?.[field];
    const limit = resources.limits?.[field];
    const requested = request && requireQuantity(scope, `resources.requests.${field}`, request);
    const limited = limit && requireQuantity(scope, `resources.limits.${field}`, limit);
    if (requested !== undefined && limited !== undefined && limited < requested) {
      invalid(
        scope,
        `resources.limits.${field}`,
        limit!.value,
        `is below the request (${request!.value})`,
        `raise the limit to at least ${request!.value} or lower the request`,
      );
    }
  }
}

function validateEnv(scope: Construct, env: Record<string, string>): void {
  for (const [name, value] of Object.entries(env)) {
    if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(name)) {
      invalid(
        scope,
        `env.${name}`,
        name,
        'is not a valid variable name',
        'use letters, digits, "_", "-" and "."',
      );
    }
    if (CONSTRUCT_ENV.has(name)) {
      invalid(
        scope,
        `env.${name}`,
        value,
        'is set by the construct from its props (runtime contract)',
        'use the matching prop (queue, queueName, terminationGracePeriod, …) instead',
      );
    }
    requireNoCredential(
      scope,
      `env.${name}`,
      value,
      'store the value in a Secret and reference it with a secretKeyRef (see QueueConnection.fromSecret for the queue URL)',
    );
  }
}

function renderResources(resources: AgentResources): k8s.ResourceRequirements {
  return { requests: renderAmounts(resources.requests), limits: renderAmounts(resources.limits) };
}

function renderToleration(t: AgentToleration): k8s.Toleration {
  return {
    key: t.key,
    operator: t.value === undefined ? 'Exists' : 'Equal',
    value: t.value,
    effect: t.effect,
    tolerationSeconds: t.tolerationSeconds?.toSeconds({ integral: false }),
  };
}

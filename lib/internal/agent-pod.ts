import {
  Defaults,
  Env,
  Http,
  MIN_SHUTDOWN_SECONDS,
  queueNameViolation,
  resultQueueViolation,
  shutdownSecondsFor,
} from '@agent-fleet/contract';
import { Duration } from 'cdk8s';
import { k8s } from 'cdk8s-plus-30';
import type { Construct } from 'constructs';
import {
  type AgentPodProps,
  type AgentResources,
  type AgentToleration,
  DEFAULT_AGENT_RESOURCES,
  type ResourceAmounts,
  TaintEffect,
} from '../agent-pod-props';
import { CheckpointAccessMode } from '../checkpoint-store';
import { WORKLOAD_LABEL } from '../workload';
import { AGENT_CONTAINER } from './job-policy';
import {
  invalid,
  requireDnsSubdomain,
  requireInt,
  requireLabelValue,
  requireNoCredential,
  requireQuantity,
  requireSeconds,
} from './validation';

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
 * The agent's readiness: `/readyz` answers 200 from the moment the worker's consumer joined the task
 * queue until it stops (see the contract's `Http.readyzPath`). So the pod condition `Ready` means
 * "this agent holds its messages", which is what KEDA's `pendingPodConditions: [Ready]` asks for, and
 * Job status counts ready agents. Probed every 2 s: a late `Ready` only keeps a Job pending a little
 * longer, so KEDA waits rather than creating Jobs for messages an agent already holds.
 */
const READINESS_PROBE: k8s.Probe = {
  httpGet: { path: Http.readyzPath, port: k8s.IntOrString.fromString(Http.portName) },
  periodSeconds: 2,
  timeoutSeconds: 1,
  successThreshold: 1,
  failureThreshold: 1,
};

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
  Env.AGENT_CONCURRENCY,
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

  /**
   * The task queue the pod will consume, after checking the queue connection and the name: for
   * workloads that bind triggers to the queue before building the pod.
   */
  static taskQueueOf(scope: Construct, props: AgentPodProps): string {
    props.queue.validate(scope);
    return validateQueueName(scope, 'queueName', props.queueName ?? Defaults.taskQueueName);
  }

  constructor(
    scope: Construct,
    private readonly props: AgentPodProps,
    private readonly options: AgentPodOptions,
  ) {
    validateImage(scope, props.image);
    this.queueName = AgentPod.taskQueueOf(scope, props);
    this.resultQueueName = validateQueueName(
      scope,
      'resultQueueName',
      props.resultQueueName ?? Defaults.resultQueueName,
    );
    const sameQueue = resultQueueViolation(this.queueName, this.resultQueueName);
    if (sameQueue) {
      invalid(scope, 'resultQueueName', this.resultQueueName, sameQueue.problem, sameQueue.fix);
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
   * @param concurrency `AGENT_CONCURRENCY`: tasks one pod holds and runs at once
   */
  template(maxTasks: number, concurrency: number): k8s.PodTemplateSpec {
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
            env: this.env(maxTasks, concurrency),
            ports: [{ name: Http.portName, containerPort: Defaults.metricsPort, protocol: 'TCP' }],
            readinessProbe: READINESS_PROBE,
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

  private env(maxTasks: number, concurrency: number): k8s.EnvVar[] {
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
      { name: Env.AGENT_CONCURRENCY, value: String(concurrency) },
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
  const violation = queueNameViolation(name);
  if (violation) {
    invalid(scope, prop, name, violation.problem, violation.fix);
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

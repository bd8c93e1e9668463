import {
  DEFAULT_TASK_DIR,
  Defaults,
  Env,
  HandlerEnv,
  Http,
  JOB_COMPLETION_INDEX_ANNOTATION,
  MIN_SHUTDOWN_SECONDS,
  PodEnv,
  queueNameViolation,
  RestartPolicies,
  type RestartPolicy,
  restartPolicyViolation,
  resultQueueViolation,
  shutdownSecondsFor,
  TaskFileEnv,
  TaskSources,
} from '@agent-fleet/contract';
import { Chart, Duration } from 'cdk8s';
import { k8s } from 'cdk8s-plus-30';
import type { Construct } from 'constructs';
import {
  type AgentPodProps,
  type AgentPodSpecProps,
  type AgentResources,
  type AgentToleration,
  DEFAULT_AGENT_RESOURCES,
  TaintEffect,
} from '../agent-pod-props';
import { CheckpointAccessMode } from '../checkpoint-store';
import type { IModelServer } from '../model-server';
import { type PodResources, WORKLOAD_LABEL } from '../workload';
import { AGENT_CONTAINER } from './job-policy';
import {
  CHECKPOINT_VOLUME,
  PodFeatures,
  renderResources,
  restrictedPodSecurityContext,
  restrictedSecurityContext,
  TASKS_VOLUME,
  TMP_VOLUME,
  validateImage,
  validateResources,
} from './pod-features';
import {
  invalid,
  requireDnsSubdomain,
  requireInt,
  requireLabelValue,
  requireNoCredential,
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
  /**
   * The pod's restartPolicy. `Always` (a Deployment) also gets a liveness probe, never exits when
   * idle, and tells the worker through `AGENT_RESTART_POLICY`.
   * @default RestartPolicies.never
   */
  readonly restartPolicy?: RestartPolicy;
  /**
   * Tasks from files instead of the queue: the ConfigMaps holding the shard files, mounted together
   * read-only at the contract's task directory. The pod then has no queue variables.
   * @default - tasks from the queue (`props.queue` required)
   */
  readonly taskFiles?: TaskFiles;
}

/** Where a static batch's shard files are: ConfigMaps whose keys are the contract's shard file names. */
export interface TaskFiles {
  readonly configMapNames: readonly string[];
}

/** The model server each agent workload was wired to, for guardrails that open the way to it. */
const MODEL_SERVERS = new WeakMap<object, IModelServer>();

/** The model server `workload`'s agents call (its `modelServer` prop), if any. */
export function modelServerOf(workload: object): IModelServer | undefined {
  return MODEL_SERVERS.get(workload);
}

const DEFAULT_GRACE = Duration.seconds(60);
/** Pools never quit when idle (the contract's 0 = never); see `restartPolicyViolation`. */
const NO_IDLE_EXIT = 0;
const DEFAULT_RUN_AS_USER = 1000;

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
 * The agent's liveness, for pods the kubelet restarts in place (a pool): `/healthz` answers 200 as
 * long as the worker's event loop runs, checkpointing and draining included. A worker that stops
 * answering for a minute is hung; a Job's agent would end on its own, a pool's never would.
 */
const LIVENESS_PROBE: k8s.Probe = {
  httpGet: { path: Http.healthzPath, port: k8s.IntOrString.fromString(Http.portName) },
  periodSeconds: 10,
  timeoutSeconds: 5,
  successThreshold: 1,
  failureThreshold: 6,
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
  PodEnv.AGENT_RESTART_POLICY,
  TaskFileEnv.AGENT_TASK_SOURCE,
  TaskFileEnv.AGENT_TASK_DIR,
]);

/** What the handler reads to reach a model server, set from the `modelServer` prop. */
const MODEL_SERVER_ENV = new Set<string>(Object.values(HandlerEnv));

/**
 * Validates {@link AgentPodProps} at synth time and renders the pod template: contract env,
 * checkpoint mount, metrics port, Pod Security Standards "restricted" for every container, and the
 * user's env, volumes, init containers and sidecars ({@link PodFeatures}). Written once, used by
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
  /** The task queue the pods consume; undefined when their tasks come from files. */
  readonly queueName?: string;
  readonly resultQueueName?: string;
  /** The agent container's resources (the default when the prop is omitted). */
  readonly resources: AgentResources;
  /** Every container's resources and the pod's effective requests and limits. */
  readonly podResources: PodResources;
  private readonly idleExitSeconds: number;
  private readonly restartPolicy: RestartPolicy;
  private readonly features: PodFeatures;

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
    private readonly props: AgentPodSpecProps,
    private readonly options: AgentPodOptions,
  ) {
    validateImage(scope, 'image', props.image);
    if (options.taskFiles === undefined) {
      if (props.queue === undefined) {
        invalid(
          scope,
          'queue',
          undefined,
          'is not set, and the agents have no other source of tasks',
          'pass queue: QueueConnection.fromSecretName(...)' +
            (options.identity === AgentIdentity.COMPLETION_INDEX ? ', or a static batch with tasks' : ''),
        );
      }
      const queueProps = props as AgentPodProps;
      this.queueName = AgentPod.taskQueueOf(scope, queueProps);
      this.resultQueueName = validateQueueName(
        scope,
        'resultQueueName',
        props.resultQueueName ?? Defaults.resultQueueName,
      );
      const sameQueue = resultQueueViolation(this.queueName, this.resultQueueName);
      if (sameQueue) {
        invalid(scope, 'resultQueueName', this.resultQueueName, sameQueue.problem, sameQueue.fix);
      }
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
    validateResources(scope, 'resources', this.resources);
    const server = props.modelServer && validateModelServer(scope, props.modelServer);
    this.features = new PodFeatures(
      scope,
      props,
      this.resources,
      server ? new Set([...CONSTRUCT_ENV, ...MODEL_SERVER_ENV]) : CONSTRUCT_ENV,
    );
    this.podResources = this.features.podResources;

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
    this.restartPolicy = options.restartPolicy ?? RestartPolicies.never;
    if (this.restartPolicy === RestartPolicies.always && props.idleExit !== undefined) {
      invalid(
        scope,
        'idleExit',
        props.idleExit.toHumanString(),
        "would make the pool's agents exit 0 when idle, and the kubelet restarts a pool's containers at once " +
          '(restartPolicy Always), into its crash-loop back-off',
        'drop idleExit: scale the pool to zero with scaleToZero instead',
      );
    }
    this.idleExitSeconds =
      this.restartPolicy === RestartPolicies.always
        ? NO_IDLE_EXIT
        : props.idleExit
          ? requireSeconds(scope, 'idleExit', props.idleExit, 1)
          : Defaults.idleExitSeconds;
    if (server) {
      const namespace = Chart.of(scope).namespace;
      if (namespace === undefined && server.namespace !== undefined) {
        invalid(
          scope,
          'modelServer',
          server.name,
          `lives in namespace ${server.namespace} while this workload's chart has none, so its NetworkPolicy ` +
            'cannot name the namespace the agents run in',
          "give the workload's chart a namespace",
        );
      }
      server.allowClients(namespace, this.selectorLabels);
      MODEL_SERVERS.set(scope, server);
    }
  }

  /**
   * The pod template, ready for a Job spec, a ScaledJob's jobTargetRef or a Deployment.
   * @param maxTasks `AGENT_MAX_TASKS`: tasks one pod takes before exiting 0 (0 = no limit)
   * @param concurrency `AGENT_CONCURRENCY`: tasks one pod holds and runs at once
   */
  template(maxTasks: number, concurrency: number): k8s.PodTemplateSpec {
    const { props, features } = this;
    const always = this.restartPolicy === RestartPolicies.always;
    const violation = restartPolicyViolation(this.restartPolicy, maxTasks, this.idleExitSeconds);
    if (violation) throw new Error(`agent-pod: restartPolicy ${violation.problem}`);
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
        restartPolicy: this.restartPolicy,
        terminationGracePeriodSeconds: this.terminationGracePeriodSeconds,
        automountServiceAccountToken: props.automountServiceAccountToken ?? false,
        serviceAccountName: props.serviceAccount?.name,
        priorityClassName: props.priorityClassName,
        nodeSelector: props.nodeSelector,
        tolerations: props.tolerations?.map(renderToleration),
        affinity: props.affinity,
        imagePullSecrets: features.imagePullSecrets,
        securityContext: restrictedPodSecurityContext(runAs),
        initContainers: features.initContainers,
        containers: [
          {
            name: AGENT_CONTAINER,
            image: props.image,
            imagePullPolicy: 'IfNotPresent',
            env: this.env(maxTasks, concurrency),
            envFrom: features.agentEnvFrom,
            ports: [{ name: Http.portName, containerPort: Defaults.metricsPort, protocol: 'TCP' }],
            livenessProbe: always ? LIVENESS_PROBE : undefined,
            readinessProbe: READINESS_PROBE,
            resources: renderResources(this.resources),
            securityContext: restrictedSecurityContext(),
            volumeMounts: [
              { name: TMP_VOLUME, mountPath: '/tmp' },
              { name: CHECKPOINT_VOLUME, mountPath: Defaults.checkpointDir },
              ...(this.options.taskFiles
                ? [{ name: TASKS_VOLUME, mountPath: DEFAULT_TASK_DIR, readOnly: true }]
                : []),
              ...features.agentMounts,
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
          ...(this.options.taskFiles ? [taskFilesVolume(this.options.taskFiles)] : []),
          ...features.volumes,
        ],
      },
    };
  }

  private env(maxTasks: number, concurrency: number): k8s.EnvVar[] {
    const { props, options } = this;
    const env: k8s.EnvVar[] =
      options.taskFiles === undefined && props.queue !== undefined
        ? [
            {
              name: Env.TASK_QUEUE_URL,
              valueFrom: { secretKeyRef: { name: props.queue.secretName, key: props.queue.key } },
            },
            { name: Env.TASK_QUEUE_NAME, value: this.queueName },
            { name: Env.RESULT_QUEUE_NAME, value: this.resultQueueName },
          ]
        : [
            { name: TaskFileEnv.AGENT_TASK_SOURCE, value: TaskSources.file },
            { name: TaskFileEnv.AGENT_TASK_DIR, value: DEFAULT_TASK_DIR },
          ];
    env.push({ name: Env.POD_NAME, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
    if (options.identity === AgentIdentity.COMPLETION_INDEX) {
      env.push({
        name: Env.AGENT_INDEX,
        valueFrom: {
          fieldRef: { fieldPath: `metadata.annotations['${JOB_COMPLETION_INDEX_ANNOTATION}']` },
        },
      });
    }
    if (props.handlerModule !== undefined) env.push({ name: Env.AGENT_HANDLER, value: props.handlerModule });
    env.push(
      { name: Env.CHECKPOINT_DIR, value: Defaults.checkpointDir },
      { name: Env.METRICS_PORT, value: String(Defaults.metricsPort) },
    );
    // A file-mode worker runs its shard to the end: task count and idle time mean nothing there.
    if (options.taskFiles === undefined) {
      env.push(
        { name: Env.AGENT_MAX_TASKS, value: String(maxTasks) },
        { name: Env.AGENT_CONCURRENCY, value: String(concurrency) },
        { name: Env.AGENT_IDLE_EXIT_SECONDS, value: String(this.idleExitSeconds) },
      );
    } else {
      env.push({ name: Env.AGENT_CONCURRENCY, value: String(concurrency) });
    }
    env.push({ name: Env.AGENT_SHUTDOWN_SECONDS, value: String(this.shutdownSeconds) });
    if (this.restartPolicy !== RestartPolicies.never) {
      env.push({ name: PodEnv.AGENT_RESTART_POLICY, value: this.restartPolicy });
    }
    const server = props.modelServer;
    if (server) {
      env.push(
        { name: HandlerEnv.LLM_BASE_URL, value: server.baseUrl },
        { name: HandlerEnv.LLM_MODEL, value: server.servedModelName },
      );
    }
    env.push(...this.features.agentEnv);
    return env;
  }
}

/**
 * One read-only volume over every ConfigMap of the batch: a `projected` volume (admitted by Pod
 * Security "restricted") merges their keys, the shard file names, into one directory.
 */
function taskFilesVolume(files: TaskFiles): k8s.Volume {
  return {
    name: TASKS_VOLUME,
    projected: { sources: files.configMapNames.map((name) => ({ configMap: { name } })) },
  };
}

/** A `modelServer` prop that is a model server (JavaScript callers can pass anything). */
function validateModelServer(scope: Construct, server: IModelServer): IModelServer {
  const s = server as Partial<IModelServer> | undefined;
  if (
    typeof s?.baseUrl !== 'string' ||
    typeof s.servedModelName !== 'string' ||
    typeof s.allowClients !== 'function'
  ) {
    invalid(
      scope,
      'modelServer',
      s && typeof s === 'object' ? ((s as { name?: string }).name ?? '(unnamed object)') : s,
      'is not a model server (baseUrl, servedModelName, allowClients)',
      'pass a ModelServer construct',
    );
  }
  return server;
}

function validateQueueName(scope: Construct, prop: string, name: string): string {
  const violation = queueNameViolation(name);
  if (violation) {
    invalid(scope, prop, name, violation.problem, violation.fix);
  }
  requireNoCredential(scope, prop, name, 'a queue name is not a URL; put the URL in the Secret');
  return name;
}

/** A toleration as Kubernetes writes it: `Exists` without a value, `Equal` with one. */
export function renderToleration(t: AgentToleration): k8s.Toleration {
  return {
    key: t.key,
    operator: t.value === undefined ? 'Exists' : 'Equal',
    value: t.value,
    effect: t.effect,
    tolerationSeconds: t.tolerationSeconds?.toSeconds({ integral: false }),
  };
}

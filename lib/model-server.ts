import { OPENAI_API_PATH } from '@agent-fleet/contract';
import { type ApiObject, Chart, Duration, Lazy, Names } from 'cdk8s';
import { type IPersistentVolumeClaim, k8s } from 'cdk8s-plus-30';
import { Construct } from 'constructs';
import * as keda from '../imports/keda-keda.sh';
import { PodMonitor } from '../imports/monitoring-monitoring.coreos.com';
import type { AgentToleration } from './agent-pod-props';
import { NAMESPACE_NAME_LABEL } from './guardrails/network-policy';
import { renderToleration } from './internal/agent-pod';
import { refuseCredentialsInOutput } from './internal/credential-scan';
import { withDirectJson } from './internal/direct-json';
import {
  renderResources,
  restrictedPodSecurityContext,
  restrictedSecurityContext,
  validateImage,
  validateResources,
} from './internal/pod-features';
import { selector } from './internal/promql';
import { authenticationRef } from './internal/trigger-authentication';
import {
  invalid,
  requireDnsLabel,
  requireDnsSubdomain,
  requireInt,
  requireLabelValue,
  requireNoCredential,
  requirePrometheusUrl,
  requireQuantity,
  requireSeconds,
} from './internal/validation';
import { Quantity } from './quantity';
import { HpaDefaults } from './scaling/keda-scaledobject';
import type { LlmGatewayCapacity } from './scaling/llm-capacity';
import type { SecretKeyRef, TriggerAuth } from './triggers';
import type { AgentResources } from './workload';

/** The vLLM OpenAI-compatible server image used when `image` is omitted. */
export const VLLM_DEFAULT_IMAGE = 'vllm/vllm-openai:v0.11.0';

/** Label that selects the pods of one model server (agents use `WORKLOAD_LABEL`, so the two never overlap). */
export const MODEL_SERVER_LABEL = 'agent-fleet.dev/model-server';

/** The gauge vLLM exports for requests queued for lack of batch or KV-cache room (`/metrics`). */
export const VLLM_WAITING_REQUESTS_METRIC = 'vllm:num_requests_waiting';

/** Port of the OpenAI API, `/health` and `/metrics` (vLLM's default). */
const SERVER_PORT = 8000;
const PORT_NAME = 'http';
const CONTAINER = 'server';
const CACHE_PATH = '/models';
const NVIDIA_GPU = 'nvidia.com/gpu';
/** Node label set by NVIDIA GPU Feature Discovery (GPU Operator), e.g. `NVIDIA-A100-SXM4-80GB`. */
const GPU_PRODUCT_LABEL = 'nvidia.com/gpu.product';

/** A model server the agents can call; {@link ModelServer} is one. */
export interface IModelServer {
  /** Name of its Service. */
  readonly name: string;
  /** Namespace of its Service and pods (undefined when its chart has none). */
  readonly namespace?: string;
  /** Port of its OpenAI-compatible API. */
  readonly port: number;
  /** Labels selecting exactly its pods. */
  readonly selectorLabels: Record<string, string>;
  /** `LLM_BASE_URL` for its clients: the Service URL with `/v1`. */
  readonly baseUrl: string;
  /** `LLM_MODEL` for its clients: the name it serves the model under. */
  readonly servedModelName: string;
  /** Lets the pods matching `selectorLabels` in `namespace` reach the server's port. */
  allowClients(namespace: string | undefined, selectorLabels: Record<string, string>): void;
}

/** Where the server keeps the model weights it downloads. */
export class ModelCache {
  /** A node-local emptyDir: the weights are downloaded again by every new pod. */
  static emptyDir(sizeLimit: Quantity): ModelCache {
    return new ModelCache({ emptyDir: sizeLimit });
  }

  /**
   * A PersistentVolumeClaim: a restarted pod finds the weights. Several replicas on several nodes
   * need a ReadWriteMany claim (or ReadOnlyMany, filled beforehand, with `readOnly`).
   */
  static persistentVolumeClaim(
    claim: IPersistentVolumeClaim | string,
    options: { readonly readOnly?: boolean } = {},
  ): ModelCache {
    return new ModelCache({
      claim: typeof claim === 'string' ? claim : claim.name,
      readOnly: options.readOnly,
    });
  }

  private constructor(
    readonly source:
      | { readonly emptyDir: Quantity }
      | { readonly claim: string; readonly readOnly?: boolean },
  ) {}
}

/** The GPUs each replica gets. */
export interface ModelServerGpu {
  /**
   * GPUs per replica (`nvidia.com/gpu` requests and limits).
   * @default 1
   */
  readonly count?: number;
  /**
   * GPU model to schedule on, as NVIDIA GPU Feature Discovery labels nodes
   * (`nvidia.com/gpu.product`), e.g. `NVIDIA-A100-SXM4-80GB` or `NVIDIA-L4`.
   * @default - any node with free NVIDIA GPUs
   */
  readonly product?: string;
}

/** KEDA scaling of the server on its queued requests. */
export interface ModelServerAutoscaling {
  /**
   * The Prometheus KEDA queries, e.g. `http://prometheus-operated.monitoring.svc:9090`; it must scrape
   * the server's PodMonitor. No credential in it: use `auth`.
   */
  readonly prometheusUrl: string;
  /**
   * Most replicas (each takes `gpu.count` GPUs).
   */
  readonly maxReplicaCount: number;
  /**
   * Fewest replicas. At least 1: at zero no pod answers, the agents' requests fail instead of
   * waiting, and the waiting-requests metric the scaler reads has no pod to come from.
   * @default 1
   */
  readonly minReplicaCount?: number;
  /**
   * Queued requests per replica the autoscaler aims at (the HPA's `AverageValue` target on
   * `sum(vllm:num_requests_waiting)`). vLLM queues a request only when its running batch is full.
   * @default 5
   */
  readonly waitingRequestsPerReplica?: number;
  /**
   * How long the autoscaler keeps its highest recommendation before removing a replica. Loading a
   * model takes minutes, so a short window makes the server flap.
   * @default Duration.minutes(10)
   */
  readonly scaleDownStabilization?: Duration;
  /**
   * How often KEDA queries Prometheus.
   * @default Duration.seconds(30) (KEDA's default)
   */
  readonly pollingInterval?: Duration;
  /**
   * How KEDA authenticates to Prometheus.
   * @default - none
   */
  readonly auth?: TriggerAuth;
}

export interface ModelServerProps {
  /**
   * Name of the Deployment, Service and the server's other objects.
   * @default - generated by cdk8s from the construct path
   */
  readonly name?: string;
  /**
   * Namespace of the server's objects. A namespace of its own keeps the agents' LimitRange and
   * ResourceQuota (sized for agents) off the GPU server.
   * @default - the chart's namespace
   */
  readonly namespace?: string;
  /** The model: a Hugging Face repository id, e.g. `Qwen/Qwen2.5-7B-Instruct`, or a path in the cache. */
  readonly model: string;
  /**
   * Name clients put in requests (`--served-model-name`, the agents' `LLM_MODEL`).
   * @default - the model
   */
  readonly servedModelName?: string;
  /**
   * An OpenAI-compatible vLLM image with an explicit tag or digest; its `vllm serve` is run.
   * @default VLLM_DEFAULT_IMAGE
   */
  readonly image?: string;
  /**
   * GPUs per replica and their model.
   * @default - one GPU of any model
   */
  readonly gpu?: ModelServerGpu;
  /**
   * GPUs one copy of the model is split across (`--tensor-parallel-size`), at most `gpu.count`.
   * @default - gpu.count
   */
  readonly tensorParallelSize?: number;
  /**
   * Longest context, prompt plus output, in tokens (`--max-model-len`). Lower it to fit the KV cache
   * of a long-context model on a smaller GPU.
   * @default - the model's own
   */
  readonly maxModelLength?: number;
  /**
   * More `vllm serve` flags, e.g. `['--gpu-memory-utilization', '0.9']`. The flags this construct
   * sets from props are refused here.
   * @default - none
   */
  readonly extraArgs?: string[];
  /**
   * CPU and memory of the server container (GPUs come from `gpu`).
   * @default - requests 4 CPU / 32Gi memory, limit 32Gi memory
   */
  readonly resources?: AgentResources;
  /**
   * Where the weights are cached.
   * @default ModelCache.emptyDir(Quantity.gibibytes(100))
   */
  readonly modelCache?: ModelCache;
  /**
   * Hugging Face token for gated models (`HF_TOKEN`), from a Secret.
   * @default - none: public models only
   */
  readonly huggingFaceToken?: SecretKeyRef;
  /**
   * Longest time from container start to the first healthy answer: download plus load of the
   * weights. The startup probe allows this long before the kubelet restarts the server.
   * @default Duration.minutes(30)
   */
  readonly modelLoadTimeout?: Duration;
  /**
   * Time between SIGTERM and SIGKILL, in which the server finishes the requests it holds.
   * @default Duration.minutes(2)
   */
  readonly terminationGracePeriod?: Duration;
  /**
   * Replicas when there is no `autoscaling`.
   * @default 1
   */
  readonly replicas?: number;
  /**
   * Scale on queued requests with a KEDA ScaledObject.
   * @default - a fixed `replicas`
   */
  readonly autoscaling?: ModelServerAutoscaling;
  /**
   * Requests and tokens per minute one replica sustains (measure them, e.g. with `vllm bench serve`).
   * With them, {@link ModelServer.capacity} feeds the agents' LLM capacity guard.
   * @default - unknown: `capacity` cannot be read
   */
  readonly perReplicaCapacity?: LlmGatewayCapacity;
  /**
   * Namespace allowed to scrape the server (its metrics share the API port).
   * @default "monitoring"
   */
  readonly monitoringNamespace?: string;
  /**
   * Labels of the PodMonitor, for a Prometheus that selects monitors by label.
   * @default - none
   */
  readonly monitorLabels?: Record<string, string>;
  /**
   * More node labels to match besides the GPU product.
   * @default - none
   */
  readonly nodeSelector?: Record<string, string>;
  /**
   * More taints to tolerate; `nvidia.com/gpu` (any value, NoSchedule) is always tolerated.
   * @default - none
   */
  readonly tolerations?: AgentToleration[];
  /**
   * UID and GID the server runs as.
   * @default 1000
   */
  readonly runAsUser?: number;
  /**
   * PriorityClass of the pods, e.g. a high class so agents are preempted before their server.
   * @default - the cluster's default priority
   */
  readonly priorityClassName?: string;
  /**
   * Value of the `app` label.
   * @default - the server's name
   */
  readonly app?: string;
}

const DEFAULT_RESOURCES: AgentResources = {
  requests: { cpu: Quantity.cpus(4), memory: Quantity.gibibytes(32) },
  limits: { memory: Quantity.gibibytes(32) },
};
const DEFAULT_CACHE = ModelCache.emptyDir(Quantity.gibibytes(100));
const DEFAULT_LOAD_TIMEOUT = Duration.minutes(30);
const DEFAULT_GRACE = Duration.minutes(2);
const DEFAULT_WAITING_PER_REPLICA = 5;
const DEFAULT_SERVER_STABILIZATION = Duration.minutes(10);
/** Shared memory for the tensor-parallel workers (NCCL); the container runtime's default is 64 MiB. */
const SHM_SIZE = Quantity.gibibytes(2);
/** Scratch space for compile caches (torch.compile, Triton, CUDA graphs) under HOME=/tmp. */
const TMP_SIZE = Quantity.gibibytes(10);
/** Time for endpoints to drop a terminating pod before the server stops taking connections. */
const PRE_STOP_SLEEP_SECONDS = 10;
const STARTUP_PROBE_PERIOD_SECONDS = 10;
/** Flags set from props, which `extraArgs` may not set again. */
const MANAGED_FLAGS = [
  '--model',
  '--port',
  '--served-model-name',
  '--tensor-parallel-size',
  '--max-model-len',
];

const KubeDeployment = withDirectJson(k8s.KubeDeployment, [
  'spec.template.spec.containers[].resources.limits.*',
  'spec.template.spec.containers[].resources.requests.*',
  ...['startupProbe', 'readinessProbe', 'livenessProbe'].map(
    (p) => `spec.template.spec.containers[].${p}.httpGet.port`,
  ),
  'spec.template.spec.volumes[].emptyDir.sizeLimit',
]);
const KubeService = withDirectJson(k8s.KubeService, ['spec.ports[].targetPort']);
const KubePodDisruptionBudget = withDirectJson(k8s.KubePodDisruptionBudget, ['spec.maxUnavailable']);
const KubeNetworkPolicy = withDirectJson(k8s.KubeNetworkPolicy, ['spec.ingress[].ports[].port']);
const ScaledObject = withDirectJson(keda.ScaledObject, []);

/**
 * An OpenAI-compatible model server (vLLM) on GPU nodes, apart from the agents: its own Deployment
 * (`nvidia.com/gpu` limits, GPU product node selector, the NVIDIA taint tolerated), a model cache,
 * startup/readiness/liveness probes on `/health` sized for model load times, a Service, a PodMonitor
 * for vLLM's `/metrics`, a PodDisruptionBudget, a NetworkPolicy admitting only its clients and
 * Prometheus, and optionally a KEDA ScaledObject on `vllm:num_requests_waiting`.
 *
 * Agents reach it through their `modelServer` prop (`AgentPool`, `AgentScaledJob`, `AgentJob`): they
 * get `LLM_BASE_URL` and `LLM_MODEL`, and the server's NetworkPolicy admits them.
 *
 * The pod runs under Pod Security "restricted" like the agents (non-root UID, no privilege
 * escalation, all capabilities dropped, seccomp RuntimeDefault, read-only root filesystem): the NVIDIA
 * device plugin hands the container its GPUs as device nodes it may use without privileges, and vLLM
 * writes only to `HOME=/tmp`, the model cache and `/dev/shm`, each a volume.
 */
export class ModelServer extends Construct implements IModelServer {
  /** The Deployment (escape hatch; also `ApiObject.of(server)`). */
  readonly apiObject: ApiObject;
  readonly service: ApiObject;
  readonly podMonitor: ApiObject;
  readonly disruptionBudget: ApiObject;
  readonly networkPolicy: ApiObject;
  readonly scaledObject?: ApiObject;
  /** The TriggerAuthentication of the autoscaling trigger, when `autoscaling.auth` needs one. */
  readonly triggerAuthentications: ApiObject[] = [];
  readonly name: string;
  readonly namespace?: string;
  readonly port = SERVER_PORT;
  readonly selectorLabels: Record<string, string>;
  readonly baseUrl: string;
  readonly servedModelName: string;
  /** Most replicas: `autoscaling.maxReplicaCount`, or `replicas`. */
  readonly maxReplicas: number;
  private readonly perReplicaCapacity?: LlmGatewayCapacity;
  private readonly clients: Array<{ namespace?: string; labels: Record<string, string> }> = [];

  constructor(scope: Construct, id: string, props: ModelServerProps) {
    super(scope, id);
    this.name = requireDnsLabel(this, 'name', props.name ?? Names.toDnsLabel(this));
    this.namespace =
      props.namespace === undefined
        ? Chart.of(this).namespace
        : requireDnsLabel(this, 'namespace', props.namespace);
    const namespace = props.namespace;
    const model = requireWord(this, 'model', props.model);
    this.servedModelName = requireWord(this, 'servedModelName', props.servedModelName ?? model);
    const image = props.image ?? VLLM_DEFAULT_IMAGE;
    validateImage(this, 'image', image);
    const gpus = requireInt(this, 'gpu.count', props.gpu?.count ?? 1, 1);
    const tp = requireInt(this, 'tensorParallelSize', props.tensorParallelSize ?? gpus, 1);
    if (tp > gpus) {
      invalid(
        this,
        'tensorParallelSize',
        tp,
        `exceeds gpu.count (${gpus}): vLLM needs one GPU per tensor-parallel rank`,
        `use at most ${gpus}, or raise gpu.count`,
      );
    }
    const maxModelLength =
      props.maxModelLength === undefined
        ? undefined
        : requireInt(this, 'maxModelLength', props.maxModelLength, 1);
    const extraArgs = this.extraArgs(props.extraArgs ?? []);
    const resources = props.resources ?? DEFAULT_RESOURCES;
    validateResources(this, 'resources', resources);
    const runAs = requireInt(this, 'runAsUser', props.runAsUser ?? 1000, 1);
    const grace = requireSeconds(
      this,
      'terminationGracePeriod',
      props.terminationGracePeriod ?? DEFAULT_GRACE,
      1,
    );
    const loadSeconds = requireSeconds(
      this,
      'modelLoadTimeout',
      props.modelLoadTimeout ?? DEFAULT_LOAD_TIMEOUT,
      60,
    );
    if (props.priorityClassName !== undefined)
      requireDnsSubdomain(this, 'priorityClassName', props.priorityClassName);
    if (props.autoscaling && props.replicas !== undefined) {
      invalid(
        this,
        'replicas',
        props.replicas,
        'is set together with autoscaling, which owns the replica count',
        'drop replicas and set autoscaling.minReplicaCount',
      );
    }
    const replicas = requireInt(this, 'replicas', props.replicas ?? 1, 1);
    this.perReplicaCapacity = props.perReplicaCapacity;

    this.selectorLabels = { [MODEL_SERVER_LABEL]: this.name };
    const labels = { app: requireLabelValue(this, 'app', props.app ?? this.name), ...this.selectorLabels };
    const host = this.namespace === undefined ? this.name : `${this.name}.${this.namespace}.svc`;
    this.baseUrl = `http://${host}:${SERVER_PORT}${OPENAI_API_PATH}`;

    const args = [
      model,
      '--port',
      String(SERVER_PORT),
      '--served-model-name',
      this.servedModelName,
      '--tensor-parallel-size',
      String(tp),
      ...(maxModelLength === undefined ? [] : ['--max-model-len', String(maxModelLength)]),
      ...extraArgs,
    ];
    const gpuAmount = k8s.Quantity.fromString(String(gpus));
    const rendered = renderResources(resources);
    const probe = (period: number, timeout: number, failures: number): k8s.Probe => ({
      httpGet: { path: '/health', port: k8s.IntOrString.fromString(PORT_NAME) },
      periodSeconds: period,
      timeoutSeconds: timeout,
      failureThreshold: failures,
    });
    const tolerations: k8s.Toleration[] = [
      { key: NVIDIA_GPU, operator: 'Exists', effect: 'NoSchedule' },
      ...(props.tolerations ?? []).map(renderToleration),
    ];
    const product = props.gpu?.product && requireLabelValue(this, 'gpu.product', props.gpu.product);
    const nodeSelector = {
      ...(product ? { [GPU_PRODUCT_LABEL]: product } : {}),
      ...(props.nodeSelector ?? {}),
    };

    this.apiObject = new KubeDeployment(this, 'Resource', {
      metadata: { name: this.name, namespace, labels },
      spec: {
        replicas: props.autoscaling ? undefined : replicas,
        selector: { matchLabels: { ...this.selectorLabels } },
        template: {
          metadata: { labels },
          spec: {
            automountServiceAccountToken: false,
            terminationGracePeriodSeconds: grace,
            priorityClassName: props.priorityClassName,
            nodeSelector: Object.keys(nodeSelector).length > 0 ? nodeSelector : undefined,
            tolerations,
            securityContext: restrictedPodSecurityContext(runAs),
            containers: [
              {
                name: CONTAINER,
                image,
                imagePullPolicy: 'IfNotPresent',
                command: ['vllm', 'serve'],
                args,
                env: [
                  // The image's HOME (/root) is not writable by a non-root user; caches go to volumes.
                  { name: 'HOME', value: '/tmp' },
                  { name: 'HF_HOME', value: CACHE_PATH },
                  ...(props.huggingFaceToken
                    ? [
                        {
                          name: 'HF_TOKEN',
                          valueFrom: {
                            secretKeyRef: {
                              name: requireDnsSubdomain(
                                this,
                                'huggingFaceToken.secretName',
                                props.huggingFaceToken.secretName,
                              ),
                              key: props.huggingFaceToken.key,
                            },
                          },
                        },
                      ]
                    : []),
                ],
                ports: [{ name: PORT_NAME, containerPort: SERVER_PORT, protocol: 'TCP' }],
                resources: {
                  requests: { ...(rendered.requests ?? {}), [NVIDIA_GPU]: gpuAmount },
                  limits: { ...(rendered.limits ?? {}), [NVIDIA_GPU]: gpuAmount },
                },
                securityContext: restrictedSecurityContext(),
                // The weights load before the API answers at all: only the startup probe waits that long.
                startupProbe: probe(
                  STARTUP_PROBE_PERIOD_SECONDS,
                  5,
                  Math.ceil(loadSeconds / STARTUP_PROBE_PERIOD_SECONDS),
                ),
                readinessProbe: probe(5, 5, 3),
                // Lenient: a server deep in a large batch answers slowly, and a restart costs a model load.
                livenessProbe: probe(20, 10, 3),
                lifecycle: { preStop: { sleep: { seconds: PRE_STOP_SLEEP_SECONDS } } },
                volumeMounts: [
                  { name: 'tmp', mountPath: '/tmp' },
                  {
                    name: 'model-cache',
                    mountPath: CACHE_PATH,
                    ...(this.cacheReadOnly(props) && { readOnly: true }),
                  },
                  { name: 'shm', mountPath: '/dev/shm' },
                ],
              },
            ],
            volumes: [
              { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString(TMP_SIZE.value) } },
              this.cacheVolume(props.modelCache ?? DEFAULT_CACHE),
              {
                name: 'shm',
                emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString(SHM_SIZE.value) },
              },
            ],
          },
        },
      },
    });

    this.service = new KubeService(this, 'Service', {
      metadata: { name: this.name, namespace, labels },
      spec: {
        selector: { ...this.selectorLabels },
        ports: [
          {
            name: PORT_NAME,
            port: SERVER_PORT,
            targetPort: k8s.IntOrString.fromString(PORT_NAME),
            protocol: 'TCP',
          },
        ],
      },
    });

    this.podMonitor = new PodMonitor(this, 'PodMonitor', {
      metadata: { name: this.name, namespace, labels: props.monitorLabels && { ...props.monitorLabels } },
      spec: {
        selector: { matchLabels: { ...this.selectorLabels } },
        namespaceSelector: this.namespace === undefined ? undefined : { matchNames: [this.namespace] },
        podTargetLabels: [MODEL_SERVER_LABEL],
        podMetricsEndpoints: [{ port: PORT_NAME, path: '/metrics', interval: '30s' }],
      },
    });

    // A Deployment has a scale subresource, so an integer maxUnavailable is computable. With one
    // replica a drain takes the server away for a reschedule and a model load; run two or more to
    // keep it answering.
    this.disruptionBudget = new KubePodDisruptionBudget(this, 'DisruptionBudget', {
      metadata: { name: this.name, namespace, labels },
      spec: {
        maxUnavailable: k8s.IntOrString.fromNumber(1),
        selector: { matchLabels: { ...this.selectorLabels } },
        unhealthyPodEvictionPolicy: 'AlwaysAllow',
      },
    });

    const monitoring = requireDnsLabel(
      this,
      'monitoringNamespace',
      props.monitoringNamespace ?? 'monitoring',
    );
    const port = [{ port: k8s.IntOrString.fromNumber(SERVER_PORT), protocol: 'TCP' }];
    this.networkPolicy = new KubeNetworkPolicy(this, 'NetworkPolicy', {
      metadata: { name: this.name, namespace, labels },
      spec: {
        podSelector: { matchLabels: { ...this.selectorLabels } },
        // Ingress only: the server downloads its weights from outside the cluster.
        policyTypes: ['Ingress'],
        ingress: Lazy.any({
          produce: () => [
            ...(this.clients.length > 0
              ? [{ from: this.clients.map((c) => this.peer(c.namespace, c.labels)), ports: port }]
              : []),
            // vLLM serves /metrics on the API port: Prometheus needs that port too.
            {
              from: [{ namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: monitoring } } }],
              ports: port,
            },
          ],
        }),
      },
    });

    const scaled = props.autoscaling && this.renderAutoscaling(props.autoscaling, labels, grace);
    this.scaledObject = scaled?.scaledObject;
    this.maxReplicas = scaled?.maxReplicaCount ?? replicas;
    refuseCredentialsInOutput(this);
  }

  /**
   * What the server sustains at its most replicas: `perReplicaCapacity` × `maxReplicas`. Pass it as
   * the agents' `llmCapacity.gateway`. Below that size its ScaledObject adds replicas as requests queue.
   */
  get capacity(): LlmGatewayCapacity {
    const per = this.perReplicaCapacity;
    if (per === undefined) {
      return invalid(
        this,
        'perReplicaCapacity',
        undefined,
        'is not set, so the server’s capacity is unknown',
        'measure one replica (e.g. vllm bench serve) and set perReplicaCapacity: { requestsPerMinute, tokensPerMinute }',
      );
    }
    for (const key of ['requestsPerMinute', 'tokensPerMinute'] as const) {
      if (!(per[key] > 0) || !Number.isFinite(per[key])) {
        invalid(
          this,
          `perReplicaCapacity.${key}`,
          per[key],
          'is not a number > 0',
          'give the measured rate of one replica',
        );
      }
    }
    return {
      requestsPerMinute: per.requestsPerMinute * this.maxReplicas,
      tokensPerMinute: per.tokensPerMinute * this.maxReplicas,
    };
  }

  allowClients(namespace: string | undefined, selectorLabels: Record<string, string>): void {
    this.clients.push({ namespace, labels: { ...selectorLabels } });
  }

  /** A NetworkPolicy peer for pods with `labels` in `namespace` (same namespace: no namespace selector). */
  private peer(namespace: string | undefined, labels: Record<string, string>): k8s.NetworkPolicyPeer {
    return {
      ...(namespace !== undefined && namespace !== this.namespace
        ? { namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: namespace } } }
        : {}),
      podSelector: { matchLabels: labels },
    };
  }

  private cacheReadOnly(props: ModelServerProps): boolean {
    const source = (props.modelCache ?? DEFAULT_CACHE).source;
    return 'claim' in source && source.readOnly === true;
  }

  private cacheVolume(cache: ModelCache): k8s.Volume {
    if (!(cache instanceof ModelCache)) {
      invalid(
        this,
        'modelCache',
        cache,
        'is not a ModelCache',
        'use ModelCache.emptyDir(Quantity.gibibytes(100)) or ModelCache.persistentVolumeClaim(claim)',
      );
    }
    const source = cache.source;
    if ('emptyDir' in source) {
      requireQuantity(this, 'modelCache.sizeLimit', source.emptyDir);
      return { name: 'model-cache', emptyDir: { sizeLimit: k8s.Quantity.fromString(source.emptyDir.value) } };
    }
    requireDnsSubdomain(this, 'modelCache.claim', source.claim);
    return {
      name: 'model-cache',
      persistentVolumeClaim: { claimName: source.claim, ...(source.readOnly && { readOnly: true }) },
    };
  }

  private extraArgs(args: string[]): string[] {
    args.forEach((arg, i) => {
      if (typeof arg !== 'string')
        invalid(this, `extraArgs[${i}]`, arg, 'is not a string', 'give strings only');
      requireNoCredential(
        this,
        `extraArgs[${i}]`,
        arg,
        'pass secrets through a Secret (e.g. huggingFaceToken)',
      );
      const flag = arg.split('=')[0];
      if (MANAGED_FLAGS.includes(flag)) {
        invalid(
          this,
          `extraArgs[${i}]`,
          arg,
          'sets a flag this construct writes from its props',
          'use model, servedModelName, tensorParallelSize or maxModelLength instead',
        );
      }
    });
    return [...args];
  }

  /** The ScaledObject (and its TriggerAuthentication). */
  private renderAutoscaling(
    a: ModelServerAutoscaling,
    labels: Record<string, string>,
    grace: number,
  ): { readonly scaledObject: ApiObject; readonly maxReplicaCount: number } {
    const prop = 'autoscaling';
    const min = requireInt(this, `${prop}.minReplicaCount`, a.minReplicaCount ?? 1, 1);
    const max = requireInt(this, `${prop}.maxReplicaCount`, a.maxReplicaCount, 1);
    if (min > max) {
      invalid(this, `${prop}.minReplicaCount`, min, `exceeds maxReplicaCount (${max})`, `use at most ${max}`);
    }
    const url = a.prometheusUrl;
    requirePrometheusUrl(this, `${prop}.prometheusUrl`, url);
    const target = a.waitingRequestsPerReplica ?? DEFAULT_WAITING_PER_REPLICA;
    if (!(target > 0) || !Number.isFinite(target)) {
      invalid(this, `${prop}.waitingRequestsPerReplica`, target, 'is not a number > 0', 'use e.g. 5');
    }
    const window = requireSeconds(
      this,
      `${prop}.scaleDownStabilization`,
      a.scaleDownStabilization ?? DEFAULT_SERVER_STABILIZATION,
      0,
    );
    if (window > HpaDefaults.maxStabilizationWindowSeconds) {
      invalid(
        this,
        `${prop}.scaleDownStabilization`,
        `${window}s`,
        'is longer than 3600s',
        'use at most Duration.hours(1)',
      );
    }
    const matchers = [
      ...(this.namespace === undefined ? [] : [{ label: 'namespace', value: this.namespace }]),
      { label: MODEL_SERVER_LABEL.replace(/[^a-zA-Z0-9_]/g, '_'), value: this.name },
    ];
    const scaledObject = new ScaledObject(this, 'ScaledObject', {
      metadata: { name: this.name, namespace: this.namespace, labels },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: this.name },
        pollingInterval:
          a.pollingInterval && requireSeconds(this, `${prop}.pollingInterval`, a.pollingInterval, 1),
        minReplicaCount: min,
        maxReplicaCount: max,
        advanced: {
          horizontalPodAutoscalerConfig: {
            behavior: {
              scaleDown: {
                stabilizationWindowSeconds: window,
                // One replica per grace period: the next step sees the load the last one moved.
                policies: [
                  {
                    type: 'Pods',
                    value: 1,
                    periodSeconds: Math.min(grace, HpaDefaults.maxPolicyPeriodSeconds),
                  },
                ],
              },
            },
          },
        },
        triggers: [
          {
            type: 'prometheus',
            name: 'waiting-requests',
            metadata: {
              serverAddress: url,
              query: `sum(${VLLM_WAITING_REQUESTS_METRIC}${selector(...matchers)})`,
              threshold: String(target),
            },
            authenticationRef:
              a.auth && authenticationRef(this, 'Auth', a.auth, this.triggerAuthentications, this.namespace),
          },
        ],
      },
    });
    return { scaledObject, maxReplicaCount: max };
  }
}

/** A model name: no whitespace, no credential. */
function requireWord(scope: Construct, prop: string, value: string): string {
  if (typeof value !== 'string' || value.length === 0 || /\s/.test(value)) {
    invalid(scope, prop, value, 'is not a model name', 'give e.g. "Qwen/Qwen2.5-7B-Instruct"');
  }
  requireNoCredential(
    scope,
    prop,
    value,
    'a model name is not a URL; give the token through huggingFaceToken',
  );
  return value;
}

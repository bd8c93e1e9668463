import { HandlerEnv } from '@agent-fleet/contract';
import { Chart, Duration, Testing } from 'cdk8s';
import {
  AgentFleetValidationError,
  AgentGuardrails,
  AgentPool,
  AgentScaledJob,
  MODEL_SERVER_LABEL,
  ModelCache,
  ModelServer,
  type ModelServerProps,
  Quantity,
  QueueConnection,
  RabbitMqProtocol,
  ScaledJobTrigger,
  secretKey,
  TriggerAuth,
  VLLM_DEFAULT_IMAGE,
  WORKLOAD_LABEL,
} from '../lib';
import { envOf, type Manifest, manifestProblems, only, synthValid } from './support/manifests';

const base: ModelServerProps = { name: 'llm', model: 'Qwen/Qwen2.5-7B-Instruct' };
const queue = QueueConnection.fromSecretName('agent-secrets', 'queue-url');

/** A chart in namespace `agents`, as the example fleet's. */
function newChart(): Chart {
  return new Chart(Testing.app(), 'test', { namespace: 'agents' });
}

function server(props: Partial<ModelServerProps> = {}, chart: Chart = newChart()): ModelServer {
  return new ModelServer(chart, 'Llm', { ...base, ...props });
}

function synthServer(props: Partial<ModelServerProps> = {}): Manifest[] {
  const chart = newChart();
  server(props, chart);
  return synthValid(chart);
}

function fails(props: Partial<ModelServerProps>, pattern: RegExp): void {
  let error: unknown;
  try {
    server(props);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(AgentFleetValidationError);
  expect((error as Error).message).toMatch(pattern);
}

describe('ModelServer Deployment', () => {
  const objects = synthServer({
    gpu: { count: 2, product: 'NVIDIA-A100-SXM4-80GB' },
    maxModelLength: 32768,
    huggingFaceToken: secretKey('hf-token', 'token'),
  });
  const deployment = only(objects, 'Deployment');
  const pod = deployment.spec.template.spec;
  const c = pod.containers[0];

  test('vLLM pinned by tag, serving the model under its name on port 8000', () => {
    expect(VLLM_DEFAULT_IMAGE).toMatch(/^vllm\/vllm-openai:v\d+\.\d+\.\d+$/);
    expect(c.image).toBe(VLLM_DEFAULT_IMAGE);
    expect(c.command).toEqual(['vllm', 'serve']);
    expect(c.args).toEqual([
      'Qwen/Qwen2.5-7B-Instruct',
      '--port',
      '8000',
      '--served-model-name',
      'Qwen/Qwen2.5-7B-Instruct',
      '--tensor-parallel-size',
      '2',
      '--max-model-len',
      '32768',
    ]);
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8000, protocol: 'TCP' }]);
  });

  test('GPUs: nvidia.com/gpu requests and limits, the product node label, the NVIDIA taint tolerated', () => {
    expect(c.resources.limits['nvidia.com/gpu']).toBe('2');
    expect(c.resources.requests['nvidia.com/gpu']).toBe('2');
    expect(pod.nodeSelector).toEqual({ 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB' });
    expect(pod.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  });

  test('model cache, shared memory and a writable HOME, each a volume; HF token from a Secret', () => {
    expect(pod.volumes).toEqual([
      { name: 'tmp', emptyDir: { sizeLimit: '10Gi' } },
      { name: 'model-cache', emptyDir: { sizeLimit: '100Gi' } },
      { name: 'shm', emptyDir: { medium: 'Memory', sizeLimit: '2Gi' } },
    ]);
    expect(envOf(pod)).toEqual({
      HOME: '/tmp',
      HF_HOME: '/models',
      HF_TOKEN: { secretKeyRef: { name: 'hf-token', key: 'token' } },
    });
  });

  test('probes sized for model load: startup allows the load timeout, liveness is lenient', () => {
    const health = { path: '/health', port: 'http' };
    expect(c.startupProbe).toEqual({
      httpGet: health,
      periodSeconds: 10,
      timeoutSeconds: 5,
      failureThreshold: 180,
    });
    expect(c.readinessProbe).toEqual({
      httpGet: health,
      periodSeconds: 5,
      timeoutSeconds: 5,
      failureThreshold: 3,
    });
    expect(c.livenessProbe).toEqual({
      httpGet: health,
      periodSeconds: 20,
      timeoutSeconds: 10,
      failureThreshold: 3,
    });
    const longer = only(synthServer({ modelLoadTimeout: Duration.hours(1) }), 'Deployment');
    expect(longer.spec.template.spec.containers[0].startupProbe.failureThreshold).toBe(360);
  });

  test('Pod Security "restricted" holds in full: no control is relaxed for the GPU server', () => {
    // The NVIDIA device plugin gives the container its GPUs without privileges; vLLM writes only to
    // volumes (HOME=/tmp, /models, /dev/shm). So the exception this test pins is: none.
    expect(objects.flatMap(manifestProblems)).toEqual([]);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(c.securityContext).toEqual({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  test('matches its snapshot', () => {
    expect(objects).toMatchSnapshot();
  });
});

describe('ModelServer Service, PodMonitor, PDB, NetworkPolicy', () => {
  test('a Service on port 8000 and a PodMonitor for /metrics', () => {
    const objects = synthServer({ monitorLabels: { release: 'kube-prometheus-stack' } });
    expect(only(objects, 'Service').spec).toEqual({
      selector: { [MODEL_SERVER_LABEL]: 'llm' },
      ports: [{ name: 'http', port: 8000, targetPort: 'http', protocol: 'TCP' }],
    });
    const monitor = only(objects, 'PodMonitor');
    expect(monitor.metadata.labels).toEqual({ release: 'kube-prometheus-stack' });
    expect(monitor.spec.podMetricsEndpoints).toEqual([{ port: 'http', path: '/metrics', interval: '30s' }]);
  });

  test('a PDB with maxUnavailable 1 (a Deployment has a scale subresource)', () => {
    expect(only(synthServer(), 'PodDisruptionBudget').spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: { [MODEL_SERVER_LABEL]: 'llm' } },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    });
  });

  test('ingress only from its clients on its port, and Prometheus', () => {
    const chart = newChart();
    const llm = server({ namespace: 'llm-serving' }, chart);
    new AgentPool(chart, 'Pool', {
      image: 'registry.example.com/agent:1.0.0',
      queue,
      name: 'pool',
      modelServer: llm,
      triggers: [
        ScaledJobTrigger.rabbitmq({
          protocol: RabbitMqProtocol.HTTP,
          auth: TriggerAuth.secrets({ host: secretKey('agent-secrets', 'management-url') }),
        }),
      ],
    });
    const policy = synthValid(chart).find((o) => o.kind === 'NetworkPolicy');
    expect(policy.metadata.namespace).toBe('llm-serving');
    expect(policy.spec).toEqual({
      podSelector: { matchLabels: { [MODEL_SERVER_LABEL]: 'llm' } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'agents' } },
              podSelector: { matchLabels: { [WORKLOAD_LABEL]: 'pool' } },
            },
          ],
          ports: [{ port: 8000, protocol: 'TCP' }],
        },
        {
          from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
          ports: [{ port: 8000, protocol: 'TCP' }],
        },
      ],
    });
  });
});

describe('ModelServer ScaledObject', () => {
  const objects = synthServer({
    autoscaling: { prometheusUrl: 'http://prometheus-operated.monitoring.svc:9090', maxReplicaCount: 4 },
  });
  const so = only(objects, 'ScaledObject');

  test('scales on vLLM waiting requests with a floor of one replica', () => {
    expect(so.spec.minReplicaCount).toBe(1);
    expect(so.spec.maxReplicaCount).toBe(4);
    expect(so.spec.triggers).toEqual([
      {
        type: 'prometheus',
        name: 'waiting-requests',
        metadata: {
          serverAddress: 'http://prometheus-operated.monitoring.svc:9090',
          query: 'sum(vllm:num_requests_waiting{namespace="agents",agent_fleet_dev_model_server="llm"})',
          threshold: '5',
        },
      },
    ]);
    expect(only(objects, 'Deployment').spec.replicas).toBeUndefined();
  });

  test('scales down one replica per grace period after a 10-minute window', () => {
    expect(so.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown).toEqual({
      stabilizationWindowSeconds: 600,
      policies: [{ type: 'Pods', value: 1, periodSeconds: 120 }],
    });
  });

  test('without autoscaling: a fixed replica count and no ScaledObject', () => {
    const fixed = synthServer({ replicas: 2 });
    expect(fixed.some((o) => o.kind === 'ScaledObject')).toBe(false);
    expect(only(fixed, 'Deployment').spec.replicas).toBe(2);
  });
});

describe('ModelServer wiring', () => {
  test('capacity is per-replica capacity × the most replicas, and feeds the ScaledJob capacity guard', () => {
    const chart = newChart();
    const llm = server(
      {
        autoscaling: { prometheusUrl: 'http://prometheus:9090', maxReplicaCount: 3 },
        perReplicaCapacity: { requestsPerMinute: 600, tokensPerMinute: 300_000 },
      },
      chart,
    );
    expect(llm.capacity).toEqual({ requestsPerMinute: 1800, tokensPerMinute: 900_000 });
    const workers = new AgentScaledJob(chart, 'Workers', {
      image: 'registry.example.com/agent:1.0.0',
      queue,
      name: 'workers',
      modelServer: llm,
      llmCapacity: {
        gateway: llm.capacity,
        task: { requestsPerTask: 20, tokensPerTask: 40_000, taskDuration: Duration.minutes(2) },
      },
    });
    // 900k tokens/min × 0.8 = 720k; one busy Job uses 40k × 60/120 = 20k/min: 36 Jobs.
    expect(workers.maxReplicaCount).toBe(36);
    const env = envOf(only(synthValid(chart), 'ScaledJob').spec.jobTargetRef.template.spec);
    expect(env[HandlerEnv.LLM_BASE_URL]).toBe('http://llm.agents.svc:8000/v1');
  });

  test('a server in a named namespace needs clients in a named namespace', () => {
    const chart = Testing.chart();
    const llm = server({ namespace: 'llm-serving' }, chart);
    expect(
      () =>
        new AgentScaledJob(chart, 'Workers', {
          image: 'registry.example.com/agent:1.0.0',
          queue,
          modelServer: llm,
        }),
    ).toThrow(/modelServer = "llm" lives in namespace llm-serving while this workload's chart has none/);
  });

  test('capacity without perReplicaCapacity is an error naming the prop', () => {
    expect(() => server().capacity).toThrow(
      /perReplicaCapacity = undefined is not set.*Fix: measure one replica/,
    );
  });

  test('AgentGuardrails opens egress from the agents to the server’s pods and port only', () => {
    const chart = newChart();
    const llm = server({ namespace: 'llm-serving' }, chart);
    const workers = new AgentScaledJob(chart, 'Workers', {
      image: 'registry.example.com/agent:1.0.0',
      queue,
      name: 'workers',
      modelServer: llm,
    });
    new AgentGuardrails(chart, 'Guardrails', { agents: [workers], acknowledgeNoDisruptionBudget: [workers] });
    const policy = synthValid(chart).find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'workers');
    expect(policy.spec.egress.at(-1)).toEqual({
      to: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'llm-serving' } },
          podSelector: { matchLabels: { [MODEL_SERVER_LABEL]: 'llm' } },
        },
      ],
      ports: [{ port: 8000, protocol: 'TCP' }],
    });
  });
});

describe('ModelServer fails', () => {
  test.each<[Partial<ModelServerProps>, RegExp]>([
    [{ model: 'has space' }, /model = "has space" is not a model name/],
    [{ image: 'vllm/vllm-openai:latest' }, /image = .*uses the moving tag "latest"/],
    [{ gpu: { count: 0 } }, /gpu\.count = 0 is not a whole number ≥ 1/],
    [{ gpu: { count: 2 }, tensorParallelSize: 4 }, /tensorParallelSize = 4 exceeds gpu\.count \(2\)/],
    [{ extraArgs: ['--port=9000'] }, /extraArgs\[0\] = "--port=9000" sets a flag this construct writes/],
    [
      { replicas: 2, autoscaling: { prometheusUrl: 'http://p:9090', maxReplicaCount: 2 } },
      /replicas = 2 is set together with autoscaling/,
    ],
    [
      { autoscaling: { prometheusUrl: 'http://p:9090', maxReplicaCount: 2, minReplicaCount: 0 } },
      /autoscaling\.minReplicaCount = 0 is not a whole number ≥ 1/,
    ],
    [
      { autoscaling: { prometheusUrl: 'prometheus', maxReplicaCount: 2 } },
      /autoscaling\.prometheusUrl = "prometheus" is not an http\(s\) URL/,
    ],
    [
      { modelCache: ModelCache.emptyDir(Quantity.of('100Gb')) },
      /modelCache\.sizeLimit = "100Gb" is not a Kubernetes quantity/,
    ],
    [
      { modelLoadTimeout: Duration.seconds(30) },
      /modelLoadTimeout = "30 seconds" is not a whole number of seconds ≥ 60/,
    ],
  ])('%j', (props, pattern) => fails(props, pattern));

  test('a PVC cache is mounted read-only only when asked', () => {
    const pod = only(
      synthServer({ modelCache: ModelCache.persistentVolumeClaim('weights', { readOnly: true }) }),
      'Deployment',
    ).spec.template.spec;
    expect(pod.volumes[1]).toEqual({
      name: 'model-cache',
      persistentVolumeClaim: { claimName: 'weights', readOnly: true },
    });
    expect(pod.containers[0].volumeMounts[1]).toEqual({
      name: 'model-cache',
      mountPath: '/models',
      readOnly: true,
    });
  });
});

import { Env as ContractEnv, DEFAULT_TASK_DIR, Defaults, Http } from '@agent-fleet/contract';
import { type Chart, Duration, Size, Testing } from 'cdk8s';
import {
  ConfigMap,
  Env,
  EnvFieldPaths,
  EnvValue,
  Protocol,
  ResourceFieldPaths,
  Secret,
  Volume,
} from 'cdk8s-plus-30';
import fc from 'fast-check';
import {
  AgentFleetValidationError,
  AgentGuardrails,
  AgentJob,
  type AgentJobProps,
  AgentScaledJob,
  NamespaceQuota,
  Quantity,
  QueueConnection,
} from '../lib';
import {
  type AgentPodProps,
  type AgentSidecar,
  type AgentVolume,
  DEFAULT_EXTRA_CONTAINER_RESOURCES,
  SidecarStartupProbe,
} from '../lib/agent-pod-props';
import { podAmount } from '../lib/internal/pod-features';
import { ContainerRole, type IAgentWorkload } from '../lib/workload';
import { envOf, type Manifest, only, synthValid } from './support/manifests';

const queue = QueueConnection.fromSecretName('agent-secrets', 'queue-url');
const base: AgentJobProps & AgentPodProps = { image: 'registry.example.com/agent:1.0.0', queue };
const IMAGE = 'registry.example.com/proxy:2.1.0';
const RESTRICTED = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** Props that need the chart (Secrets, ConfigMaps and Volumes are constructs), or plain props. */
type PropsFor = Partial<AgentPodProps> | ((chart: Chart) => Partial<AgentPodProps>);

const KINDS = ['AgentJob', 'AgentScaledJob'] as const;
type Kind = (typeof KINDS)[number];

function workload(kind: Kind, chart: Chart, props: PropsFor): IAgentWorkload {
  const extra = typeof props === 'function' ? props(chart) : props;
  return kind === 'AgentJob'
    ? new AgentJob(chart, 'Agents', { ...base, ...extra })
    : new AgentScaledJob(chart, 'Agents', { ...base, ...extra });
}

/** The pod spec of a Job or of a ScaledJob's Job template. */
function podOf(objects: Manifest[]): Manifest {
  const job = objects.find((o) => o.kind === 'Job');
  return job ? job.spec.template.spec : only(objects, 'ScaledJob').spec.jobTargetRef.template.spec;
}

/** Builds the workload, synthesizes it through every check (schema, Pod Security, direct JSON). */
function synthPod(kind: Kind, props: PropsFor): Manifest {
  const chart = Testing.chart();
  workload(kind, chart, props);
  return podOf(synthValid(chart));
}

/** The validation error building the workload throws. */
function failure(kind: Kind, props: PropsFor): AgentFleetValidationError {
  try {
    workload(kind, Testing.chart(), props);
  } catch (error) {
    if (error instanceof AgentFleetValidationError) return error;
    throw error;
  }
  throw new Error('expected the props to be rejected');
}

const secretVolume = (chart: Chart) =>
  Volume.fromSecret(chart, 'LlmKey', Secret.fromSecretName(chart, 'LlmKeySecret', 'llm-key'));
const configVolume = (chart: Chart) =>
  Volume.fromConfigMap(chart, 'Config', ConfigMap.fromConfigMapName(chart, 'ConfigMap', 'agent-config'));
const scratchVolume = (chart: Chart, name = 'scratch') =>
  Volume.fromEmptyDir(chart, `Scratch-${name}`, name, { sizeLimit: Size.mebibytes(512) });

/** Every feature at once: env of each kind, envFrom, volumes, pull secret, init containers, sidecars. */
function everything(chart: Chart): Partial<AgentPodProps> {
  const llm = Secret.fromSecretName(chart, 'Llm', 'llm-credentials');
  const settings = ConfigMap.fromConfigMapName(chart, 'Settings', 'agent-settings');
  const keys = secretVolume(chart);
  const config = configVolume(chart);
  const scratch = scratchVolume(chart);
  return {
    env: {
      LLM_BASE_URL: 'http://llm-gateway.ai.svc:8000/v1',
      LLM_API_KEY: EnvValue.fromSecretValue({ secret: llm, key: 'api-key' }),
      LLM_MODEL: EnvValue.fromConfigMap(settings, 'model'),
      POD_NAMESPACE: EnvValue.fromFieldRef(EnvFieldPaths.POD_NAMESPACE),
      MEMORY_LIMIT_MIB: EnvValue.fromResource(ResourceFieldPaths.MEMORY_LIMIT, { divisor: '1Mi' }),
      LOG_LEVEL: EnvValue.fromValue('info'),
    },
    envFrom: [Env.fromConfigMap(settings, 'AGENT_'), Env.fromSecret(llm)],
    volumes: [
      { volume: keys, mountPath: '/var/run/llm' },
      { volume: config, mountPath: '/etc/agent/config.yaml', subPath: 'config.yaml' },
      { volume: scratch, mountPath: '/var/scratch', readOnly: false },
    ],
    dockerRegistryAuth: Secret.fromSecretName(chart, 'Pull', 'registry-pull'),
    initContainers: [
      {
        name: 'fetch-tools',
        image: 'registry.example.com/tools:3.0.1',
        command: ['/bin/sh', '-c'],
        args: ['cp -r /tools/. /var/scratch/'],
        volumes: [{ volume: scratch, mountPath: '/var/scratch', readOnly: false }],
      },
    ],
    sidecars: [
      {
        name: 'llm-proxy',
        image: IMAGE,
        args: ['--listen', ':4000'],
        env: { UPSTREAM: 'https://api.llm.example.com' },
        envFrom: [Env.fromSecret(llm)],
        ports: [{ name: 'proxy', number: 4000 }],
        startupProbe: SidecarStartupProbe.httpGet('/healthz', 4000, { failureThreshold: 60 }),
        resources: {
          requests: { cpu: Quantity.cpuMillis(100), memory: Quantity.mebibytes(128) },
          limits: { memory: Quantity.mebibytes(256) },
        },
        volumes: [{ volume: keys, mountPath: '/var/run/llm' }],
      },
      {
        name: 'log-shipper',
        image: `registry.example.com/shipper@sha256:${'a'.repeat(64)}`,
        startupProbe: SidecarStartupProbe.tcpSocket(2020, { period: Duration.seconds(2) }),
        ports: [{ name: 'ship', number: 2020, protocol: Protocol.TCP }],
      },
    ],
  };
}

describe.each(KINDS)('%s pod features', (kind) => {
  test('env: strings and every kind of cdk8s-plus EnvValue, after the contract variables', () => {
    const pod = synthPod(kind, (chart) => ({ env: everything(chart).env }));
    const env = pod.containers[0].env;
    const names = env.map((e: Manifest) => e.name);
    expect(names.indexOf('LLM_BASE_URL')).toBeGreaterThan(names.indexOf(ContractEnv.AGENT_SHUTDOWN_SECONDS));
    expect(envOf(pod)).toMatchObject({
      LLM_BASE_URL: 'http://llm-gateway.ai.svc:8000/v1',
      LLM_API_KEY: { secretKeyRef: { name: 'llm-credentials', key: 'api-key' } },
      LLM_MODEL: { configMapKeyRef: { name: 'agent-settings', key: 'model' } },
      POD_NAMESPACE: { fieldRef: { fieldPath: 'metadata.namespace' } },
      MEMORY_LIMIT_MIB: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } },
      LOG_LEVEL: 'info',
    });
  });

  test('envFrom: Env.fromConfigMap with a prefix and Env.fromSecret on the agent container', () => {
    const pod = synthPod(kind, (chart) => ({ envFrom: everything(chart).envFrom }));
    expect(pod.containers[0].envFrom).toEqual([
      { configMapRef: { name: 'agent-settings' }, prefix: 'AGENT_' },
      { secretRef: { name: 'llm-credentials' } },
    ]);
  });

  test('volumes: added to the pod after /tmp and checkpoints, mounted read-only unless told', () => {
    const pod = synthPod(kind, (chart) => ({ volumes: everything(chart).volumes }));
    expect(pod.volumes.map((v: Manifest) => v.name)).toEqual([
      'tmp',
      'checkpoints',
      'secret-llm-key',
      'configmap-agent-config',
      'scratch',
    ]);
    expect(pod.volumes[2]).toEqual({ name: 'secret-llm-key', secret: { secretName: 'llm-key' } });
    expect(pod.volumes[4]).toEqual({ name: 'scratch', emptyDir: { sizeLimit: '512Mi' } });
    expect(pod.containers[0].volumeMounts).toEqual([
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'checkpoints', mountPath: Defaults.checkpointDir },
      { name: 'secret-llm-key', mountPath: '/var/run/llm', readOnly: true },
      {
        name: 'configmap-agent-config',
        mountPath: '/etc/agent/config.yaml',
        readOnly: true,
        subPath: 'config.yaml',
      },
      { name: 'scratch', mountPath: '/var/scratch' },
    ]);
  });

  test('the same Volume listed twice is one pod volume with two mounts', () => {
    const pod = synthPod(kind, (chart) => {
      const config = configVolume(chart);
      return {
        volumes: [
          { volume: config, mountPath: '/etc/a', subPath: 'a' },
          { volume: config, mountPath: '/etc/b', subPath: 'b' },
        ],
      };
    });
    expect(pod.volumes.filter((v: Manifest) => v.name === 'configmap-agent-config')).toHaveLength(1);
    expect(pod.containers[0].volumeMounts.slice(2).map((m: Manifest) => m.mountPath)).toEqual([
      '/etc/a',
      '/etc/b',
    ]);
  });

  test('dockerRegistryAuth becomes the pod image pull secret', () => {
    const pod = synthPod(kind, (chart) => ({
      dockerRegistryAuth: Secret.fromSecretName(chart, 'Pull', 'registry-pull'),
    }));
    expect(pod.imagePullSecrets).toEqual([{ name: 'registry-pull' }]);
  });

  test('sidecars are native sidecars placed after the init containers, all restricted with /tmp', () => {
    const pod = synthPod(kind, everything);
    expect(pod.containers.map((c: Manifest) => c.name)).toEqual(['agent']);
    expect(pod.initContainers.map((c: Manifest) => [c.name, c.restartPolicy])).toEqual([
      ['fetch-tools', undefined],
      ['llm-proxy', 'Always'],
      ['log-shipper', 'Always'],
    ]);
    for (const c of pod.initContainers) {
      expect(c.securityContext).toEqual(RESTRICTED);
      expect(c.securityContext).toEqual(pod.containers[0].securityContext);
      expect(c.volumeMounts[0]).toEqual({ name: 'tmp', mountPath: '/tmp' });
      expect(c.imagePullPolicy).toBe('IfNotPresent');
    }
    const [init, proxy, shipper] = pod.initContainers;
    expect(init).toMatchObject({
      image: 'registry.example.com/tools:3.0.1',
      command: ['/bin/sh', '-c'],
      args: ['cp -r /tools/. /var/scratch/'],
      resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '128Mi' } },
      volumeMounts: [
        { name: 'tmp', mountPath: '/tmp' },
        { name: 'scratch', mountPath: '/var/scratch' },
      ],
    });
    expect(init.ports).toBeUndefined();
    expect(init.startupProbe).toBeUndefined();
    expect(proxy).toMatchObject({
      env: [{ name: 'UPSTREAM', value: 'https://api.llm.example.com' }],
      envFrom: [{ secretRef: { name: 'llm-credentials' } }],
      ports: [{ name: 'proxy', containerPort: 4000, protocol: 'TCP' }],
      startupProbe: { httpGet: { path: '/healthz', port: 4000 }, periodSeconds: 1, failureThreshold: 60 },
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
      volumeMounts: [
        { name: 'tmp', mountPath: '/tmp' },
        { name: 'secret-llm-key', mountPath: '/var/run/llm', readOnly: true },
      ],
    });
    expect(shipper.startupProbe).toEqual({
      tcpSocket: { port: 2020 },
      periodSeconds: 2,
      failureThreshold: 30,
    });
    expect(shipper.env).toBeUndefined();
  });

  test('a pod with every feature passes the 1.32 schema, Pod Security "restricted" and direct JSON', () => {
    const pod = synthPod(kind, everything);
    expect(pod.initContainers).toHaveLength(3);
    expect(pod.imagePullSecrets).toHaveLength(1);
    expect(pod.restartPolicy).toBe('Never');
  });

  test('podResources: every container in start order and the effective pod amounts', () => {
    const agents = workload(kind, Testing.chart(), everything);
    expect(agents.podResources.containers.map((c) => [c.name, c.role])).toEqual([
      ['fetch-tools', ContainerRole.INIT],
      ['llm-proxy', ContainerRole.SIDECAR],
      ['log-shipper', ContainerRole.SIDECAR],
      ['agent', ContainerRole.AGENT],
    ]);
    expect(agents.podResources.containers[0].resources).toBe(DEFAULT_EXTRA_CONTAINER_RESOURCES);
    const effective = agents.podResources.effective;
    // Steady state: agent 500m/1Gi (limit 2Gi) + proxy 100m/128Mi (256Mi) + shipper 50m/64Mi (128Mi);
    // the init container alone (50m/64Mi) is smaller.
    expect(effective.requests?.cpu?.value).toBe('650m');
    expect(effective.requests?.memory?.value).toBe('1216Mi');
    expect(effective.limits?.memory?.value).toBe('2432Mi');
    // No container sets a CPU limit: the pod has none.
    expect(effective.limits?.cpu).toBeUndefined();
  });
});

describe('effective pod resources (Kubernetes rule for native sidecars)', () => {
  const mi = (n: number) => Quantity.mebibytes(n);

  test('an init container larger than the steady state sets the pod request', () => {
    const agents = workload('AgentJob', Testing.chart(), {
      resources: {
        requests: { cpu: Quantity.cpuMillis(500), memory: mi(1024) },
        limits: { memory: mi(2048) },
      },
      initContainers: [
        {
          name: 'warm-cache',
          image: IMAGE,
          resources: { requests: { cpu: Quantity.cpus(2), memory: mi(3072) }, limits: { memory: mi(3072) } },
        },
      ],
      sidecars: [{ name: 'proxy', image: IMAGE }],
    });
    // steady: 500m + 50m, 1024Mi + 64Mi; init: 2 CPU, 3Gi → the init phase wins for both.
    expect(agents.podResources.effective.requests).toEqual({
      cpu: Quantity.of('2'),
      memory: Quantity.of('3Gi'),
    });
    // limits: steady 2048Mi + 128Mi = 2176Mi, init 3Gi.
    expect(agents.podResources.effective.limits).toEqual({ memory: Quantity.of('3Gi') });
  });

  test('a container with a limit and no request requests its limit', () => {
    const agents = workload('AgentJob', Testing.chart(), {
      sidecars: [{ name: 'proxy', image: IMAGE, resources: { limits: { memory: mi(300) } } }],
    });
    // agent 1024Mi + proxy 300Mi (its limit)
    expect(agents.podResources.effective.requests?.memory).toEqual(Quantity.of('1324Mi'));
  });

  test('podAmount counts the sidecars started before an init container in its phase', () => {
    const { INIT, SIDECAR, AGENT } = ContainerRole;
    // steady 300 + 100 = 400; the init container runs beside the first sidecar: 600 + 100 = 700.
    expect(
      podAmount([
        { role: SIDECAR, amount: 100 },
        { role: INIT, amount: 600 },
        { role: AGENT, amount: 300 },
      ]),
    ).toBe(700);
    // a later sidecar is not running yet while the init container runs: max(300 + 100 + 200, 450 + 100).
    expect(
      podAmount([
        { role: SIDECAR, amount: 100 },
        { role: INIT, amount: 450 },
        { role: SIDECAR, amount: 200 },
        { role: AGENT, amount: 300 },
      ]),
    ).toBe(600);
    expect(podAmount([{ role: AGENT, amount: undefined }])).toBeUndefined();
    expect(
      podAmount([
        { role: SIDECAR, amount: undefined },
        { role: AGENT, amount: 5 },
      ]),
    ).toBe(5);
  });

  test('random init containers and sidecars: the request is max(agent + Σ sidecars, largest init container)', () => {
    const containerMi = fc.array(fc.integer({ min: 1, max: 4096 }), { maxLength: 3 });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4096 }), containerMi, containerMi, (agentMi, inits, sidecars) => {
        const agents = workload('AgentJob', Testing.chart(), {
          resources: { requests: { memory: mi(agentMi) } },
          initContainers: inits.map((m, i) => ({
            name: `init-${i}`,
            image: IMAGE,
            resources: { requests: { memory: mi(m) } },
          })),
          sidecars: sidecars.map((m, i) => ({
            name: `side-${i}`,
            image: IMAGE,
            resources: { requests: { memory: mi(m) } },
          })),
        });
        const expected = Math.max(agentMi + sidecars.reduce((a, b) => a + b, 0), ...inits);
        const actual = agents.podResources.effective.requests?.memory?.toNumber();
        expect(actual).toBe(expected * 2 ** 20);
      }),
      { numRuns: 200 },
    );
  });
});

describe('guardrails count the whole pod', () => {
  const sidecars: AgentSidecar[] = [
    {
      name: 'proxy',
      image: IMAGE,
      resources: {
        requests: { cpu: Quantity.cpuMillis(250), memory: Quantity.mebibytes(256) },
        limits: { cpu: Quantity.cpuMillis(500), memory: Quantity.mebibytes(512) },
      },
    },
  ];

  test.each(KINDS)('NamespaceQuota.fromAgents() sums agent and sidecars per pod (%s)', (kind) => {
    const chart = Testing.chart();
    const agents = workload(kind, chart, {
      resources: {
        requests: { cpu: Quantity.cpuMillis(500), memory: Quantity.gibibytes(1) },
        limits: { cpu: Quantity.cpus(1), memory: Quantity.gibibytes(2) },
      },
      sidecars,
      ...(kind === 'AgentJob' ? { completions: 10, parallelism: 10 } : { maxReplicaCount: 10 }),
    } as Partial<AgentPodProps>);
    new AgentGuardrails(chart, 'Guardrails', {
      agents: [agents],
      resourceQuota: NamespaceQuota.fromAgents(),
      ...(kind === 'AgentScaledJob' && { acknowledgeNoDisruptionBudget: [agents] }),
    });
    expect(only(synthValid(chart), 'ResourceQuota').spec.hard).toEqual({
      'requests.cpu': '7500m', // 10 × (500m + 250m)
      'requests.memory': '12800Mi', // 10 × (1Gi + 256Mi)
      'limits.cpu': '15', // 10 × (1 + 0.5)
      'limits.memory': '25Gi', // 10 × (2Gi + 512Mi)
    });
  });

  test('an init container larger than the steady state sizes the quota; LimitRange defaults fill gaps', () => {
    const chart = Testing.chart();
    const agents = new AgentJob(chart, 'Agents', {
      ...base,
      completions: 4,
      resources: { requests: { cpu: Quantity.cpuMillis(500), memory: Quantity.gibibytes(1) } },
      initContainers: [
        {
          name: 'warm-cache',
          image: IMAGE,
          resources: { limits: { cpu: Quantity.cpus(3), memory: Quantity.gibibytes(6) } },
        },
      ],
      sidecars: [{ name: 'proxy', image: IMAGE }],
    });
    new AgentGuardrails(chart, 'Guardrails', {
      agents: [agents],
      limitRange: { containerDefault: { cpu: Quantity.cpus(1), memory: Quantity.gibibytes(2) } },
      resourceQuota: NamespaceQuota.fromAgents(),
    });
    // Admitted: agent 500m/1Gi, limits 1/2Gi (defaults); proxy 50m/64Mi, limits 1 (default)/128Mi;
    // warm-cache requests = its limits 3/6Gi. Pod: requests max(550m, 3) = 3, max(1088Mi, 6Gi) = 6Gi;
    // limits max(2, 3) = 3, max(2176Mi, 6Gi) = 6Gi. Four pods.
    expect(only(synthValid(chart), 'ResourceQuota').spec.hard).toEqual({
      'requests.cpu': '12',
      'requests.memory': '24Gi',
      'limits.cpu': '12',
      'limits.memory': '24Gi',
    });
  });

  test('a container with a limit and no request counts its limit, not the LimitRange default request', () => {
    const chart = Testing.chart();
    const agents = new AgentJob(chart, 'Agents', {
      ...base,
      completions: 3,
      resources: { limits: { cpu: Quantity.cpus(1), memory: Quantity.gibibytes(2) } },
    });
    new AgentGuardrails(chart, 'Guardrails', {
      agents: [agents],
      limitRange: {
        containerDefaultRequest: { cpu: Quantity.cpuMillis(100), memory: Quantity.mebibytes(256) },
      },
      resourceQuota: NamespaceQuota.fromAgents(),
    });
    // The API server sets the missing requests to the limits before the LimitRange is consulted.
    expect(only(synthValid(chart), 'ResourceQuota').spec.hard).toEqual({
      'requests.cpu': '3',
      'requests.memory': '6Gi',
      'limits.cpu': '3',
      'limits.memory': '6Gi',
    });
  });

  test('a resource a sidecar leaves without a limit is not capped', () => {
    const chart = Testing.chart();
    const agents = new AgentJob(chart, 'Agents', {
      ...base,
      completions: 2,
      resources: {
        requests: { cpu: Quantity.cpuMillis(500), memory: Quantity.gibibytes(1) },
        limits: { cpu: Quantity.cpus(1), memory: Quantity.gibibytes(2) },
      },
      sidecars: [{ name: 'proxy', image: IMAGE }], // default: no CPU limit
    });
    new AgentGuardrails(chart, 'Guardrails', {
      agents: [agents],
      resourceQuota: NamespaceQuota.fromAgents(),
    });
    expect(only(synthValid(chart), 'ResourceQuota').spec.hard).toEqual({
      'requests.cpu': '1100m',
      'requests.memory': '2176Mi',
      'limits.memory': '4352Mi',
    });
  });

  function guardFailure(props: Partial<AgentPodProps>, guard: Record<string, unknown>): Error {
    const chart = Testing.chart();
    const agents = new AgentJob(chart, 'Agents', { ...base, name: 'agents', ...props });
    try {
      new AgentGuardrails(chart, 'Guardrails', { agents: [agents], ...guard });
    } catch (error) {
      return error as Error;
    }
    throw new Error('expected the guardrails to be rejected');
  }

  test('LimitRange containerMax must admit every sidecar and init container', () => {
    expect(
      guardFailure(
        {
          sidecars: [{ name: 'proxy', image: IMAGE }],
          resources: { limits: { cpu: Quantity.cpuMillis(300) } },
        },
        { limitRange: { containerMax: { cpu: Quantity.cpuMillis(400) } } },
      ).message,
    ).toMatch(
      /limitRange.containerMax.cpu = "400m" requires a cpu limit, but agent "agents"'s sidecar "proxy" sets none and the LimitRange gives no default.*Fix: set resources.limits.cpu on that sidecar/,
    );
    expect(
      guardFailure(
        { sidecars, resources: { limits: { cpu: Quantity.cpuMillis(300), memory: Quantity.gibibytes(2) } } },
        { limitRange: { containerMax: { cpu: Quantity.cpuMillis(400), memory: Quantity.gibibytes(8) } } },
      ).message,
    ).toMatch(
      /limitRange.containerMax.cpu = "400m" is below the cpu limit of agent "agents"'s sidecar "proxy" \(500m\), so its pods would be rejected.*Fix: raise it, or lower the cpu limit of that sidecar/,
    );
    expect(
      guardFailure(
        { initContainers: [{ name: 'setup', image: IMAGE }] },
        { limitRange: { containerMax: { memory: Quantity.mebibytes(100) } } },
      ).message,
    ).toMatch(/is below the memory limit of agent "agents"'s init container "setup" \(128Mi\)/);
  });

  test('LimitRange podMax is checked against the pod effective limit', () => {
    // agent 2Gi + proxy 512Mi = 2560Mi > 2.5Gi - 1Mi
    expect(
      guardFailure({ sidecars }, { limitRange: { podMax: { memory: Quantity.mebibytes(2559) } } }).message,
    ).toMatch(
      /limitRange.podMax.memory = "2559Mi" is below the memory limit of agent "agents"'s pod \(2560Mi: its sidecars run beside the agent/,
    );
    const chart = Testing.chart();
    const agents = new AgentJob(chart, 'Agents', { ...base, sidecars });
    new AgentGuardrails(chart, 'Guardrails', {
      agents: [agents],
      limitRange: { podMax: { memory: Quantity.mebibytes(2560) } },
    });
    expect(only(synthValid(chart), 'LimitRange').spec.limits).toEqual([
      { type: 'Pod', max: { memory: '2560Mi' } },
    ]);
  });

  test('a quota cannot be derived when no resource has a limit on every container', () => {
    expect(
      guardFailure(
        {
          resources: { requests: { memory: Quantity.gibibytes(1) }, limits: { cpu: Quantity.cpus(1) } },
          sidecars: [{ name: 'proxy', image: IMAGE }],
        },
        { resourceQuota: NamespaceQuota.fromAgents() },
      ).message,
    ).toMatch(
      /resourceQuota = "NamespaceQuota.fromAgents\(\)" cannot be derived: agent "agents"'s sidecar "proxy" sets no cpu limit and agent "agents" no memory limit/,
    );
  });
});

describe('validation errors name the prop, the value and the fix', () => {
  const sidecar = (extra: Partial<AgentSidecar> = {}): AgentSidecar => ({
    name: 'proxy',
    image: IMAGE,
    ...extra,
  });
  const mount = (chart: Chart, mountPath: string, extra: Partial<AgentVolume> = {}): AgentVolume => ({
    volume: configVolume(chart),
    mountPath,
    ...extra,
  });

  test.each<[string, PropsFor, string, RegExp]>([
    [
      'an env value that is neither a string nor an EnvValue',
      { env: { COUNT: 3 as unknown as string } },
      'env.COUNT',
      /env\.COUNT = 3 is neither a string nor a cdk8s-plus EnvValue.*Fix: write a string, or use EnvValue/,
    ],
    [
      'a contract variable set through an EnvValue',
      (chart) => ({
        env: {
          [ContractEnv.TASK_QUEUE_NAME]: EnvValue.fromConfigMap(
            ConfigMap.fromConfigMapName(chart, 'Cm', 'settings'),
            'queue',
          ),
        },
      }),
      'env.TASK_QUEUE_NAME',
      /env\.TASK_QUEUE_NAME = \{"configMapKeyRef".*is set by the construct.*Fix: use the matching prop/,
    ],
    [
      'an invalid env name',
      { env: { '1BAD': 'x' } },
      'env.1BAD',
      /env\.1BAD = "1BAD" is not a valid variable name/,
    ],
    [
      'an envFrom that is not an EnvFrom',
      { envFrom: [{ secretRef: { name: 'x' } } as never] },
      'envFrom[0]',
      /envFrom\[0\] = .* is not a cdk8s-plus EnvFrom.*Fix: use Env.fromSecret/,
    ],
    [
      'an envFrom prefix that is not a variable name',
      (chart) => ({
        envFrom: [Env.fromConfigMap(ConfigMap.fromConfigMapName(chart, 'Cm', 'settings'), '9 X')],
      }),
      'envFrom[0].prefix',
      /envFrom\[0\]\.prefix = "9 X" is not a valid variable-name prefix.*Fix: .*"LLM_"/,
    ],
    [
      'a hostPath volume',
      (chart) => ({
        volumes: [
          { volume: Volume.fromHostPath(chart, 'Host', 'host', { path: '/var/run' }), mountPath: '/host' },
        ],
      }),
      'volumes[0].volume.hostPath',
      /volumes\[0\]\.volume\.hostPath = "host" is a hostPath volume, which Pod Security "restricted" does not admit.*Fix: use a secret, configMap, emptyDir/,
    ],
    [
      'an nfs volume',
      (chart) => ({
        volumes: [
          {
            volume: Volume.fromNfs(chart, 'Nfs', 'shared', { server: 'nfs', path: '/x' }),
            mountPath: '/nfs',
          },
        ],
      }),
      'volumes[0].volume.nfs',
      /volumes\[0\]\.volume\.nfs = "shared" is a nfs volume/,
    ],
    [
      'an emptyDir without a size limit',
      (chart) => ({
        volumes: [{ volume: Volume.fromEmptyDir(chart, 'E', 'scratch'), mountPath: '/scratch' }],
      }),
      'volumes[0].volume.emptyDir.sizeLimit',
      /volumes\[0\]\.volume\.emptyDir\.sizeLimit = "scratch" is not set: an emptyDir without a limit can fill its node's disk.*Fix: give one, e\.g\. .*sizeLimit: Size\.mebibytes/,
    ],
    [
      'a volume named like the pod /tmp volume',
      (chart) => ({ volumes: [{ volume: scratchVolume(chart, 'tmp'), mountPath: '/scratch' }] }),
      'volumes[0].volume.name',
      /volumes\[0\]\.volume\.name = "tmp" is the name of the pod's own \/tmp volume.*Fix: give the volume another name/,
    ],
    [
      'a volume named like the checkpoint volume',
      (chart) => ({ volumes: [{ volume: scratchVolume(chart, 'checkpoints'), mountPath: '/scratch' }] }),
      'volumes[0].volume.name',
      /volumes\[0\]\.volume\.name = "checkpoints" is the name of the pod's own checkpoint volume/,
    ],
    [
      'two different volumes with one name',
      (chart) => ({
        volumes: [
          { volume: scratchVolume(chart, 'data'), mountPath: '/a' },
          {
            volume: Volume.fromEmptyDir(chart, 'Other', 'data', { sizeLimit: Size.gibibytes(1) }),
            mountPath: '/b',
          },
        ],
      }),
      'volumes[1].volume.name',
      /volumes\[1\]\.volume\.name = "data" is also the name of volumes\[0\]\.volume, a different volume.*Fix: give each volume its own name/,
    ],
    [
      'a volume that is not a cdk8s-plus Volume',
      { volumes: [{ volume: { name: 'x' } as unknown as Volume, mountPath: '/x' }] },
      'volumes[0].volume',
      /volumes\[0\]\.volume = \{"name":"x"\} is not a cdk8s-plus Volume.*Fix: use Volume\.fromSecret/,
    ],
    [
      'a relative mount path',
      (chart) => ({ volumes: [mount(chart, 'etc/agent')] }),
      'volumes[0].mountPath',
      /volumes\[0\]\.mountPath = "etc\/agent" is not an absolute, normalized path.*Fix: start with "\/"/,
    ],
    ...['/etc//agent', '/etc/agent/', '/etc/./agent', '/etc/../agent'].map(
      (path): [string, PropsFor, string, RegExp] => [
        `the unnormalized mount path ${path}`,
        (chart) => ({ volumes: [mount(chart, path)] }),
        'volumes[0].mountPath',
        /is not an absolute, normalized path/,
      ],
    ),
    [
      'a mount on /tmp',
      (chart) => ({ volumes: [mount(chart, '/tmp')] }),
      'volumes[0].mountPath',
      /volumes\[0\]\.mountPath = "\/tmp" is the pod's writable \/tmp \(\/tmp\).*Fix: mount it beside/,
    ],
    [
      'a mount below /tmp',
      (chart) => ({ volumes: [mount(chart, '/tmp/config')] }),
      'volumes[0].mountPath',
      /"\/tmp\/config" is below the pod's writable \/tmp/,
    ],
    [
      'a mount above the checkpoint path',
      (chart) => ({ volumes: [mount(chart, '/')] }),
      'volumes[0].mountPath',
      /"\/" is above the pod's writable \/tmp/,
    ],
    [
      'a mount on the checkpoint path',
      (chart) => ({ volumes: [mount(chart, Defaults.checkpointDir)] }),
      'volumes[0].mountPath',
      /is the agent's checkpoint path/,
    ],
    [
      'a mount below the checkpoint path',
      (chart) => ({ volumes: [mount(chart, `${Defaults.checkpointDir}/extra`)] }),
      'volumes[0].mountPath',
      /is below the agent's checkpoint path/,
    ],
    [
      'two mounts on one path',
      (chart) => ({
        volumes: [mount(chart, '/etc/agent'), { volume: scratchVolume(chart), mountPath: '/etc/agent' }],
      }),
      'volumes[1].mountPath',
      /volumes\[1\]\.mountPath = "\/etc\/agent" is volumes\[0\]\.mountPath \(\/etc\/agent\) of the same container.*Fix: give each mount its own directory/,
    ],
    [
      'a mount inside another',
      (chart) => ({
        volumes: [mount(chart, '/etc/agent'), { volume: scratchVolume(chart), mountPath: '/etc/agent/x' }],
      }),
      'volumes[1].mountPath',
      /"\/etc\/agent\/x" is below volumes\[0\]\.mountPath/,
    ],
    ...['/abs', '../up', 'a/../../b', ''].map((subPath): [string, PropsFor, string, RegExp] => [
      `the subPath "${subPath}"`,
      (chart) => ({ volumes: [mount(chart, '/etc/agent', { subPath })] }),
      'volumes[0].subPath',
      /is not a relative path inside the volume.*Fix: give a path relative to the volume root/,
    ]),
    [
      'a pull secret name that is not DNS-1123',
      (chart) => ({ dockerRegistryAuth: Secret.fromSecretName(chart, 'Pull', 'Registry Pull') }),
      'dockerRegistryAuth',
      /dockerRegistryAuth = "Registry Pull" is not a DNS-1123 subdomain/,
    ],
    [
      'a sidecar name that is not a DNS label',
      { sidecars: [sidecar({ name: 'LLM_Proxy' })] },
      'sidecars[0].name',
      /sidecars\[0\]\.name = "LLM_Proxy" is not a DNS-1123 label/,
    ],
    [
      'a sidecar named agent',
      { sidecars: [sidecar({ name: 'agent' })] },
      'sidecars[0].name',
      /sidecars\[0\]\.name = "agent" is the name of the agent container too.*Fix: give each container of the pod its own name/,
    ],
    [
      'an init container and a sidecar with one name',
      { initContainers: [{ name: 'proxy', image: IMAGE }], sidecars: [sidecar()] },
      'sidecars[0].name',
      /sidecars\[0\]\.name = "proxy" is the name of initContainers\[0\] too/,
    ],
    [
      'an untagged sidecar image',
      { sidecars: [sidecar({ image: 'registry.example.com/proxy' })] },
      'sidecars[0].image',
      /sidecars\[0\]\.image = "registry.example.com\/proxy" has no tag.*Fix: pin a version/,
    ],
    [
      'an init container on :latest',
      { initContainers: [{ name: 'setup', image: 'tools:latest' }] },
      'initContainers[0].image',
      /initContainers\[0\]\.image = "tools:latest" uses the moving tag "latest"/,
    ],
    [
      'a malformed sidecar digest',
      { sidecars: [sidecar({ image: 'proxy@sha256:abc' })] },
      'sidecars[0].image',
      /has a malformed digest/,
    ],
    [
      'a sidecar limit below its request',
      {
        sidecars: [
          sidecar({
            resources: {
              requests: { memory: Quantity.mebibytes(256) },
              limits: { memory: Quantity.mebibytes(128) },
            },
          }),
        ],
      },
      'sidecars[0].resources.limits.memory',
      /sidecars\[0\]\.resources\.limits\.memory = "128Mi" is below the request \(256Mi\)/,
    ],
    [
      'an init container quantity Kubernetes refuses',
      {
        initContainers: [
          { name: 'setup', image: IMAGE, resources: { requests: { cpu: Quantity.of('1 core') } } },
        ],
      },
      'initContainers[0].resources.requests.cpu',
      /initContainers\[0\]\.resources\.requests\.cpu = "1 core" is not a Kubernetes quantity/,
    ],
    [
      'a sidecar port without a name',
      { sidecars: [sidecar({ ports: [{ number: 4000 }] })] },
      'sidecars[0].ports[0].name',
      /sidecars\[0\]\.ports\[0\]\.name = undefined is not a port name.*Fix: name the port/,
    ],
    [
      'a sidecar port name too long',
      { sidecars: [sidecar({ ports: [{ number: 4000, name: 'a-very-long-port-name' }] })] },
      'sidecars[0].ports[0].name',
      /is not a port name/,
    ],
    [
      'a sidecar port named metrics',
      { sidecars: [sidecar({ ports: [{ number: 9090, name: Http.portName }] })] },
      'sidecars[0].ports[0].name',
      /sidecars\[0\]\.ports\[0\]\.name = "metrics" is the name of a port of the agent too/,
    ],
    [
      "a sidecar on the agent's metrics port",
      { sidecars: [sidecar({ ports: [{ number: Defaults.metricsPort, name: 'proxy' }] })] },
      'sidecars[0].ports[0].number',
      /sidecars\[0\]\.ports\[0\]\.number = 8080 is a TCP port of the agent too.*Fix: use another port: 8080 is the agent's metrics port/,
    ],
    [
      'two sidecars on one port',
      {
        sidecars: [
          sidecar({ ports: [{ number: 4000, name: 'a' }] }),
          sidecar({ name: 'other', ports: [{ number: 4000, name: 'b' }] }),
        ],
      },
      'sidecars[1].ports[0].number',
      /sidecars\[1\]\.ports\[0\]\.number = 4000 is a TCP port of sidecar "proxy" too/,
    ],
    [
      'a sidecar host port',
      { sidecars: [sidecar({ ports: [{ number: 4000, name: 'proxy', hostPort: 4000 }] })] },
      'sidecars[0].ports[0].hostPort',
      /hostPort = 4000 binds a port of the node, which Pod Security "restricted" forbids/,
    ],
    [
      'a port number out of range',
      { sidecars: [sidecar({ ports: [{ number: 70000, name: 'proxy' }] })] },
      'sidecars[0].ports[0].number',
      /sidecars\[0\]\.ports\[0\]\.number = 70000 is not a port number.*Fix: use an integer 1–65535/,
    ],
    [
      'ports on an init container',
      {
        initContainers: [{ name: 'setup', image: IMAGE, ports: [{ number: 1, name: 'x' }] } as AgentSidecar],
      },
      'initContainers[0].ports',
      /initContainers\[0\]\.ports = "setup" is set on an init container.*Fix: move the container to sidecars/,
    ],
    [
      'a startup probe on an init container',
      {
        initContainers: [
          { name: 'setup', image: IMAGE, startupProbe: SidecarStartupProbe.tcpSocket(1) } as AgentSidecar,
        ],
      },
      'initContainers[0].startupProbe',
      /initContainers\[0\]\.startupProbe = "setup" is set on an init container/,
    ],
    [
      'a startup probe port out of range',
      { sidecars: [sidecar({ startupProbe: SidecarStartupProbe.tcpSocket(0) })] },
      'sidecars[0].startupProbe.port',
      /sidecars\[0\]\.startupProbe\.port = 0 is not a port number/,
    ],
    [
      'a relative startup probe path',
      { sidecars: [sidecar({ startupProbe: SidecarStartupProbe.httpGet('healthz', 4000) })] },
      'sidecars[0].startupProbe.path',
      /sidecars\[0\]\.startupProbe\.path = "healthz" is not an absolute URL path.*Fix: use e\.g\. "\/healthz"/,
    ],
    [
      'a fractional startup probe period',
      {
        sidecars: [
          sidecar({ startupProbe: SidecarStartupProbe.tcpSocket(4000, { period: Duration.millis(1500) }) }),
        ],
      },
      'sidecars[0].startupProbe.period',
      /sidecars\[0\]\.startupProbe\.period = .* is not a whole number of seconds ≥ 1/,
    ],
    [
      'a zero failure threshold',
      { sidecars: [sidecar({ startupProbe: SidecarStartupProbe.tcpSocket(4000, { failureThreshold: 0 }) })] },
      'sidecars[0].startupProbe.failureThreshold',
      /sidecars\[0\]\.startupProbe\.failureThreshold = 0 is not a whole number ≥ 1/,
    ],
    [
      "a sidecar mount of a volume that is not the pod's",
      (chart) => ({ sidecars: [sidecar({ volumes: [mount(chart, '/etc/proxy')] })] }),
      'sidecars[0].volumes[0].volume',
      /sidecars\[0\]\.volumes\[0\]\.volume = "configmap-agent-config" is not one of the pod's volumes.*Fix: add it to the workload's volumes/,
    ],
    [
      'a sidecar mount on /tmp',
      (chart) => {
        const config = configVolume(chart);
        return {
          volumes: [{ volume: config, mountPath: '/etc/agent' }],
          sidecars: [sidecar({ volumes: [{ volume: config, mountPath: '/tmp/x' }] })],
        };
      },
      'sidecars[0].volumes[0].mountPath',
      /sidecars\[0\]\.volumes\[0\]\.mountPath = "\/tmp\/x" is below the pod's writable \/tmp/,
    ],
  ])('%s', (_title, props, prop, message) => {
    for (const kind of KINDS) {
      const error = failure(kind, props);
      expect(error.prop).toBe(prop);
      expect(error.message).toMatch(/^test\/Agents: /);
      expect(error.message).toMatch(message);
      expect(error.message).toMatch(/Fix: /);
    }
  });

  test('a sidecar may set the contract variable names: only the agent reads them', () => {
    const pod = synthPod('AgentJob', {
      sidecars: [sidecar({ env: { [ContractEnv.TASK_QUEUE_NAME]: 'x' } })],
    });
    expect(pod.initContainers[0].env).toEqual([{ name: ContractEnv.TASK_QUEUE_NAME, value: 'x' }]);
  });
});

describe('a credential in any new string field is refused and never echoed', () => {
  const SECRET = 'hunter2';
  const URL = `https://bob:${SECRET}@llm.example.com/v1`;
  const QUERY = `?token=${SECRET}`;
  const sidecar = (extra: Partial<AgentSidecar> = {}): AgentSidecar => ({
    name: 'proxy',
    image: IMAGE,
    ...extra,
  });

  test.each<[string, PropsFor, string]>([
    ['an agent env string', { env: { LLM_URL: URL } }, 'env.LLM_URL'],
    ['an agent EnvValue.fromValue', { env: { LLM_URL: EnvValue.fromValue(URL) } }, 'env.LLM_URL'],
    ['a sidecar env string', { sidecars: [sidecar({ env: { UPSTREAM: URL } })] }, 'sidecars[0].env.UPSTREAM'],
    [
      'a sidecar EnvValue.fromValue',
      { sidecars: [sidecar({ env: { UPSTREAM: EnvValue.fromValue(URL) } })] },
      'sidecars[0].env.UPSTREAM',
    ],
    [
      'an init container env string',
      { initContainers: [{ name: 'setup', image: IMAGE, env: { SOURCE: URL } }] },
      'initContainers[0].env.SOURCE',
    ],
    ['a sidecar image', { sidecars: [sidecar({ image: `${URL}/proxy:1` })] }, 'sidecars[0].image'],
    [
      'an init container image',
      { initContainers: [{ name: 'setup', image: `https://bob:${SECRET}@r.example.com/t:1` }] },
      'initContainers[0].image',
    ],
    ['a sidecar command', { sidecars: [sidecar({ command: ['/proxy', URL] })] }, 'sidecars[0].command[1]'],
    ['a sidecar argument', { sidecars: [sidecar({ args: [`--upstream=${URL}`] })] }, 'sidecars[0].args[0]'],
    [
      'an init container argument',
      { initContainers: [{ name: 'setup', image: IMAGE, args: [URL] }] },
      'initContainers[0].args[0]',
    ],
    [
      'an agent mount path',
      (chart) => ({ volumes: [{ volume: configVolume(chart), mountPath: `/etc/agent${QUERY}` }] }),
      'volumes[0].mountPath',
    ],
    [
      'a sidecar mount path',
      (chart) => {
        const config = configVolume(chart);
        return {
          volumes: [{ volume: config, mountPath: '/etc/agent' }],
          sidecars: [sidecar({ volumes: [{ volume: config, mountPath: `/etc/proxy${QUERY}` }] })],
        };
      },
      'sidecars[0].volumes[0].mountPath',
    ],
    [
      'a subPath',
      (chart) => ({
        volumes: [{ volume: configVolume(chart), mountPath: '/etc/agent', subPath: `c${QUERY}` }],
      }),
      'volumes[0].subPath',
    ],
    [
      'a startup probe path',
      { sidecars: [sidecar({ startupProbe: SidecarStartupProbe.httpGet(`/healthz${QUERY}`, 4000) })] },
      'sidecars[0].startupProbe.path',
    ],
    ['a sidecar name', { sidecars: [sidecar({ name: URL })] }, 'sidecars[0].name'],
    ['an init container name', { initContainers: [{ name: URL, image: IMAGE }] }, 'initContainers[0].name'],
    [
      'a port name',
      { sidecars: [sidecar({ ports: [{ number: 4000, name: URL }] })] },
      'sidecars[0].ports[0].name',
    ],
    [
      'a volume name',
      (chart) => ({
        volumes: [
          { volume: Volume.fromEmptyDir(chart, 'E', URL, { sizeLimit: Size.mebibytes(1) }), mountPath: '/x' },
        ],
      }),
      'volumes[0].volume.name',
    ],
    [
      'an envFrom prefix',
      (chart) => ({
        envFrom: [Env.fromConfigMap(ConfigMap.fromConfigMapName(chart, 'Cm', 'settings'), URL)],
      }),
      'envFrom[0].prefix',
    ],
    [
      'a pull secret name',
      (chart) => ({ dockerRegistryAuth: Secret.fromSecretName(chart, 'Pull', URL) }),
      'dockerRegistryAuth',
    ],
  ])('%s', (_title, props, prop) => {
    for (const kind of KINDS) {
      const error = failure(kind, props);
      expect(error.prop).toBe(prop);
      expect(error.message).not.toContain(SECRET);
    }
  });
});

describe('mount paths (fast-check)', () => {
  const POOL = [
    '/',
    '/a',
    '/a/b',
    '/a/b/c',
    '/ab',
    '/b',
    '/etc',
    '/etc/agent',
    '/tmp',
    '/tmp/x',
    '/tmpx',
    Defaults.checkpointDir,
    `${Defaults.checkpointDir}/y`,
    `${Defaults.checkpointDir}-old`,
    DEFAULT_TASK_DIR,
    `${DEFAULT_TASK_DIR}/x`,
  ];
  const RESERVED = ['/tmp', Defaults.checkpointDir, DEFAULT_TASK_DIR];
  const nests = (a: string, b: string) =>
    a === b || (a === '/' ? true : b.startsWith(`${a}/`)) || (b === '/' ? true : a.startsWith(`${b}/`));

  test('a set of mounts is accepted iff no path equals or nests another or a reserved path', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...POOL), { minLength: 1, maxLength: 4 }),
        fc.constantFrom(...KINDS),
        (paths, kind) => {
          const ok =
            paths.every((p) => RESERVED.every((r) => !nests(p, r))) &&
            paths.every((p, i) => paths.slice(0, i).every((q) => !nests(p, q)));
          const props = (chart: Chart): Partial<AgentPodProps> => ({
            volumes: paths.map((mountPath, i) => ({ volume: scratchVolume(chart, `v${i}`), mountPath })),
          });
          if (ok) {
            const pod = synthPod(kind, props);
            expect(pod.containers[0].volumeMounts.slice(2).map((m: Manifest) => m.mountPath)).toEqual(paths);
          } else {
            expect(failure(kind, props).prop).toMatch(/^volumes\[\d\]\.mountPath$/);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('the pod with every feature', () => {
  test('matches its snapshot', () => {
    expect(synthPod('AgentJob', everything)).toMatchSnapshot();
  });
});

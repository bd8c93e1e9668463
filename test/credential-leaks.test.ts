/**
 * No credential reaches a manifest or an error message: a credential of every kind the contract
 * detects is fed into every string prop of every construct, and the test asserts that the
 * construction (or the synth) is refused, and that neither the message nor any synthesized output
 * contains the secret.
 */
import { Chart, Size, Testing } from 'cdk8s';
import { ConfigMap, Env, EnvValue, Secret, ServiceAccount, Volume } from 'cdk8s-plus-30';
import type { Construct } from 'constructs';
import {
  AgentGuardrails,
  AgentJob,
  type AgentJobProps,
  AgentObservability,
  AgentScaledJob,
  type AgentScaledJobProps,
  CheckpointStore,
  EgressPeer,
  PodIdentityProvider,
  Protocol,
  QueueConnection,
  ScaledJobTrigger,
  secretKey,
  TriggerAuth,
} from '../lib';
import { podReferences } from '../lib/internal/chart-references';

/** One credential of each shape, and the part of it that must never be printed. */
const CREDENTIALS: ReadonlyArray<{ readonly kind: string; readonly value: string; readonly secret: string }> =
  [
    { kind: 'URL password', value: 'amqp://agent:hunter2-pw@rabbit:5672/', secret: 'hunter2-pw' },
    { kind: 'URL password with /', value: 'amqp://agent:pa/ss-w0rd@rabbit/', secret: 'pa/ss-w0rd' },
    { kind: 'URL token', value: 'https://tok3nValue99@git.example.com/x', secret: 'tok3nValue99' },
    { kind: 'API key', value: 'sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv', secret: 'Ab3dEf6hIj9kLm2nOp5qRs8tUv' },
    { kind: 'AWS key id', value: 'AKIAIOSFODNN7EXAMPLE', secret: 'IOSFODNN7EXAMPLE' },
    {
      kind: 'GitHub token',
      value: 'ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789',
      secret: 'aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789',
    },
    {
      kind: 'JWT',
      value: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
      secret: 'dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
    },
    { kind: 'bearer value', value: 'Bearer abc123def456ghi789', secret: 'abc123def456ghi789' },
    {
      kind: 'signed URL',
      value: 'https://bucket.s3.amazonaws.com/o?X-Amz-Signature=deadbeefcafe1234',
      secret: 'deadbeefcafe1234',
    },
  ];

const queue = QueueConnection.fromSecretName('agent-secrets', 'url');
const image = 'registry.example.com/agent:1.0.0';
const job = (c: Construct, p: Partial<AgentJobProps>) => new AgentJob(c, 'Job', { image, queue, ...p });
const scaled = (c: Construct, p: Partial<AgentScaledJobProps>) =>
  new AgentScaledJob(c, 'Scaled', { image, queue, ...p });

/** Every string prop that reaches a manifest, with how to put `v` in it. */
const PROPS: ReadonlyArray<readonly [string, (chart: Chart, v: string) => void]> = [
  ['AgentJob.image', (c, v) => job(c, { image: v })],
  ['AgentJob.name', (c, v) => job(c, { name: v })],
  ['AgentJob.queueName', (c, v) => job(c, { queueName: v })],
  ['AgentJob.resultQueueName', (c, v) => job(c, { resultQueueName: v })],
  ['AgentJob.handlerModule', (c, v) => job(c, { handlerModule: v })],
  ['AgentJob.env value', (c, v) => job(c, { env: { LLM_BASE_URL: v } })],
  ['AgentJob.env name', (c, v) => job(c, { env: { [v]: 'x' } })],
  ['AgentJob.app', (c, v) => job(c, { app: v })],
  ['AgentJob.team', (c, v) => job(c, { team: v })],
  ['AgentJob.nodeSelector value', (c, v) => job(c, { nodeSelector: { pool: v } })],
  ['AgentJob.nodeSelector key', (c, v) => job(c, { nodeSelector: { [v]: 'x' } })],
  ['AgentJob.tolerations key', (c, v) => job(c, { tolerations: [{ key: v }] })],
  ['AgentJob.tolerations value', (c, v) => job(c, { tolerations: [{ key: 'pool', value: v }] })],
  [
    'AgentJob.affinity',
    (c, v) =>
      job(c, {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: [v] }] }],
            },
          },
        },
      }),
  ],
  ['AgentJob.priorityClassName', (c, v) => job(c, { priorityClassName: v })],
  [
    'AgentJob.serviceAccount',
    (c, v) => job(c, { serviceAccount: ServiceAccount.fromServiceAccountName(c, 'Sa', v) }),
  ],
  ['AgentJob.queue secret name', (c, v) => job(c, { queue: QueueConnection.fromSecretName(v, 'url') })],
  ['AgentJob.queue key', (c, v) => job(c, { queue: QueueConnection.fromSecretName('s', v) })],
  ['AgentJob.env EnvValue.fromValue', (c, v) => job(c, { env: { LLM_BASE_URL: EnvValue.fromValue(v) } })],
  [
    'AgentJob.volumes mountPath',
    (c, v) =>
      job(c, {
        volumes: [
          {
            volume: Volume.fromEmptyDir(c, 'V', 'scratch', { sizeLimit: Size.gibibytes(1) }),
            mountPath: `/data/${v}`,
          },
        ],
      }),
  ],
  [
    'AgentJob.volumes subPath',
    (c, v) =>
      job(c, {
        volumes: [
          {
            volume: Volume.fromConfigMap(c, 'V', ConfigMap.fromConfigMapName(c, 'Cm', 'prompts')),
            mountPath: '/prompts',
            subPath: v,
          },
        ],
      }),
  ],
  ['AgentJob.sidecars name', (c, v) => job(c, { sidecars: [{ name: v, image }] })],
  ['AgentJob.sidecars image', (c, v) => job(c, { sidecars: [{ name: 'proxy', image: v }] })],
  [
    'AgentJob.sidecars args',
    (c, v) => job(c, { sidecars: [{ name: 'proxy', image, args: ['--upstream', v] }] }),
  ],
  ['AgentJob.sidecars command', (c, v) => job(c, { sidecars: [{ name: 'proxy', image, command: [v] }] })],
  ['AgentJob.sidecars env', (c, v) => job(c, { sidecars: [{ name: 'proxy', image, env: { UPSTREAM: v } }] })],
  [
    'AgentJob.initContainers args',
    (c, v) => job(c, { initContainers: [{ name: 'fetch', image, args: [v] }] }),
  ],
  [
    'AgentJob.dockerRegistryAuth',
    (c, v) => job(c, { dockerRegistryAuth: Secret.fromSecretName(c, 'Pull', v) }),
  ],
  ['AgentScaledJob.name', (c, v) => scaled(c, { name: v })],
  ['rabbitmq.queueName', (c, v) => scaled(c, { triggers: [ScaledJobTrigger.rabbitmq({ queueName: v })] })],
  ['rabbitmq.vhostName', (c, v) => scaled(c, { triggers: [ScaledJobTrigger.rabbitmq({ vhostName: v })] })],
  [
    'awsSqs.queueUrl',
    (c, v) => scaled(c, { triggers: [ScaledJobTrigger.awsSqs({ queueUrl: v, awsRegion: 'eu-west-1' })] }),
  ],
  [
    'awsSqs.awsRegion',
    (c, v) =>
      scaled(c, {
        triggers: [
          ScaledJobTrigger.awsSqs({ queueUrl: 'https://sqs.eu-west-1.amazonaws.com/1/q', awsRegion: v }),
        ],
      }),
  ],
  [
    'redisList.address',
    (c, v) => scaled(c, { triggers: [ScaledJobTrigger.redisList({ address: v, listName: 'tasks' })] }),
  ],
  [
    'kafka.bootstrapServers',
    (c, v) =>
      scaled(c, {
        triggers: [ScaledJobTrigger.kafka({ bootstrapServers: v, consumerGroup: 'g', topic: 't' })],
      }),
  ],
  [
    'TriggerAuth.podIdentity roleArn',
    (c, v) =>
      scaled(c, {
        triggers: [
          ScaledJobTrigger.rabbitmq({
            auth: TriggerAuth.podIdentity(PodIdentityProvider.AWS, { roleArn: v }),
          }),
        ],
      }),
  ],
  [
    'TriggerAuth.secrets key',
    (c, v) =>
      scaled(c, {
        triggers: [ScaledJobTrigger.rabbitmq({ auth: TriggerAuth.secrets({ host: secretKey('s', v) }) })],
      }),
  ],
  [
    'llmCapacity.tokenBudgetGate.tokensPerMinuteQuery',
    (c, v) =>
      scaled(c, {
        llmCapacity: {
          gateway: { requestsPerMinute: 100, tokensPerMinute: 100_000 },
          task: { requestsPerTask: 1, tokensPerTask: 100, taskDuration: { toSeconds: () => 60 } },
          tokenBudgetGate: {
            prometheusUrl: 'http://prometheus:9090',
            namespace: 'agents',
            tokensPerMinuteQuery: v,
          },
        },
      }),
  ],
  ['CheckpointStore.claimName', (c, v) => new CheckpointStore(c, 'Store', { claimName: v })],
  ['CheckpointStore.storageClassName', (c, v) => new CheckpointStore(c, 'Store', { storageClassName: v })],
  [
    'AgentGuardrails.egress namespace',
    (c, v) =>
      new AgentGuardrails(c, 'Guard', {
        agents: [job(c, {})],
        egress: [EgressPeer.namespace(v, { ports: [{ port: 5672, protocol: Protocol.TCP }] })],
      }),
  ],
  [
    'AgentGuardrails.egress podSelector',
    (c, v) =>
      new AgentGuardrails(c, 'Guard', {
        agents: [job(c, {})],
        egress: [EgressPeer.namespace('mq', { podSelector: { app: v }, ports: [{ port: 5672 }] })],
      }),
  ],
  [
    'AgentGuardrails.monitoringNamespace',
    (c, v) => new AgentGuardrails(c, 'Guard', { agents: [job(c, {})], monitoringNamespace: v }),
  ],
  [
    'AgentObservability.runbookUrl',
    (c, v) => new AgentObservability(c, 'Obs', { agents: [job(c, {})], alerts: { runbookUrl: v } }),
  ],
  [
    'AgentObservability.monitorLabels',
    (c, v) => new AgentObservability(c, 'Obs', { agents: [job(c, {})], monitorLabels: { release: v } }),
  ],
  [
    'AgentObservability.dashboard title',
    (c, v) => new AgentObservability(c, 'Obs', { agents: [job(c, {})], dashboard: { title: v } }),
  ],
  ['AgentObservability.name', (c, v) => new AgentObservability(c, 'Obs', { agents: [job(c, {})], name: v })],
];

describe.each(CREDENTIALS)('a $kind', ({ value, secret }) => {
  test.each(PROPS)('in %s is refused and never printed', (_prop, build) => {
    const chart = new Chart(Testing.app(), 'fleet', { namespace: 'agents' });
    let message: string | undefined;
    let output: string | undefined;
    try {
      build(chart, value);
      output = JSON.stringify(Testing.synth(chart));
    } catch (error) {
      message = `${(error as Error).message}\n${(error as Error).stack ?? ''}`;
    }
    expect(output).toBeUndefined();
    expect(message).toBeDefined();
    expect(message).not.toContain(secret);
  });
});

describe('Secrets and ConfigMaps the chart itself defines', () => {
  function fleet(build: (chart: Chart) => void) {
    const chart = new Chart(Testing.app(), 'fleet', { namespace: 'agents' });
    build(chart);
    return () => Testing.synth(chart);
  }

  test('a queue Secret with a literal credential-bearing URL is refused, redacted, with the fix', () => {
    const synth = fleet((chart) => {
      const secret = new Secret(chart, 'Rmq', {
        stringData: { url: 'amqp://agent:hunter2-pw@rabbit:5672/' },
      });
      job(chart, { queue: QueueConnection.fromSecret(secret, 'url') });
    });
    expect(synth).toThrow(/queue = .* reads a password in a URL that this chart writes as a literal/);
    expect(synth).toThrow(
      /Fix: keep the value out of the chart: create the Secret outside it \(External Secrets/,
    );
    expect(() => synth()).not.toThrow(/hunter2-pw/);
  });

  test('a key the chart’s own Secret does not define is refused, naming the keys it has', () => {
    const synth = fleet((chart) => {
      const secret = new Secret(chart, 'Rmq', { stringData: { url: 'see-external-secrets' } });
      job(chart, { queue: QueueConnection.fromSecret(secret, 'amqp-url') });
    });
    expect(synth).toThrow(
      /queue = "amqp-url" references key "amqp-url" of Secret "[^"]+", which this chart defines with the keys "url"/,
    );
  });

  test("a trigger's TriggerAuthentication key is checked too", () => {
    const synth = fleet((chart) => {
      const mgmt = new Secret(chart, 'Mgmt', { stringData: { url: 'see-external-secrets' } });
      scaled(chart, {
        triggers: [
          ScaledJobTrigger.rabbitmq({
            auth: TriggerAuth.secrets({ host: secretKey(mgmt, 'management-url') }),
          }),
        ],
      });
    });
    expect(synth).toThrow(
      /triggers auth \(host\) = "management-url" references key "management-url" of Secret/,
    );
  });

  test('a Secret added to the chart after the workload is still seen', () => {
    const synth = fleet((chart) => {
      job(chart, { queue: QueueConnection.fromSecretName('late-secret', 'url') });
      new Secret(chart, 'Late', { metadata: { name: 'late-secret' }, stringData: { other: 'x' } });
    });
    expect(synth).toThrow(/references key "url" of Secret "late-secret"/);
  });

  test('Secrets the chart does not define (pre-created, External Secrets) are not checked', () => {
    const synth = fleet((chart) => {
      job(chart, {
        queue: QueueConnection.fromSecret(Secret.fromSecretName(chart, 'Ext', 'agent-secrets'), 'url'),
      });
    });
    expect(synth).not.toThrow();
  });

  test('a Secret of another namespace is another object', () => {
    const synth = fleet((chart) => {
      new Secret(chart, 'Other', {
        metadata: { name: 'agent-secrets', namespace: 'elsewhere' },
        stringData: { url: 'amqp://agent:hunter2-pw@rabbit/' },
      });
      job(chart, { queue });
    });
    expect(synth).not.toThrow();
  });
});

describe('podReferences: every way a pod spec reads a Secret or ConfigMap', () => {
  test('env, envFrom, secret, configMap and projected volumes, in init containers and containers', () => {
    const refs = podReferences({
      initContainers: [{ name: 'proxy', envFrom: [{ secretRef: { name: 'proxy-env' } }] }],
      containers: [
        {
          name: 'agent',
          env: [
            { name: 'KEY', valueFrom: { secretKeyRef: { name: 'llm', key: 'api-key' } } },
            { name: 'MODEL', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'model', optional: true } } },
            { name: 'PLAIN', value: 'x' },
          ],
          envFrom: [{ configMapRef: { name: 'defaults' } }],
        },
      ],
      volumes: [
        { name: 'certs', secret: { secretName: 'tls', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { name: 'prompts', configMap: { name: 'prompts' } },
        {
          name: 'both',
          projected: { sources: [{ secret: { name: 'p-s' } }, { configMap: { name: 'p-c' } }] },
        },
      ],
    });
    expect(refs).toEqual([
      { kind: 'Secret', name: 'proxy-env', optional: false, where: 'initContainers[proxy].envFrom[0]' },
      {
        kind: 'Secret',
        name: 'llm',
        keys: ['api-key'],
        optional: false,
        where: 'containers[agent].env[KEY]',
      },
      {
        kind: 'ConfigMap',
        name: 'cfg',
        keys: ['model'],
        optional: true,
        where: 'containers[agent].env[MODEL]',
      },
      { kind: 'ConfigMap', name: 'defaults', optional: false, where: 'containers[agent].envFrom[0]' },
      { kind: 'Secret', name: 'tls', keys: ['ca.crt'], optional: false, where: 'volumes[certs]' },
      { kind: 'ConfigMap', name: 'prompts', keys: undefined, optional: false, where: 'volumes[prompts]' },
      { kind: 'Secret', name: 'p-s', keys: undefined, optional: false, where: 'volumes[both]' },
      { kind: 'ConfigMap', name: 'p-c', keys: undefined, optional: false, where: 'volumes[both]' },
    ]);
  });

  test('a ConfigMap the chart defines, read whole by envFrom, may not hold a credential', () => {
    const chart = new Chart(Testing.app(), 'fleet', { namespace: 'agents' });
    const cm = new ConfigMap(chart, 'Cfg', {
      data: { LLM_BASE_URL: 'https://bob:hunter2-pw@llm.example.com' },
    });
    job(chart, { envFrom: [Env.fromConfigMap(cm)] });
    expect(() => Testing.synth(chart)).toThrow(
      /envFrom\[0\] = .* reads a password in a URL that this chart writes/,
    );
    expect(() => Testing.synth(chart)).not.toThrow(/hunter2-pw/);
  });
});

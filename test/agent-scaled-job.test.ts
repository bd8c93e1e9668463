import { Defaults, Env, ExitCode, SHUTDOWN_MARGIN_SECONDS } from '@agent-fleet/contract';
import { ApiObject, Chart, Duration, JsonPatch, Testing } from 'cdk8s';
import { ServiceAccount } from 'cdk8s-plus-30';
import fc from 'fast-check';
import { AgentFleetChart } from '../examples/main';
import {
  AgentFleetValidationError,
  AgentJob,
  AgentScaledJob,
  type AgentScaledJobProps,
  CheckpointAccessMode,
  CheckpointStore,
  CompletionMode,
  KafkaSasl,
  type LlmCapacity,
  llmCapacityGuard,
  MultipleScalersCalculation,
  PodIdentityProvider,
  Quantity,
  QueueConnection,
  RabbitMqMode,
  RabbitMqProtocol,
  RolloutStrategy,
  ScaledJobTrigger,
  ScalingStrategy,
  secretKey,
  TaintEffect,
  TriggerAuth,
  WORKLOAD_LABEL,
} from '../lib';
import { agentPodFailurePolicy } from '../lib/internal/job-policy';
import { envOf, type Manifest, only, synthValid } from './support/manifests';

const queue = QueueConnection.fromSecretName('agent-secrets', 'queue-url');
const base: AgentScaledJobProps = { image: 'registry.example.com/agent:1.0.0', queue };
/** The management API URL (with its credentials) lives in its own Secret. */
const managementAuth = TriggerAuth.secrets({ host: secretKey('rabbitmq-management', 'url') });
const SQS_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/agent-tasks';

interface Synthesized {
  readonly construct: AgentScaledJob;
  readonly objects: Manifest[];
  readonly scaledJob: Manifest;
  readonly triggerAuths: Manifest[];
}

/** Builds an AgentScaledJob in a fresh chart; every object goes through the schema and PSS checks. */
function synthScaled(props: Partial<AgentScaledJobProps> = {}, chart: Chart = Testing.chart()): Synthesized {
  const construct = new AgentScaledJob(chart, 'Agents', { ...base, ...props });
  const objects = synthValid(chart);
  return {
    construct,
    objects,
    scaledJob: only(objects, 'ScaledJob'),
    triggerAuths: objects.filter((o) => o.kind === 'TriggerAuthentication'),
  };
}

/** The one trigger of a ScaledJob built with `trigger`. */
function renderTrigger(trigger: ScaledJobTrigger, props: Partial<AgentScaledJobProps> = {}) {
  const out = synthScaled({ triggers: [trigger], ...props });
  expect(out.scaledJob.spec.triggers).toHaveLength(1);
  return { ...out, trigger: out.scaledJob.spec.triggers[0] };
}

/** Builds an AgentScaledJob with `props` and returns the validation error it throws. */
function failure(
  props: Partial<AgentScaledJobProps>,
  extra?: (chart: Chart) => Partial<AgentScaledJobProps>,
): AgentFleetValidationError {
  const chart = Testing.chart();
  try {
    new AgentScaledJob(chart, 'Agents', { ...base, ...props, ...extra?.(chart) });
  } catch (error) {
    expect(error).toBeInstanceOf(AgentFleetValidationError);
    return error as AgentFleetValidationError;
  }
  throw new Error(`expected ${JSON.stringify(props)} to be rejected`);
}

/**
 * A gateway of 600 requests/min and 1,000,000 tokens/min, used at 80%, and tasks of 10 requests and
 * 50,000 tokens over 2 minutes. Per busy Job: 10 × 60 / 120 = 5 requests/min and
 * 50,000 × 60 / 120 = 25,000 tokens/min. Budgets: 480 requests/min → 96 Jobs; 800,000 tokens/min →
 * 32 Jobs. Tokens bind: 32.
 */
const llmCapacity: LlmCapacity = {
  gateway: { requestsPerMinute: 600, tokensPerMinute: 1_000_000 },
  task: { requestsPerTask: 10, tokensPerTask: 50_000, taskDuration: Duration.minutes(2) },
};
const HAND_COMPUTED_GUARD = 32;

describe('AgentScaledJob defaults', () => {
  const { scaledJob, triggerAuths, construct } = synthScaled();
  const spec = scaledJob.spec;
  const pod = spec.jobTargetRef.template.spec;
  const env = envOf(pod);

  test('is a KEDA 2.16 ScaledJob', () => {
    expect(scaledJob.apiVersion).toBe('keda.sh/v1alpha1');
    expect(scaledJob.kind).toBe('ScaledJob');
    expect(scaledJob.metadata.labels[WORKLOAD_LABEL]).toBe(scaledJob.metadata.name);
  });

  test('the Job template never restarts in place and carries the AgentJob retry policy', () => {
    // KEDA fills in OnFailure when restartPolicy is empty; podFailurePolicy needs Never.
    expect(pod.restartPolicy).toBe('Never');
    expect(spec.jobTargetRef.podReplacementPolicy).toBe('Failed');
    expect(spec.jobTargetRef.podFailurePolicy).toEqual(agentPodFailurePolicy(false));
    expect(spec.jobTargetRef.podFailurePolicy.rules).toEqual([
      { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      {
        action: 'FailJob',
        onExitCodes: { containerName: 'agent', operator: 'In', values: [ExitCode.permanentFailure] },
      },
      {
        action: 'FailJob',
        onExitCodes: { containerName: 'agent', operator: 'In', values: [ExitCode.configError] },
      },
    ]);
    expect(spec.jobTargetRef.parallelism).toBe(1);
    expect(spec.jobTargetRef.completions).toBe(1);
    expect(spec.jobTargetRef.backoffLimit).toBe(3);
    expect(spec.jobTargetRef.activeDeadlineSeconds).toBeUndefined();
  });

  test("KEDA's defaults written out, rollout gradual so an update does not kill running agents", () => {
    expect(spec.rollout).toEqual({ strategy: 'gradual' });
    expect(spec.pollingInterval).toBe(30);
    expect(spec.maxReplicaCount).toBe(100);
    expect(spec.minReplicaCount).toBe(0);
    expect(spec.successfulJobsHistoryLimit).toBe(100);
    expect(spec.failedJobsHistoryLimit).toBe(100);
    expect(construct.maxReplicaCount).toBe(100);
    expect(construct.llmSafeMaxReplicaCount).toBeUndefined();
  });

  test("default trigger: the agents' own queue over amqp, host from the queue Secret", () => {
    expect(spec.triggers).toEqual([
      {
        type: 'rabbitmq',
        metadata: {
          protocol: 'amqp',
          queueName: Defaults.taskQueueName,
          mode: 'QueueLength',
          value: '1',
        },
        authenticationRef: { name: triggerAuths[0].metadata.name, kind: 'TriggerAuthentication' },
      },
    ]);
    expect(triggerAuths).toHaveLength(1);
    expect(triggerAuths[0].apiVersion).toBe('keda.sh/v1alpha1');
    expect(triggerAuths[0].spec).toEqual({
      secretTargetRef: [{ parameter: 'host', name: 'agent-secrets', key: 'queue-url' }],
    });
    expect(construct.triggerAuthentications.map((t) => t.name)).toEqual([triggerAuths[0].metadata.name]);
  });

  test('strategy accurate: amqp counts only ready messages (kedacore/keda#6571)', () => {
    expect(spec.scalingStrategy).toEqual({ strategy: 'accurate', pendingPodConditions: ['Ready'] });
    expect(construct.scalingStrategy.name).toBe('accurate');
  });

  test('each Job takes the tasks KEDA created it for, then exits; identity is the pod name', () => {
    expect(env[Env.AGENT_MAX_TASKS]).toBe(spec.triggers[0].metadata.value);
    expect(env[Env.AGENT_IDLE_EXIT_SECONDS]).toBe(String(Defaults.idleExitSeconds));
    expect(env[Env.AGENT_INDEX]).toBeUndefined();
    expect(env[Env.POD_NAME]).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(env[Env.TASK_QUEUE_URL]).toEqual({ secretKeyRef: { name: 'agent-secrets', key: 'queue-url' } });
    expect(env[Env.AGENT_SHUTDOWN_SECONDS]).toBe(
      String(pod.terminationGracePeriodSeconds - SHUTDOWN_MARGIN_SECONDS),
    );
    expect(construct.shutdownSeconds).toBe(pod.terminationGracePeriodSeconds - SHUTDOWN_MARGIN_SECONDS);
  });

  test('no literal URL anywhere in the manifests', () => {
    expect(JSON.stringify([scaledJob, ...triggerAuths])).not.toMatch(/amqps?:\/\//);
  });
});

describe('AgentScaledJob pod template comes from the AgentJob pod builder', () => {
  /** Props that touch every part of the pod builder. */
  function podProps(chart: Chart) {
    return {
      image: 'registry.example.com/agent:2.3.4',
      queue,
      queueName: 'research-tasks',
      resultQueueName: 'research-results',
      handlerModule: '/app/dist/handler.js',
      resources: {
        requests: { cpu: Quantity.cpuMillis(250), memory: Quantity.gibibytes(1) },
        limits: { memory: Quantity.gibibytes(3), ephemeralStorage: Quantity.gibibytes(1) },
      },
      env: { LLM_BASE_URL: 'http://llm-gateway.ai.svc:8000/v1' },
      app: 'research-agent',
      team: 'ml',
      checkpointStore: new CheckpointStore(chart, 'Store', { claimName: 'ckpt' }),
      terminationGracePeriod: Duration.minutes(2),
      nodeSelector: { pool: 'agents' },
      tolerations: [{ key: 'spot', effect: TaintEffect.NO_EXECUTE, tolerationSeconds: Duration.minutes(1) }],
      serviceAccount: ServiceAccount.fromServiceAccountName(chart, 'Sa', 'agent-runner'),
      priorityClassName: 'agents-low',
      runAsUser: 2000,
      idleExit: Duration.minutes(3),
    };
  }

  function templates() {
    const jobChart = Testing.chart();
    new AgentJob(jobChart, 'Agents', {
      ...podProps(jobChart),
      name: 'research',
      completionMode: CompletionMode.NON_INDEXED,
      completions: 4,
      parallelism: 4,
      maxTasks: 7,
      concurrency: 7,
    });
    const scaledChart = Testing.chart();
    new AgentScaledJob(scaledChart, 'Agents', {
      ...podProps(scaledChart),
      name: 'research',
      triggers: [ScaledJobTrigger.rabbitmq({ value: 7 })],
    });
    return {
      job: only(synthValid(jobChart), 'Job').spec.template,
      scaled: only(synthValid(scaledChart), 'ScaledJob').spec.jobTargetRef.template,
    };
  }

  test('the same AgentPodProps give the same pod as a NonIndexed AgentJob taking as many tasks', () => {
    const { job, scaled } = templates();
    expect(scaled).toEqual(job);
    // And the props did reach it (the comparison is not between two empty templates).
    const pod = scaled.spec;
    expect(pod.containers[0].image).toBe('registry.example.com/agent:2.3.4');
    expect(pod.securityContext).toMatchObject({ runAsUser: 2000, fsGroup: 2000 });
    expect(pod.volumes).toContainEqual({ name: 'checkpoints', persistentVolumeClaim: { claimName: 'ckpt' } });
    expect(pod.serviceAccountName).toBe('agent-runner');
    expect(envOf(pod)[Env.AGENT_IDLE_EXIT_SECONDS]).toBe('180');
    expect(envOf(pod)[Env.AGENT_MAX_TASKS]).toBe('7');
    expect(envOf(pod)[Env.AGENT_CONCURRENCY]).toBe('7');
    expect(envOf(pod)[Env.TASK_QUEUE_NAME]).toBe('research-tasks');
  });

  test('container, security contexts and volumes match those of an Indexed AgentJob, minus identity env', () => {
    const jobChart = Testing.chart();
    new AgentJob(jobChart, 'Agents', { ...podProps(jobChart), name: 'research' });
    const job = only(synthValid(jobChart), 'Job').spec.template.spec;
    const { scaled } = templates();
    const pod = scaled.spec;
    const withoutEnv = ({ env: _env, ...container }: Manifest) => container;
    expect(withoutEnv(pod.containers[0])).toEqual(withoutEnv(job.containers[0]));
    expect(pod.securityContext).toEqual(job.securityContext);
    expect(pod.volumes).toEqual(job.volumes);
    const {
      [Env.AGENT_INDEX]: index,
      [Env.AGENT_MAX_TASKS]: _jobTasks,
      [Env.AGENT_CONCURRENCY]: _jobConcurrency,
      ...jobEnv
    } = envOf(job);
    const {
      [Env.AGENT_MAX_TASKS]: _scaledTasks,
      [Env.AGENT_CONCURRENCY]: _scaled,
      ...scaledEnv
    } = envOf(pod);
    expect(index).toBeDefined();
    expect(scaledEnv).toEqual(jobEnv);
  });
});

describe('AgentScaledJob scaling strategy', () => {
  const strategyOf = (props: Partial<AgentScaledJobProps>) =>
    synthScaled(props).scaledJob.spec.scalingStrategy;

  test.each<[string, ScaledJobTrigger[], string]>([
    ['rabbitmq amqp (ready messages only)', [ScaledJobTrigger.rabbitmq()], 'accurate'],
    [
      'rabbitmq http (ready + unacknowledged)',
      [ScaledJobTrigger.rabbitmq({ protocol: RabbitMqProtocol.HTTP, auth: managementAuth })],
      'default',
    ],
    [
      'rabbitmq http with excludeUnacknowledged',
      [
        ScaledJobTrigger.rabbitmq({
          protocol: RabbitMqProtocol.HTTP,
          excludeUnacknowledged: true,
          auth: managementAuth,
        }),
      ],
      'accurate',
    ],
    [
      'rabbitmq http with excludeUnacknowledged false',
      [
        ScaledJobTrigger.rabbitmq({
          protocol: RabbitMqProtocol.HTTP,
          excludeUnacknowledged: false,
          auth: managementAuth,
        }),
      ],
      'default',
    ],
    [
      'redis list (popped items leave the list)',
      [ScaledJobTrigger.redisList({ address: 'redis:6379', listName: 'l' })],
      'accurate',
    ],
    [
      'redis stream (pending entries)',
      [ScaledJobTrigger.redisStream({ address: 'redis:6379', stream: 's', consumerGroup: 'g' })],
      'default',
    ],
    [
      'kafka (lag)',
      [ScaledJobTrigger.kafka({ bootstrapServers: 'kafka:9092', consumerGroup: 'g', topic: 't' })],
      'default',
    ],
    [
      'sqs (in-flight counted)',
      [ScaledJobTrigger.awsSqs({ queueUrl: SQS_URL, awsRegion: 'eu-west-1' })],
      'default',
    ],
    [
      'sqs with scaleOnInFlight false',
      [ScaledJobTrigger.awsSqs({ queueUrl: SQS_URL, awsRegion: 'eu-west-1', scaleOnInFlight: false })],
      'accurate',
    ],
    [
      'kafka + amqp: one metric without in-flight work is enough',
      [
        ScaledJobTrigger.kafka({ bootstrapServers: 'kafka:9092', consumerGroup: 'g', topic: 't' }),
        ScaledJobTrigger.rabbitmq(),
      ],
      'accurate',
    ],
  ])('defaults for %s', (_title, triggers, expected) => {
    expect(strategyOf({ triggers }).strategy).toBe(expected);
  });

  test('an explicit strategy wins over the protocol-based default', () => {
    expect(strategyOf({ scalingStrategy: ScalingStrategy.default() })).toEqual({ strategy: 'default' });
    expect(
      strategyOf({
        triggers: [
          ScaledJobTrigger.kafka({ bootstrapServers: 'kafka:9092', consumerGroup: 'g', topic: 't' }),
        ],
        scalingStrategy: ScalingStrategy.accurate(),
      }),
    ).toEqual({ strategy: 'accurate', pendingPodConditions: ['Ready'] });
    expect(strategyOf({ scalingStrategy: ScalingStrategy.eager() })).toEqual({
      strategy: 'eager',
      pendingPodConditions: ['Ready'],
    });
  });

  test('custom renders its two parameters, the percentage as a string', () => {
    expect(
      strategyOf({
        scalingStrategy: ScalingStrategy.custom({ queueLengthDeduction: 2, runningJobPercentage: 0.5 }),
      }),
    ).toEqual({
      strategy: 'custom',
      customScalingQueueLengthDeduction: 2,
      customScalingRunningJobPercentage: '0.5',
    });
    expect(
      strategyOf({
        scalingStrategy: ScalingStrategy.custom({ queueLengthDeduction: 0, runningJobPercentage: 1 }),
      }),
    ).toMatchObject({ customScalingQueueLengthDeduction: 0, customScalingRunningJobPercentage: '1' });
  });

  test('pendingPodConditions and multipleScalersCalculation render', () => {
    expect(
      strategyOf({
        pendingPodConditions: ['Ready', 'ContainersReady'],
        multipleScalersCalculation: MultipleScalersCalculation.SUM,
        triggers: [ScaledJobTrigger.rabbitmq(), ScaledJobTrigger.rabbitmq({ queueName: 'priority-tasks' })],
      }),
    ).toEqual({
      strategy: 'accurate',
      pendingPodConditions: ['Ready', 'ContainersReady'],
      multipleScalersCalculation: 'sum',
    });
  });
});

describe('AgentScaledJob triggers render the fields KEDA 2.16 documents', () => {
  test('rabbitmq: every option (keda-docs 2.16 scalers/rabbitmq-queue.md)', () => {
    const { trigger, triggerAuths } = renderTrigger(
      ScaledJobTrigger.rabbitmq({
        queueName: 'other-tasks',
        value: 20,
        activationValue: 2.5,
        protocol: RabbitMqProtocol.HTTP,
        vhostName: 'agents',
        excludeUnacknowledged: true,
        auth: managementAuth,
      }),
    );
    expect(trigger.type).toBe('rabbitmq');
    expect(trigger.metadata).toEqual({
      protocol: 'http',
      queueName: 'other-tasks',
      mode: 'QueueLength',
      value: '20',
      activationValue: '2.5',
      vhostName: 'agents',
      excludeUnacknowledged: 'true',
    });
    expect(triggerAuths[0].spec).toEqual({
      secretTargetRef: [{ parameter: 'host', name: 'rabbitmq-management', key: 'url' }],
    });
  });

  test('rabbitmq MessageRate over http: a rate target, so no task limit per Job', () => {
    const { trigger, scaledJob } = renderTrigger(
      ScaledJobTrigger.rabbitmq({
        mode: RabbitMqMode.MESSAGE_RATE,
        value: 2.5,
        protocol: RabbitMqProtocol.HTTP,
        auth: managementAuth,
      }),
    );
    expect(trigger.metadata).toMatchObject({ mode: 'MessageRate', value: '2.5', protocol: 'http' });
    expect(envOf(scaledJob.spec.jobTargetRef.template.spec)[Env.AGENT_MAX_TASKS]).toBe('0');
  });

  test('aws-sqs-queue: queueURL, awsRegion, queueLength, activationQueueLength, scaleOnInFlight, scaleOnDelayed', () => {
    const { trigger, scaledJob, triggerAuths } = renderTrigger(
      ScaledJobTrigger.awsSqs({
        queueUrl: SQS_URL,
        awsRegion: 'eu-west-1',
        queueLength: 4,
        activationQueueLength: 1,
        scaleOnInFlight: true,
        scaleOnDelayed: false,
        auth: TriggerAuth.podIdentity(PodIdentityProvider.AWS, {
          roleArn: 'arn:aws:iam::123456789012:role/keda-sqs',
        }),
      }),
    );
    expect(trigger.type).toBe('aws-sqs-queue');
    expect(trigger.metadata).toEqual({
      queueURL: SQS_URL,
      awsRegion: 'eu-west-1',
      queueLength: '4',
      activationQueueLength: '1',
      scaleOnInFlight: 'true',
      scaleOnDelayed: 'false',
    });
    expect(triggerAuths).toHaveLength(1);
    expect(triggerAuths[0].spec).toEqual({
      podIdentity: { provider: 'aws', roleArn: 'arn:aws:iam::123456789012:role/keda-sqs' },
    });
    expect(trigger.authenticationRef).toEqual({
      name: triggerAuths[0].metadata.name,
      kind: 'TriggerAuthentication',
    });
    expect(envOf(scaledJob.spec.jobTargetRef.template.spec)[Env.AGENT_MAX_TASKS]).toBe('4');
  });

  test('aws-sqs-queue defaults: queueLength 1, nothing else written', () => {
    const { trigger } = renderTrigger(ScaledJobTrigger.awsSqs({ queueUrl: SQS_URL, awsRegion: 'us-east-1' }));
    expect(trigger.metadata).toEqual({ queueURL: SQS_URL, awsRegion: 'us-east-1', queueLength: '1' });
    expect(trigger.authenticationRef).toBeUndefined();
  });

  test('redis (lists): address, listName, listLength, activationListLength, databaseIndex, enableTLS', () => {
    const { trigger, triggerAuths } = renderTrigger(
      ScaledJobTrigger.redisList({
        address: 'redis.data.svc:6379',
        listName: 'agent-tasks',
        listLength: 3,
        activationListLength: 1,
        databaseIndex: 2,
        enableTls: true,
        auth: TriggerAuth.secrets({ password: secretKey('redis-auth', 'password') }),
      }),
    );
    expect(trigger.type).toBe('redis');
    expect(trigger.metadata).toEqual({
      address: 'redis.data.svc:6379',
      listName: 'agent-tasks',
      listLength: '3',
      activationListLength: '1',
      databaseIndex: '2',
      enableTLS: 'true',
    });
    expect(triggerAuths[0].spec).toEqual({
      secretTargetRef: [{ parameter: 'password', name: 'redis-auth', key: 'password' }],
    });
  });

  test('redis-streams: address, stream, consumerGroup, pendingEntriesCount, databaseIndex, enableTLS', () => {
    const { trigger } = renderTrigger(
      ScaledJobTrigger.redisStream({
        address: 'redis.data.svc:6379',
        stream: 'agent-tasks',
        consumerGroup: 'agents',
        pendingEntriesCount: 6,
        databaseIndex: 0,
        enableTls: false,
      }),
    );
    expect(trigger.type).toBe('redis-streams');
    expect(trigger.metadata).toEqual({
      address: 'redis.data.svc:6379',
      stream: 'agent-tasks',
      consumerGroup: 'agents',
      pendingEntriesCount: '6',
      databaseIndex: '0',
      enableTLS: 'false',
    });
  });

  test('kafka: bootstrapServers, consumerGroup, topic, lagThreshold, activationLagThreshold, offsetResetPolicy, sasl, tls', () => {
    const { trigger, triggerAuths } = renderTrigger(
      ScaledJobTrigger.kafka({
        bootstrapServers: 'kafka-0.kafka:9092,kafka-1.kafka:9092',
        consumerGroup: 'agents',
        topic: 'agent-tasks',
        lagThreshold: 8,
        activationLagThreshold: 2,
        offsetResetPolicy: 'earliest',
        sasl: KafkaSasl.SCRAM_SHA512,
        tls: true,
        auth: TriggerAuth.secrets({
          username: secretKey('kafka-auth', 'username'),
          password: secretKey('kafka-auth', 'password'),
        }),
      }),
    );
    expect(trigger.type).toBe('kafka');
    expect(trigger.metadata).toEqual({
      bootstrapServers: 'kafka-0.kafka:9092,kafka-1.kafka:9092',
      consumerGroup: 'agents',
      topic: 'agent-tasks',
      lagThreshold: '8',
      activationLagThreshold: '2',
      offsetResetPolicy: 'earliest',
      sasl: 'scram_sha512',
      tls: 'enable',
    });
    expect(triggerAuths[0].spec.secretTargetRef).toEqual([
      { parameter: 'username', name: 'kafka-auth', key: 'username' },
      { parameter: 'password', name: 'kafka-auth', key: 'password' },
    ]);
    const disabled = renderTrigger(
      ScaledJobTrigger.kafka({ bootstrapServers: 'kafka:9092', consumerGroup: 'g', topic: 't', tls: false }),
    );
    expect(disabled.trigger.metadata.tls).toBe('disable');
  });

  test('AGENT_MAX_TASKS is the smallest per-Job target among several triggers', () => {
    const { scaledJob } = synthScaled({
      triggers: [
        ScaledJobTrigger.rabbitmq({ value: 9 }),
        ScaledJobTrigger.kafka({
          bootstrapServers: 'kafka:9092',
          consumerGroup: 'g',
          topic: 't',
          lagThreshold: 4,
        }),
        ScaledJobTrigger.rabbitmq({
          mode: RabbitMqMode.MESSAGE_RATE,
          value: 0.5,
          protocol: RabbitMqProtocol.HTTP,
          auth: managementAuth,
        }),
      ],
    });
    expect(envOf(scaledJob.spec.jobTargetRef.template.spec)[Env.AGENT_MAX_TASKS]).toBe('4');
  });
});

describe('AgentScaledJob trigger authentication', () => {
  test('ClusterTriggerAuthentication: referenced by kind, nothing synthesized', () => {
    const { trigger, triggerAuths } = renderTrigger(
      ScaledJobTrigger.rabbitmq({ auth: TriggerAuth.clusterTriggerAuthentication('rabbitmq-shared') }),
    );
    expect(trigger.authenticationRef).toEqual({
      name: 'rabbitmq-shared',
      kind: 'ClusterTriggerAuthentication',
    });
    expect(triggerAuths).toEqual([]);
  });

  test('existing TriggerAuthentication: referenced by name, nothing synthesized', () => {
    const { trigger, triggerAuths, construct } = renderTrigger(
      ScaledJobTrigger.kafka({
        bootstrapServers: 'kafka:9092',
        consumerGroup: 'g',
        topic: 't',
        auth: TriggerAuth.existing('kafka-auth'),
      }),
    );
    expect(trigger.authenticationRef).toEqual({ name: 'kafka-auth', kind: 'TriggerAuthentication' });
    expect(triggerAuths).toEqual([]);
    expect(construct.triggerAuthentications).toEqual([]);
  });

  test('podIdentity for Azure carries the identity id', () => {
    const { triggerAuths } = renderTrigger(
      ScaledJobTrigger.rabbitmq({
        protocol: RabbitMqProtocol.HTTP,
        auth: TriggerAuth.podIdentity(PodIdentityProvider.AZURE_WORKLOAD, { identityId: 'client-id-1' }),
      }),
    );
    expect(triggerAuths[0].spec).toEqual({
      podIdentity: { provider: 'azure-workload', identityId: 'client-id-1' },
    });
  });

  test('one TriggerAuthentication per trigger that needs one, each referenced by its own trigger', () => {
    const { scaledJob, triggerAuths } = synthScaled({
      triggers: [
        ScaledJobTrigger.rabbitmq(),
        ScaledJobTrigger.kafka({
          bootstrapServers: 'kafka:9092',
          consumerGroup: 'g',
          topic: 't',
          auth: TriggerAuth.secrets({ password: secretKey('kafka-auth', 'password') }),
        }),
        ScaledJobTrigger.awsSqs({ queueUrl: SQS_URL, awsRegion: 'eu-west-1' }),
      ],
    });
    expect(triggerAuths).toHaveLength(2);
    const names = triggerAuths.map((t) => t.metadata.name);
    expect(new Set(names).size).toBe(2);
    const refs = scaledJob.spec.triggers.map((t: Manifest) => t.authenticationRef?.name);
    expect(refs[0]).toBe(
      triggerAuths.find((t) => t.spec.secretTargetRef[0].parameter === 'host')?.metadata.name,
    );
    expect(refs[1]).toBe(
      triggerAuths.find((t) => t.spec.secretTargetRef[0].parameter === 'password')?.metadata.name,
    );
    expect(refs[2]).toBeUndefined();
  });

  test('every TriggerAuthentication lands in the chart namespace, next to the ScaledJob', () => {
    const chart = new Chart(Testing.app(), 'fleet', { namespace: 'agents' });
    const { scaledJob, triggerAuths } = synthScaled(
      { triggers: [ScaledJobTrigger.rabbitmq(), ScaledJobTrigger.rabbitmq({ queueName: 'priority-tasks' })] },
      chart,
    );
    expect(scaledJob.metadata.namespace).toBe('agents');
    expect(triggerAuths.map((t) => t.metadata.namespace)).toEqual(['agents', 'agents']);
  });
});

describe('AgentScaledJob props', () => {
  test('counts, polling, history, rollout, retries and deadline render', () => {
    const { scaledJob } = synthScaled({
      name: 'research-agents',
      pollingInterval: Duration.seconds(10),
      maxReplicaCount: 40,
      minReplicaCount: 2,
      successfulJobsHistoryLimit: 0,
      failedJobsHistoryLimit: 7,
      rollout: RolloutStrategy.DEFAULT,
      backoffLimit: 0,
      activeDeadline: Duration.hours(2),
    });
    expect(scaledJob.metadata.name).toBe('research-agents');
    expect(scaledJob.spec).toMatchObject({
      pollingInterval: 10,
      maxReplicaCount: 40,
      minReplicaCount: 2,
      successfulJobsHistoryLimit: 0,
      failedJobsHistoryLimit: 7,
      rollout: { strategy: 'default' },
    });
    expect(scaledJob.spec.jobTargetRef).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 7200 });
  });

  test('a read-write-once store is fine when at most one Job runs', () => {
    const chart = Testing.chart();
    const store = new CheckpointStore(chart, 'Store', { accessMode: CheckpointAccessMode.READ_WRITE_ONCE });
    expect(
      synthScaled({ checkpointStore: store, maxReplicaCount: 1 }, chart).scaledJob.spec.maxReplicaCount,
    ).toBe(1);
  });

  test('escape hatch: ApiObject.of(scaledJob) patches the synthesized ScaledJob', () => {
    const chart = Testing.chart();
    const agents = new AgentScaledJob(chart, 'Agents', base);
    expect(ApiObject.of(agents)).toBe(agents.apiObject);
    ApiObject.of(agents).addJsonPatch(JsonPatch.replace('/spec/pollingInterval', 5));
    expect(only(synthValid(chart), 'ScaledJob').spec.pollingInterval).toBe(5);
  });
});

describe('AgentScaledJob output is checked against the KEDA CRD schema and Pod Security', () => {
  test('a ScaledJob patched out of its schema makes synthValid throw', () => {
    const chart = Testing.chart();
    const agents = new AgentScaledJob(chart, 'Agents', base);
    ApiObject.of(agents).addJsonPatch(JsonPatch.replace('/spec/pollingInterval', '30'));
    expect(() => synthValid(chart)).toThrow(/ScaledJob\/test-agents-[a-z0-9]+: .*pollingInterval.*integer/);
  });

  test('a non-string trigger metadata value makes synthValid throw', () => {
    const chart = Testing.chart();
    const agents = new AgentScaledJob(chart, 'Agents', base);
    ApiObject.of(agents).addJsonPatch(JsonPatch.replace('/spec/triggers/0/metadata/value', 5));
    expect(() => synthValid(chart)).toThrow(/ScaledJob\/.*triggers\/0\/metadata\/value.*string/);
  });

  test('unknown fields never reach the manifest: the generated KEDA class keeps only schema fields', () => {
    // Why the tests above break types rather than add fields; and why the pod template must stay
    // within what the KEDA import knows (the AgentJob comparison above proves nothing is dropped).
    const chart = Testing.chart();
    const agents = new AgentScaledJob(chart, 'Agents', base);
    ApiObject.of(agents).addJsonPatch(JsonPatch.add('/spec/cooldownPeriod', 300));
    expect(only(synthValid(chart), 'ScaledJob').spec).not.toHaveProperty('cooldownPeriod');
  });

  test('a wrongly typed field patched into the TriggerAuthentication makes synthValid throw', () => {
    const chart = Testing.chart();
    const agents = new AgentScaledJob(chart, 'Agents', base);
    agents.triggerAuthentications[0].addJsonPatch(JsonPatch.replace('/spec/secretTargetRef/0/key', 42));
    expect(() => synthValid(chart)).toThrow(/TriggerAuthentication\//);
  });

  test('a privileged container patched into jobTargetRef.template fails Pod Security restricted', () => {
    const chart = Testing.chart();
    const agents = new AgentScaledJob(chart, 'Agents', base);
    ApiObject.of(agents).addJsonPatch(
      JsonPatch.replace(
        '/spec/jobTargetRef/template/spec/containers/0/securityContext/allowPrivilegeEscalation',
        true,
      ),
    );
    expect(() => synthValid(chart)).toThrow(/ScaledJob\/.*jobTargetRef\.template\.spec/);
  });
});

describe('AgentScaledJob LLM capacity guard', () => {
  test('maxReplicaCount defaults to the hand-computed guard figure', () => {
    expect(llmCapacityGuard(llmCapacity).maxReplicaCount).toBe(HAND_COMPUTED_GUARD);
    const { scaledJob, construct } = synthScaled({ llmCapacity });
    expect(scaledJob.spec.maxReplicaCount).toBe(HAND_COMPUTED_GUARD);
    expect(construct.maxReplicaCount).toBe(HAND_COMPUTED_GUARD);
    expect(construct.llmSafeMaxReplicaCount).toBe(HAND_COMPUTED_GUARD);
  });

  test('maxUtilization changes the figure: at 50% the token budget allows 20 Jobs', () => {
    // 1,000,000 × 0.5 / 25,000 = 20; requests 600 × 0.5 / 5 = 60.
    expect(
      synthScaled({ llmCapacity: { ...llmCapacity, maxUtilization: 0.5 } }).scaledJob.spec.maxReplicaCount,
    ).toBe(20);
  });

  test('an explicit maxReplicaCount at or below the guard is kept', () => {
    expect(synthScaled({ llmCapacity, maxReplicaCount: 32 }).scaledJob.spec.maxReplicaCount).toBe(32);
    expect(synthScaled({ llmCapacity, maxReplicaCount: 5 }).scaledJob.spec.maxReplicaCount).toBe(5);
  });

  test('fails on an explicit maxReplicaCount above the guard, naming the value and the figure', () => {
    const error = failure({ llmCapacity, maxReplicaCount: 33 });
    expect(error.prop).toBe('maxReplicaCount');
    expect(error.message).toMatch(
      /maxReplicaCount = 33 exceeds what the LLM gateway sustains \(32 Jobs at once\).*Fix: lower it to 32, or set allowMaxReplicaCountAboveLlmCapacity: true/,
    );
  });

  test('allowMaxReplicaCountAboveLlmCapacity accepts it', () => {
    const { scaledJob, construct } = synthScaled({
      llmCapacity,
      maxReplicaCount: 500,
      allowMaxReplicaCountAboveLlmCapacity: true,
    });
    expect(scaledJob.spec.maxReplicaCount).toBe(500);
    expect(construct.llmSafeMaxReplicaCount).toBe(HAND_COMPUTED_GUARD);
  });

  test('fails when the gateway cannot sustain even one Job', () => {
    const error = failure({
      llmCapacity: { ...llmCapacity, gateway: { requestsPerMinute: 600, tokensPerMinute: 20_000 } },
    });
    expect(error.prop).toBe('llmCapacity');
    expect(error.message).toMatch(
      /llmCapacity = .*does not fit even one agent Job.*Fix: raise the gateway limits/,
    );
  });

  test('fails on invalid gateway or task figures, naming llmCapacity', () => {
    const error = failure({
      llmCapacity: { ...llmCapacity, task: { ...llmCapacity.task, requestsPerTask: -1 } },
    });
    expect(error.prop).toBe('llmCapacity');
    expect(error.message).toMatch(/task\.requestsPerTask must be a finite number > 0/);
  });
});

describe('AgentScaledJob keeps credentials out of the manifests', () => {
  test.each<[string, ScaledJobTrigger, string, string]>([
    [
      'redis list address',
      ScaledJobTrigger.redisList({ address: 'redis://:hunter2@redis:6379', listName: 'l' }),
      'triggers.redisList.address',
      'redis://:***@redis:6379',
    ],
    [
      'redis list host:port with a password',
      ScaledJobTrigger.redisList({ address: ':hunter2@redis:6379', listName: 'l' }),
      'triggers.redisList.address',
      ':***@redis:6379',
    ],
    [
      'redis stream address',
      ScaledJobTrigger.redisStream({
        address: 'rediss://app:hunter2@redis:6380',
        stream: 's',
        consumerGroup: 'g',
      }),
      'triggers.redisStream.address',
      'rediss://app:***@redis:6380',
    ],
    [
      'kafka bootstrap URL',
      ScaledJobTrigger.kafka({
        bootstrapServers: 'SASL_SSL://alice:hunter2@kafka:9093',
        consumerGroup: 'g',
        topic: 't',
      }),
      'triggers.kafka.bootstrapServers',
      'SASL_SSL://alice:***@kafka:9093',
    ],
    [
      'kafka broker list with user:password@',
      ScaledJobTrigger.kafka({
        bootstrapServers: 'kafka-0:9092,alice:hunter2@kafka-1:9092',
        consumerGroup: 'g',
        topic: 't',
      }),
      'triggers.kafka.bootstrapServers',
      'kafka-0:9092,alice:***@kafka-1:9092',
    ],
    [
      'sqs queue URL',
      ScaledJobTrigger.awsSqs({
        queueUrl: 'https://AKIAEXAMPLE:hunter2@sqs.eu-west-1.amazonaws.com/123456789012/q',
        awsRegion: 'eu-west-1',
      }),
      'triggers.awsSqs.queueURL',
      'https://AKIAEXAMPLE:***@sqs.eu-west-1.amazonaws.com/123456789012/q',
    ],
    [
      'rabbitmq queue name',
      ScaledJobTrigger.rabbitmq({ queueName: 'amqp://guest:hunter2@rabbit:5672' }),
      'triggers.rabbitmq.queueName',
      'amqp://guest:***@rabbit:5672',
    ],
  ])('fails on a password in the %s', (_title, trigger, prop, redacted) => {
    const error = failure({ triggers: [trigger] });
    expect(error.prop).toBe(prop);
    expect(error.value).toBe(redacted);
    expect(error.message).not.toContain('hunter2');
    expect(error.message).toContain(`${prop} = "${redacted}" carries a`);
    expect(error.message).toMatch(/ in plain text\. Fix: /);
    expect(error.message).toMatch(/Fix: keep credentials in a Secret .*TriggerAuth\.secrets\(/);
  });

  test('fails on a password in env, pointing at secretKeyRef', () => {
    const error = failure({ env: { LLM_URL: 'https://bob:hunter2@llm.example.com/v1' } });
    expect(error.prop).toBe('env.LLM_URL');
    expect(error.message).not.toContain('hunter2');
    expect(error.message).toMatch(
      /env\.LLM_URL = "https:\/\/bob:\*\*\*@llm\.example\.com\/v1" carries a password in a URL.*secretKeyRef/,
    );
  });

  test('host:port lists without credentials are accepted', () => {
    const { trigger } = renderTrigger(
      ScaledJobTrigger.kafka({
        bootstrapServers: 'kafka-0:9092, kafka-1:9092',
        consumerGroup: 'g',
        topic: 't',
      }),
    );
    expect(trigger.metadata.bootstrapServers).toBe('kafka-0:9092, kafka-1:9092');
  });
});

describe('AgentScaledJob rejects at synth time', () => {
  const kafka = (lagThreshold: number) =>
    ScaledJobTrigger.kafka({ bootstrapServers: 'kafka:9092', consumerGroup: 'g', topic: 't', lagThreshold });

  test.each<[string, Partial<AgentScaledJobProps>, string, RegExp]>([
    [
      'fails on excludeUnacknowledged with amqp',
      { triggers: [ScaledJobTrigger.rabbitmq({ excludeUnacknowledged: true })] },
      'triggers.rabbitmq.excludeUnacknowledged',
      /excludeUnacknowledged = true only applies to protocol http.*Fix: drop it, or use protocol: RabbitMqProtocol.HTTP/,
    ],
    [
      'fails on excludeUnacknowledged false with amqp (meaningless there too)',
      { triggers: [ScaledJobTrigger.rabbitmq({ excludeUnacknowledged: false })] },
      'triggers.rabbitmq.excludeUnacknowledged',
      /excludeUnacknowledged = false only applies to protocol http/,
    ],
    [
      'fails on MessageRate with amqp',
      { triggers: [ScaledJobTrigger.rabbitmq({ mode: RabbitMqMode.MESSAGE_RATE })] },
      'triggers.rabbitmq.mode',
      /mode = "MessageRate" needs the management API.*Fix: use protocol: RabbitMqProtocol.HTTP/,
    ],
    [
      'fails on http without auth',
      { triggers: [ScaledJobTrigger.rabbitmq({ protocol: RabbitMqProtocol.HTTP })] },
      'triggers.rabbitmq.auth',
      /auth = undefined is required with protocol http.*Fix: pass auth: TriggerAuth\.secrets/,
    ],
    [
      'fails on value 0 for QueueLength',
      { triggers: [ScaledJobTrigger.rabbitmq({ value: 0 })] },
      'triggers.rabbitmq.value',
      /value = 0 must be a whole number ≥ 1/,
    ],
    [
      'fails on a fractional value for QueueLength',
      { triggers: [ScaledJobTrigger.rabbitmq({ value: 2.5 })] },
      'triggers.rabbitmq.value',
      /value = 2\.5 must be a whole number ≥ 1/,
    ],
    [
      'fails on a zero MessageRate value',
      {
        triggers: [
          ScaledJobTrigger.rabbitmq({
            mode: RabbitMqMode.MESSAGE_RATE,
            value: 0,
            protocol: RabbitMqProtocol.HTTP,
            auth: managementAuth,
          }),
        ],
      },
      'triggers.rabbitmq.value',
      /value = 0 must be a number ≥ 0\.001/,
    ],
    [
      'fails on a negative activationValue',
      { triggers: [ScaledJobTrigger.rabbitmq({ activationValue: -1 })] },
      'triggers.rabbitmq.activationValue',
      /activationValue = -1 must be a number ≥ 0/,
    ],
    [
      'fails on a zero sqs queueLength',
      { triggers: [ScaledJobTrigger.awsSqs({ queueUrl: SQS_URL, awsRegion: 'eu-west-1', queueLength: 0 })] },
      'triggers.awsSqs.queueLength',
      /triggers\.awsSqs\.queueLength = 0 must be a whole number ≥ 1/,
    ],
    [
      'fails on a fractional kafka lagThreshold',
      { triggers: [kafka(1.5)] },
      'triggers.kafka.lagThreshold',
      /triggers\.kafka\.lagThreshold = 1\.5 must be a whole number ≥ 1/,
    ],
    [
      'fails on a zero redis listLength',
      { triggers: [ScaledJobTrigger.redisList({ address: 'redis:6379', listName: 'l', listLength: 0 })] },
      'triggers.redisList.listLength',
      /listLength = 0 must be a whole number/,
    ],
    [
      'fails on a negative redis stream pendingEntriesCount',
      {
        triggers: [
          ScaledJobTrigger.redisStream({
            address: 'redis:6379',
            stream: 's',
            consumerGroup: 'g',
            pendingEntriesCount: -2,
          }),
        ],
      },
      'triggers.redisStream.pendingEntriesCount',
      /pendingEntriesCount = -2 must be a whole number/,
    ],
    [
      'fails when minReplicaCount exceeds maxReplicaCount',
      { minReplicaCount: 11, maxReplicaCount: 10 },
      'minReplicaCount',
      /minReplicaCount = 11 exceeds maxReplicaCount \(10\).*Fix: use at most 10/,
    ],
    [
      'fails on maxReplicaCount 0',
      { maxReplicaCount: 0 },
      'maxReplicaCount',
      /maxReplicaCount = 0 is not a whole number ≥ 1/,
    ],
    [
      'fails on a fractional maxReplicaCount',
      { maxReplicaCount: 2.5 },
      'maxReplicaCount',
      /maxReplicaCount = 2\.5 is not a whole number/,
    ],
    [
      'fails on a negative minReplicaCount',
      { minReplicaCount: -1 },
      'minReplicaCount',
      /minReplicaCount = -1 is not a whole number ≥ 0/,
    ],
    [
      'fails on empty triggers',
      { triggers: [] },
      'triggers',
      /triggers = \[\] is empty.*ScaledJobTrigger\.rabbitmq\(\)/,
    ],
    [
      'fails on a name that is not DNS-1123',
      { name: 'Agent_Workers' },
      'name',
      /name = "Agent_Workers" is not a DNS-1123 label/,
    ],
    [
      'fails on a name longer than 63 characters',
      { name: 'a'.repeat(64) },
      'name',
      /name = "a{64}" is not a DNS-1123 label/,
    ],
    [
      'fails on a ClusterTriggerAuthentication name that is not DNS-1123',
      {
        triggers: [
          ScaledJobTrigger.rabbitmq({ auth: TriggerAuth.clusterTriggerAuthentication('Shared Auth') }),
        ],
      },
      'triggers.rabbitmq.auth.name',
      /auth\.name = "Shared Auth" is not a DNS-1123 subdomain/,
    ],
    [
      'fails on an existing TriggerAuthentication name that is not DNS-1123',
      {
        triggers: [
          ScaledJobTrigger.redisList({
            address: 'r:6379',
            listName: 'l',
            auth: TriggerAuth.existing('-bad'),
          }),
        ],
      },
      'triggers.redisList.auth.name',
      /auth\.name = "-bad" is not a DNS-1123 subdomain/,
    ],
    [
      'fails on a secret name that is not DNS-1123 in TriggerAuth.secrets',
      {
        triggers: [
          ScaledJobTrigger.rabbitmq({
            protocol: RabbitMqProtocol.HTTP,
            auth: TriggerAuth.secrets({ host: secretKey('Rabbit Secrets', 'url') }),
          }),
        ],
      },
      'triggers.rabbitmq.auth.host.secretName',
      /auth\.host\.secretName = "Rabbit Secrets" is not a DNS-1123 subdomain/,
    ],
    [
      'fails on TriggerAuth.secrets mapping nothing',
      {
        triggers: [
          ScaledJobTrigger.kafka({
            bootstrapServers: 'k:9092',
            consumerGroup: 'g',
            topic: 't',
            auth: TriggerAuth.secrets({}),
          }),
        ],
      },
      'triggers.kafka.auth',
      /auth = \{\} maps no parameter/,
    ],
    [
      'fails on a fractional pollingInterval',
      { pollingInterval: Duration.millis(1500) },
      'pollingInterval',
      /pollingInterval = .* is not a whole number of seconds ≥ 1/,
    ],
    [
      'fails on a zero pollingInterval',
      { pollingInterval: Duration.seconds(0) },
      'pollingInterval',
      /pollingInterval = .* is not a whole number of seconds ≥ 1/,
    ],
    [
      'fails on a negative successfulJobsHistoryLimit',
      { successfulJobsHistoryLimit: -1 },
      'successfulJobsHistoryLimit',
      /successfulJobsHistoryLimit = -1 is not a whole number ≥ 0/,
    ],
    [
      'fails on a negative failedJobsHistoryLimit',
      { failedJobsHistoryLimit: -5 },
      'failedJobsHistoryLimit',
      /failedJobsHistoryLimit = -5 is not a whole number ≥ 0/,
    ],
    [
      'fails on a negative backoffLimit',
      { backoffLimit: -1 },
      'backoffLimit',
      /backoffLimit = -1 is not a whole number ≥ 0/,
    ],
    [
      'fails on a fractional activeDeadline',
      { activeDeadline: Duration.millis(2500) },
      'activeDeadline',
      /activeDeadline = .* is not a whole number of seconds/,
    ],
    [
      'fails on a custom runningJobPercentage above 1',
      { scalingStrategy: ScalingStrategy.custom({ queueLengthDeduction: 0, runningJobPercentage: 1.5 }) },
      'scalingStrategy.runningJobPercentage',
      /runningJobPercentage = 1\.5 is not a fraction between 0 and 1/,
    ],
    [
      'fails on a negative custom runningJobPercentage',
      { scalingStrategy: ScalingStrategy.custom({ queueLengthDeduction: 0, runningJobPercentage: -0.1 }) },
      'scalingStrategy.runningJobPercentage',
      /runningJobPercentage = -0\.1 is not a fraction between 0 and 1/,
    ],
    [
      'fails on a NaN custom runningJobPercentage',
      {
        scalingStrategy: ScalingStrategy.custom({
          queueLengthDeduction: 0,
          runningJobPercentage: Number.NaN,
        }),
      },
      'scalingStrategy.runningJobPercentage',
      /runningJobPercentage = .* is not a fraction between 0 and 1/,
    ],
    [
      'fails on a negative custom queueLengthDeduction',
      { scalingStrategy: ScalingStrategy.custom({ queueLengthDeduction: -1, runningJobPercentage: 0.5 }) },
      'scalingStrategy.queueLengthDeduction',
      /queueLengthDeduction = -1 is not a whole number ≥ 0/,
    ],
    [
      'fails on an untagged image (shared pod validation)',
      { image: 'registry.example.com/agent' },
      'image',
      /image = "registry.example.com\/agent" has no tag/,
    ],
    [
      'fails on a contract env name set by hand',
      { env: { [Env.AGENT_MAX_TASKS]: '3' } },
      `env.${Env.AGENT_MAX_TASKS}`,
      /is set by the construct from its props/,
    ],
  ])('%s', (_title, props, prop, message) => {
    const error = failure(props);
    expect(error.prop).toBe(prop);
    expect(error.message).toMatch(/^test\/Agents: /);
    expect(error.message).toMatch(message);
    expect(error.message).toMatch(/Fix: /);
  });

  test('fails on a read-write-once store shared by several Jobs', () => {
    const error = failure({ maxReplicaCount: 5 }, (chart) => ({
      checkpointStore: new CheckpointStore(chart, 'Store', {
        accessMode: CheckpointAccessMode.READ_WRITE_ONCE,
      }),
    }));
    expect(error.prop).toBe('checkpointStore.accessMode');
    expect(error.message).toMatch(
      /checkpointStore\.accessMode = "ReadWriteOnce" cannot be shared by the 5 pods.*ReadWriteMany/,
    );
  });

  test('fails on a read-write-once store under the default maxReplicaCount of 100', () => {
    const error = failure({}, (chart) => ({
      checkpointStore: new CheckpointStore(chart, 'Store', {
        accessMode: CheckpointAccessMode.READ_WRITE_ONCE,
      }),
    }));
    expect(error.message).toMatch(/cannot be shared by the 100 pods/);
  });
});

describe('AgentScaledJob in the example app', () => {
  test('the tutorial ScaledJob stack matches its snapshot', () => {
    const chart = new AgentFleetChart(Testing.app(), 'agent-fleet');
    const objects = synthValid(chart);
    const scaledJob = only(objects, 'ScaledJob');
    const triggerAuth = only(objects, 'TriggerAuthentication');
    const pod = scaledJob.spec.jobTargetRef.template.spec;

    expect(scaledJob.metadata).toMatchObject({ name: 'agent-workers', namespace: 'agents' });
    expect(scaledJob.metadata.labels).toMatchObject({ app: 'ai-agent', team: 'platform' });
    expect(scaledJob.spec).toMatchObject({
      pollingInterval: 15,
      maxReplicaCount: 500,
      minReplicaCount: 0,
      successfulJobsHistoryLimit: 5,
      failedJobsHistoryLimit: 10,
      rollout: { strategy: 'gradual' },
      scalingStrategy: { strategy: 'accurate' },
    });
    expect(scaledJob.spec.triggers).toEqual([
      {
        type: 'rabbitmq',
        metadata: { protocol: 'amqp', queueName: 'agent-tasks', mode: 'QueueLength', value: '5' },
        authenticationRef: { name: triggerAuth.metadata.name, kind: 'TriggerAuthentication' },
      },
    ]);
    expect(triggerAuth.metadata.namespace).toBe('agents');
    expect(triggerAuth.spec).toEqual({
      secretTargetRef: [{ parameter: 'host', name: 'agent-secrets', key: 'queue-url' }],
    });
    expect(envOf(pod)[Env.AGENT_MAX_TASKS]).toBe('5');
    expect(envOf(pod)[Env.TASK_QUEUE_NAME]).toBe('agent-tasks');
    expect(pod.volumes).toContainEqual({
      name: 'checkpoints',
      persistentVolumeClaim: { claimName: 'agent-checkpoints' },
    });
    expect(pod.containers[0].resources).toEqual({
      requests: { cpu: '500m', memory: '2Gi' },
      limits: { cpu: '2000m', memory: '4Gi' },
    });
    expect({ scaledJob, triggerAuth }).toMatchSnapshot();
  });
});

describe('AgentScaledJob properties (fast-check)', () => {
  type Kind = 'amqp' | 'http' | 'httpRate' | 'sqs' | 'redisList' | 'redisStream' | 'kafka';
  type AuthKind = 'none' | 'secrets' | 'podIdentity' | 'cluster' | 'existing';
  interface TriggerSpec {
    readonly kind: Kind;
    readonly count: number;
    readonly rate: number;
    readonly flag: boolean | undefined;
    readonly auth: AuthKind;
  }

  const authOf = (kind: AuthKind): TriggerAuth | undefined => {
    switch (kind) {
      case 'none':
        return undefined;
      case 'secrets':
        return TriggerAuth.secrets({ password: secretKey('trigger-secrets', 'password') });
      case 'podIdentity':
        return TriggerAuth.podIdentity(PodIdentityProvider.AWS, {
          roleArn: 'arn:aws:iam::123456789012:role/keda',
        });
      case 'cluster':
        return TriggerAuth.clusterTriggerAuthentication('shared-auth');
      case 'existing':
        return TriggerAuth.existing('team-auth');
    }
  };

  /** Builds the trigger; `http` kinds need an auth, so `none` becomes the management Secret. */
  const build = (s: TriggerSpec): ScaledJobTrigger => {
    const auth = authOf(s.auth);
    switch (s.kind) {
      case 'amqp':
        return ScaledJobTrigger.rabbitmq({ value: s.count, auth });
      case 'http':
        return ScaledJobTrigger.rabbitmq({
          protocol: RabbitMqProtocol.HTTP,
          value: s.count,
          excludeUnacknowledged: s.flag,
          auth: auth ?? managementAuth,
        });
      case 'httpRate':
        return ScaledJobTrigger.rabbitmq({
          protocol: RabbitMqProtocol.HTTP,
          mode: RabbitMqMode.MESSAGE_RATE,
          value: s.rate,
          auth: auth ?? managementAuth,
        });
      case 'sqs':
        return ScaledJobTrigger.awsSqs({
          queueUrl: SQS_URL,
          awsRegion: 'eu-west-1',
          queueLength: s.count,
          scaleOnInFlight: s.flag,
          auth,
        });
      case 'redisList':
        return ScaledJobTrigger.redisList({
          address: 'redis:6379',
          listName: 'tasks',
          listLength: s.count,
          auth,
        });
      case 'redisStream':
        return ScaledJobTrigger.redisStream({
          address: 'redis:6379',
          stream: 'tasks',
          consumerGroup: 'agents',
          pendingEntriesCount: s.count,
          auth,
        });
      case 'kafka':
        return ScaledJobTrigger.kafka({
          bootstrapServers: 'kafka:9092',
          consumerGroup: 'agents',
          topic: 'tasks',
          lagThreshold: s.count,
          auth,
        });
    }
  };

  /** The model: does this trigger's metric include work already in progress? */
  const countsInFlight = (s: TriggerSpec): boolean => {
    switch (s.kind) {
      case 'amqp':
      case 'redisList':
        return false;
      case 'http':
        return s.flag !== true;
      case 'sqs':
        return s.flag !== false;
      default:
        return true;
    }
  };
  /** Secrets and pod identity are synthesized; RabbitMQ without auth uses the queue (amqp) or management (http) Secret. */
  const synthesizesAuth = (s: TriggerSpec) =>
    s.auth === 'secrets' ||
    s.auth === 'podIdentity' ||
    (s.auth === 'none' && (s.kind === 'amqp' || s.kind === 'http' || s.kind === 'httpRate'));
  const targetField: Record<Kind, string> = {
    amqp: 'value',
    http: 'value',
    httpRate: 'value',
    sqs: 'queueLength',
    redisList: 'listLength',
    redisStream: 'pendingEntriesCount',
    kafka: 'lagThreshold',
  };

  const triggerSpec: fc.Arbitrary<TriggerSpec> = fc.record({
    kind: fc.constantFrom<Kind>('amqp', 'http', 'httpRate', 'sqs', 'redisList', 'redisStream', 'kafka'),
    count: fc.integer({ min: 1, max: 200 }),
    rate: fc.integer({ min: 1, max: 10_000 }).map((n) => n / 100),
    flag: fc.option(fc.boolean(), { nil: undefined }),
    auth: fc.constantFrom<AuthKind>('none', 'secrets', 'podIdentity', 'cluster', 'existing'),
  });

  const strategyArb = fc.oneof(
    fc.constant(undefined),
    fc.constant(ScalingStrategy.default()),
    fc.constant(ScalingStrategy.accurate()),
    fc.constant(ScalingStrategy.eager()),
    fc
      .tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 100 }))
      .map(([d, p]) => ScalingStrategy.custom({ queueLengthDeduction: d, runningJobPercentage: p / 100 })),
  );

  const llmArb: fc.Arbitrary<LlmCapacity | undefined> = fc.option(
    fc
      .record({
        rpm: fc.integer({ min: 1_000, max: 100_000 }),
        tpm: fc.integer({ min: 1_000_000, max: 100_000_000 }),
        requests: fc.integer({ min: 1, max: 20 }),
        tokens: fc.integer({ min: 1_000, max: 100_000 }),
        seconds: fc.integer({ min: 60, max: 3600 }),
        utilization: fc.option(fc.integer({ min: 10, max: 100 }), { nil: undefined }),
      })
      .map((r) => ({
        gateway: { requestsPerMinute: r.rpm, tokensPerMinute: r.tpm },
        task: {
          requestsPerTask: r.requests,
          tokensPerTask: r.tokens,
          taskDuration: Duration.seconds(r.seconds),
        },
        maxUtilization: r.utilization === undefined ? undefined : r.utilization / 100,
      })),
    { nil: undefined },
  );

  const validCase = fc.record({
    triggers: fc.array(triggerSpec, { minLength: 1, maxLength: 3 }),
    scalingStrategy: strategyArb,
    llm: llmArb,
    explicitMax: fc.boolean(),
    maxFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    minFraction: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
    pollingSeconds: fc.option(fc.integer({ min: 1, max: 600 }), { nil: undefined }),
    successful: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
    failed: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
    rollout: fc.option(fc.constantFrom(RolloutStrategy.GRADUAL, RolloutStrategy.DEFAULT), { nil: undefined }),
    multiple: fc.option(fc.constantFrom(...Object.values(MultipleScalersCalculation)), { nil: undefined }),
    pending: fc.option(fc.subarray(['Ready', 'ContainersReady'], { minLength: 1 }), {
      nil: undefined,
    }),
    graceSeconds: fc.integer({ min: 10, max: 3600 }),
    withStore: fc.boolean(),
  });

  test('300 random valid configurations synthesize schema-valid, restricted, consistent manifests', () => {
    fc.assert(
      fc.property(validCase, (c) => {
        // Tasks per Job: the smallest count target (rates set no limit); a Job runs them all at once.
        const counts = c.triggers.filter((t) => t.kind !== 'httpRate').map((t) => t.count);
        const maxTasks = counts.length > 0 ? Math.min(...counts) : 0;
        const concurrency = maxTasks > 0 ? maxTasks : 1;
        const guard = c.llm ? llmCapacityGuard({ ...c.llm, concurrency }).maxReplicaCount : undefined;
        fc.pre(guard === undefined || guard >= 1);
        // Strategy: explicit wins; else accurate as soon as one metric leaves in-flight work out.
        const expectedStrategy =
          c.scalingStrategy?.name ?? (c.triggers.every(countsInFlight) ? 'default' : 'accurate');
        const countsPending = expectedStrategy === 'accurate' || expectedStrategy === 'eager';
        const ceiling = guard ?? 1000;
        const maxReplicaCount = c.explicitMax ? Math.max(1, Math.floor(c.maxFraction * ceiling)) : undefined;
        const effectiveMax = maxReplicaCount ?? guard ?? 100;
        const minReplicaCount =
          c.minFraction === undefined ? undefined : Math.floor(c.minFraction * effectiveMax);
        const chart = Testing.chart();
        const checkpointStore = c.withStore ? new CheckpointStore(chart, 'Store') : undefined;
        const { scaledJob, triggerAuths } = synthScaled(
          {
            triggers: c.triggers.map(build),
            scalingStrategy: c.scalingStrategy,
            llmCapacity: c.llm,
            maxReplicaCount,
            minReplicaCount,
            pollingInterval: c.pollingSeconds === undefined ? undefined : Duration.seconds(c.pollingSeconds),
            successfulJobsHistoryLimit: c.successful,
            failedJobsHistoryLimit: c.failed,
            rollout: c.rollout,
            multipleScalersCalculation: c.multiple,
            pendingPodConditions: countsPending ? c.pending : undefined,
            terminationGracePeriod: Duration.seconds(c.graceSeconds),
            checkpointStore,
          },
          chart,
        );
        const spec = scaledJob.spec;
        const pod = spec.jobTargetRef.template.spec;
        const env = envOf(pod);

        expect(env[Env.AGENT_MAX_TASKS]).toBe(String(maxTasks));
        expect(env[Env.AGENT_CONCURRENCY]).toBe(String(concurrency));
        expect(spec.scalingStrategy.strategy).toBe(expectedStrategy);
        // Pending means "the agent does not hold its messages yet" wherever the strategy subtracts it.
        expect(spec.scalingStrategy.pendingPodConditions).toEqual(
          countsPending ? (c.pending ?? ['Ready']) : undefined,
        );
        if (c.scalingStrategy?.name === 'custom') {
          expect(Number(spec.scalingStrategy.customScalingRunningJobPercentage)).toBe(
            c.scalingStrategy.runningJobPercentage,
          );
        }
        // Counts.
        expect(spec.maxReplicaCount).toBe(effectiveMax);
        if (guard !== undefined) expect(spec.maxReplicaCount).toBeLessThanOrEqual(guard);
        expect(spec.minReplicaCount ?? 0).toBeLessThanOrEqual(spec.maxReplicaCount);
        // Triggers and their authentication.
        expect(spec.triggers).toHaveLength(c.triggers.length);
        c.triggers.forEach((t, i) => {
          const rendered = spec.triggers[i];
          expect(rendered.metadata[targetField[t.kind]]).toBe(
            String(t.kind === 'httpRate' ? t.rate : t.count),
          );
          const ref = rendered.authenticationRef;
          if (t.auth === 'cluster')
            expect(ref).toEqual({ name: 'shared-auth', kind: 'ClusterTriggerAuthentication' });
          else if (t.auth === 'existing')
            expect(ref).toEqual({ name: 'team-auth', kind: 'TriggerAuthentication' });
          else if (synthesizesAuth(t)) expect(triggerAuths.map((a) => a.metadata.name)).toContain(ref.name);
          else expect(ref).toBeUndefined();
        });
        expect(triggerAuths).toHaveLength(c.triggers.filter(synthesizesAuth).length);
        // The Job template.
        expect(pod.restartPolicy).toBe('Never');
        expect(spec.jobTargetRef.podReplacementPolicy).toBe('Failed');
        expect(spec.jobTargetRef.podFailurePolicy).toEqual(agentPodFailurePolicy(false));
        expect(env[Env.AGENT_INDEX]).toBeUndefined();
        expect(Number(env[Env.AGENT_SHUTDOWN_SECONDS])).toBe(c.graceSeconds - SHUTDOWN_MARGIN_SECONDS);
        expect(JSON.stringify(scaledJob)).not.toMatch(/:\/\/[^/\s"]*:[^/\s"]*@/);
      }),
      { numRuns: 300 },
    );
  });

  /** The prop an invalid configuration must be rejected for, and the configuration. */
  type Case = [string, Partial<AgentScaledJobProps>];
  const invalidCase: fc.Arbitrary<Case> = fc.oneof(
    fc.integer({ max: 0 }).map((n): Case => ['maxReplicaCount', { maxReplicaCount: n }]),
    fc
      .tuple(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 500 }))
      .map(
        ([max, extra]): Case => ['minReplicaCount', { maxReplicaCount: max, minReplicaCount: max + extra }],
      ),
    fc
      .integer({ min: 1, max: 999 })
      .map((ms): Case => ['pollingInterval', { pollingInterval: Duration.millis(1000 * 3 + ms) }]),
    fc
      .integer({ max: -1 })
      .map((n): Case => ['successfulJobsHistoryLimit', { successfulJobsHistoryLimit: n }]),
    fc.integer({ max: -1 }).map((n): Case => ['failedJobsHistoryLimit', { failedJobsHistoryLimit: n }]),
    fc.integer({ max: -1 }).map((n): Case => ['backoffLimit', { backoffLimit: n }]),
    fc
      .oneof(
        fc.double({ min: 1.0001, max: 100, noNaN: true }),
        fc.double({ min: -100, max: -0.0001, noNaN: true }),
      )
      .map(
        (p): Case => [
          'scalingStrategy.runningJobPercentage',
          { scalingStrategy: ScalingStrategy.custom({ queueLengthDeduction: 0, runningJobPercentage: p }) },
        ],
      ),
    fc
      .integer({ max: -1 })
      .map(
        (d): Case => [
          'scalingStrategy.queueLengthDeduction',
          { scalingStrategy: ScalingStrategy.custom({ queueLengthDeduction: d, runningJobPercentage: 0.5 }) },
        ],
      ),
    fc
      .oneof(
        fc.integer({ min: -100, max: 0 }),
        fc.double({ min: 1.01, max: 99.99, noNaN: true }).filter((v) => !Number.isInteger(v)),
      )
      .map((v): Case => ['triggers.rabbitmq.value', { triggers: [ScaledJobTrigger.rabbitmq({ value: v })] }]),
    fc
      .boolean()
      .map(
        (b): Case => [
          'triggers.rabbitmq.excludeUnacknowledged',
          { triggers: [ScaledJobTrigger.rabbitmq({ excludeUnacknowledged: b })] },
        ],
      ),
    fc.constant<Case>([
      'triggers.rabbitmq.mode',
      { triggers: [ScaledJobTrigger.rabbitmq({ mode: RabbitMqMode.MESSAGE_RATE, value: 2 })] },
    ]),
    fc
      .integer({ min: 1, max: 100 })
      .map(
        (v): Case => [
          'triggers.rabbitmq.auth',
          { triggers: [ScaledJobTrigger.rabbitmq({ protocol: RabbitMqProtocol.HTTP, value: v })] },
        ],
      ),
    fc.integer({ max: 0 }).map(
      (n): Case => [
        'triggers.awsSqs.queueLength',
        {
          triggers: [ScaledJobTrigger.awsSqs({ queueUrl: SQS_URL, awsRegion: 'eu-west-1', queueLength: n })],
        },
      ],
    ),
    fc.integer({ max: 0 }).map(
      (n): Case => [
        'triggers.kafka.lagThreshold',
        {
          triggers: [
            ScaledJobTrigger.kafka({
              bootstrapServers: 'k:9092',
              consumerGroup: 'g',
              topic: 't',
              lagThreshold: n,
            }),
          ],
        },
      ],
    ),
    fc
      .stringMatching(/^[A-Za-z0-9]{1,12}$/)
      .map(
        (pw): Case => [
          'triggers.redisList.address',
          { triggers: [ScaledJobTrigger.redisList({ address: `redis://:${pw}@redis:6379`, listName: 'l' })] },
        ],
      ),
    fc.stringMatching(/^[A-Za-z0-9]{1,12}$/).map(
      (pw): Case => [
        'triggers.kafka.bootstrapServers',
        {
          triggers: [
            ScaledJobTrigger.kafka({
              bootstrapServers: `user:${pw}@kafka:9092`,
              consumerGroup: 'g',
              topic: 't',
            }),
          ],
        },
      ],
    ),
    fc
      .stringMatching(/^[A-Za-z0-9]{1,12}$/)
      .map((pw): Case => ['env.LLM_URL', { env: { LLM_URL: `https://u:${pw}@llm/v1` } }]),
    fc.stringMatching(/^[A-Z_][A-Za-z0-9_]{0,20}$/).map((n): Case => ['name', { name: n }]),
    fc
      .integer({ min: HAND_COMPUTED_GUARD + 1, max: 10_000 })
      .map((n): Case => ['maxReplicaCount', { llmCapacity, maxReplicaCount: n }]),
    fc.constant<Case>(['triggers', { triggers: [] }]),
  );

  test('random invalid configurations throw an AgentFleetValidationError naming the prop', () => {
    fc.assert(
      fc.property(invalidCase, ([prop, props]) => {
        const error = failure(props);
        expect(error.prop).toBe(prop);
        expect(error.message).toContain(`${prop} = `);
        expect(error.message).toMatch(/Fix: /);
      }),
      { numRuns: 300 },
    );
  });
});

describe('Redis streams by lag', () => {
  test('lagCount scales on undelivered entries (can start from zero Jobs) and picks accurate', () => {
    const chart = Testing.chart();
    const scaled = new AgentScaledJob(chart, 'Streams', {
      image: 'registry.example.com/agent:1.0.0',
      queue: QueueConnection.fromSecretName('agent-secrets'),
      triggers: [
        ScaledJobTrigger.redisStream({ address: 'redis:6379', stream: 's', consumerGroup: 'g', lagCount: 4 }),
      ],
    });
    const sj = only(synthValid(chart), 'ScaledJob');
    expect(sj.spec.triggers[0].metadata).toEqual({
      address: 'redis:6379',
      stream: 's',
      consumerGroup: 'g',
      lagCount: '4',
    });
    expect(scaled.scalingStrategy.name).toBe('accurate');
    expect(envOf(sj.spec.jobTargetRef.template.spec)[Env.AGENT_MAX_TASKS]).toBe('4');
  });

  test('fails on lagCount together with pendingEntriesCount', () => {
    expect(() =>
      ScaledJobTrigger.redisStream({
        address: 'r:6379',
        stream: 's',
        consumerGroup: 'g',
        lagCount: 2,
        pendingEntriesCount: 2,
      }),
    ).toThrow(/lagCount or pendingEntriesCount, not both/);
  });
});

describe('trigger counts', () => {
  const queue = QueueConnection.fromSecretName('agent-secrets');
  const image = 'registry.example.com/agent:1.0.0';
  test.each<[string, ScaledJobTrigger, RegExp]>([
    [
      'fails on a negative SQS activation threshold',
      ScaledJobTrigger.awsSqs({
        queueUrl: 'https://sqs.eu-west-1.amazonaws.com/1/q',
        awsRegion: 'eu-west-1',
        activationQueueLength: -1,
      }),
      /triggers\.awsSqs\.activationQueueLength = -1 must be a number ≥ 0/,
    ],
    [
      'fails on a negative Redis database index',
      ScaledJobTrigger.redisList({ address: 'redis:6379', listName: 'l', databaseIndex: -2 }),
      /triggers\.redisList\.databaseIndex = -2 must be a whole number ≥ 0/,
    ],
    [
      'fails on a negative Kafka activation lag',
      ScaledJobTrigger.kafka({
        bootstrapServers: 'k:9092',
        consumerGroup: 'g',
        topic: 't',
        activationLagThreshold: -5,
      }),
      /triggers\.kafka\.activationLagThreshold = -5 must be a number ≥ 0/,
    ],
  ])('%s', (_title, trigger, message) => {
    expect(
      () => new AgentScaledJob(Testing.chart(), 'Scaled', { image, queue, triggers: [trigger] }),
    ).toThrow(message);
  });

  test('zero thresholds and database 0 are accepted', () => {
    const chart = Testing.chart();
    new AgentScaledJob(chart, 'Scaled', {
      image,
      queue,
      triggers: [
        ScaledJobTrigger.redisList({
          address: 'redis:6379',
          listName: 'l',
          databaseIndex: 0,
          activationListLength: 0,
        }),
      ],
    });
    expect(only(synthValid(chart), 'ScaledJob').spec.triggers[0].metadata).toMatchObject({
      databaseIndex: '0',
      activationListLength: '0',
    });
  });
});

describe('AgentScaledJob: the fleet KEDA builds is the fleet asked for', () => {
  const llm: LlmCapacity = {
    gateway: { requestsPerMinute: 500, tokensPerMinute: 200_000 },
    task: { requestsPerTask: 10, tokensPerTask: 20_000, taskDuration: Duration.minutes(2) },
  };

  test.each([1, 2, 5, 10, 50])(
    'value %i: each Job holds and runs at once the messages KEDA created it for',
    (value) => {
      const { scaledJob, construct } = synthScaled({ triggers: [ScaledJobTrigger.rabbitmq({ value })] });
      const env = envOf(scaledJob.spec.jobTargetRef.template.spec);
      expect(env[Env.AGENT_MAX_TASKS]).toBe(String(value));
      expect(env[Env.AGENT_CONCURRENCY]).toBe(String(value));
      expect(construct.concurrency).toBe(value);
      expect(scaledJob.spec.scalingStrategy).toEqual({
        strategy: 'accurate',
        pendingPodConditions: ['Ready'],
      });
    },
  );

  test('the agent is Ready once it holds its messages: a readiness probe on /readyz', () => {
    const { scaledJob } = synthScaled();
    const [container] = scaledJob.spec.jobTargetRef.template.spec.containers;
    expect(container.readinessProbe).toMatchObject({
      httpGet: { path: '/readyz', port: 'metrics' },
      periodSeconds: 2,
      failureThreshold: 1,
    });
  });

  test('concurrency below the value over amqp is rejected, naming both and the fix', () => {
    const error = failure({ triggers: [ScaledJobTrigger.rabbitmq({ value: 5 })], concurrency: 1 });
    expect(error.prop).toBe('concurrency');
    expect(error.message).toMatch(
      /concurrency = 1 is below the trigger's per-Job target \(5 tasks per Job\)/,
    );
    expect(error.message).toMatch(/counts only messages no agent holds.*up to 5×/);
    expect(error.message).toMatch(/Fix: leave concurrency unset.*RabbitMqProtocol\.HTTP/);
  });

  test('over http (in-flight work counted) a Job may work its tasks a few at a time', () => {
    const { scaledJob } = synthScaled({
      triggers: [
        ScaledJobTrigger.rabbitmq({ value: 5, protocol: RabbitMqProtocol.HTTP, auth: managementAuth }),
      ],
      concurrency: 2,
    });
    const env = envOf(scaledJob.spec.jobTargetRef.template.spec);
    expect([env[Env.AGENT_MAX_TASKS], env[Env.AGENT_CONCURRENCY]]).toEqual(['5', '2']);
    expect(scaledJob.spec.scalingStrategy).toEqual({ strategy: 'default' });
  });

  test.each([
    [6, /concurrency = 6 exceeds AGENT_MAX_TASKS \(5\).*Fix: lower concurrency to at most 5/],
    [0, /concurrency = 0 is not a whole number of at least 1/],
    [2.5, /concurrency = 2\.5 is not a whole number of at least 1/],
  ])('concurrency %p is rejected with the contract rule the worker applies', (concurrency, message) => {
    expect(failure({ triggers: [ScaledJobTrigger.rabbitmq({ value: 5 })], concurrency }).message).toMatch(
      message,
    );
  });

  test('the LLM capacity guard counts a Job as `concurrency` tasks', () => {
    const { construct, scaledJob } = synthScaled({
      triggers: [ScaledJobTrigger.rabbitmq({ value: 5 })],
      llmCapacity: llm,
    });
    // 160000 tpm budget / (5 tasks × 10000 tpm) = 3.2 → 3 Jobs, 15 agents at once.
    expect(construct.maxReplicaCount).toBe(3);
    expect(scaledJob.spec.maxReplicaCount).toBe(3);
    expect(scaledJob.metadata.annotations).toEqual({
      'agent-fleet.dev/llm-gateway-requests-per-minute': '500',
      'agent-fleet.dev/llm-gateway-tokens-per-minute': '200000',
      'agent-fleet.dev/llm-requests-per-task': '10',
      'agent-fleet.dev/llm-tokens-per-task': '20000',
      'agent-fleet.dev/llm-task-duration-seconds': '120',
      'agent-fleet.dev/llm-max-utilization': '0.8',
    });
  });

  describe('pendingPodConditions', () => {
    test.each(['PodScheduled', 'Initialized', 'PodReadyToStartContainers'])(
      '%s stalls: rejected naming pendingPodConditions and backoffLimit',
      (condition) => {
        const error = failure({ pendingPodConditions: ['Ready', condition], backoffLimit: 2 });
        expect(error.prop).toBe('pendingPodConditions');
        expect(error.message).toMatch(new RegExp(`lists "${condition}", which turns true before the agent`));
        expect(error.message).toMatch(
          /with backoffLimit 2 .* KEDA sums the true conditions over all of them/,
        );
        expect(error.message).toMatch(/kedacore\/keda#5264.*Fix: use \["Ready"\] \(the default\)/);
      },
    );

    test.each(['DisruptionTarget', 'Readyy'])(
      '%s is never true while an agent works: rejected',
      (condition) => {
        expect(failure({ pendingPodConditions: [condition] }).message).toMatch(
          /which no agent pod reports as true while it works: every Job would count as pending/,
        );
      },
    );

    test('an empty list reads as unset in KEDA: rejected', () => {
      expect(failure({ pendingPodConditions: [] }).message).toMatch(/is empty, which KEDA reads as unset/);
    });

    test('with a strategy that ignores pending Jobs: rejected naming scalingStrategy', () => {
      const error = failure({ pendingPodConditions: ['Ready'], scalingStrategy: ScalingStrategy.default() });
      expect(error.message).toMatch(
        /has no effect with scalingStrategy 'default'.*Fix: remove pendingPodConditions/,
      );
    });
  });

  describe('token budget gate', () => {
    const gate = { prometheusUrl: 'http://prometheus-operated.monitoring.svc:9090' };

    function gated(props: Partial<AgentScaledJobProps> = {}) {
      const chart = new Chart(Testing.app(), 'fleet', { namespace: 'agents' });
      return synthScaled({ llmCapacity: { ...llm, tokenBudgetGate: gate }, ...props }, chart);
    }

    test('renders a prometheus trigger placed last, with min, and the budget in the annotations', () => {
      const { scaledJob } = gated({ triggers: [ScaledJobTrigger.rabbitmq({ value: 5 })] });
      const triggers = scaledJob.spec.triggers;
      expect(triggers.map((t: Manifest) => t.type)).toEqual(['rabbitmq', 'prometheus']);
      expect(triggers[1]).toEqual({
        type: 'prometheus',
        name: 'llm-token-budget',
        metadata: {
          serverAddress: 'http://prometheus-operated.monitoring.svc:9090',
          query:
            '(((sum(rate(agent_llm_tokens_total{namespace="agents",agent_fleet_dev_workload="' +
            `${scaledJob.metadata.name}"}[2m])) * 60) or vector(0)) >= bool 160000) - 1`,
          threshold: '1',
          activationThreshold: '-0.5',
          ignoreNullValues: 'false',
        },
      });
      expect(scaledJob.spec.scalingStrategy).toMatchObject({ multipleScalersCalculation: 'min' });
      expect(scaledJob.metadata.annotations).toMatchObject({
        'agent-fleet.dev/llm-token-budget-per-minute': '160000',
        'agent-fleet.dev/llm-token-budget-window-seconds': '120',
      });
    });

    test("a gateway's own series and KEDA authentication", () => {
      const { scaledJob, triggerAuths } = gated({
        llmCapacity: {
          ...llm,
          tokenBudgetGate: {
            ...gate,
            tokensPerMinuteQuery: 'sum(rate(litellm_total_tokens{team="research"}[5m])) * 60',
            auth: TriggerAuth.secrets({ bearerToken: secretKey('prometheus-reader', 'token') }),
          },
        },
      });
      const trigger = scaledJob.spec.triggers[1];
      expect(trigger.metadata.query).toBe(
        '(((sum(rate(litellm_total_tokens{team="research"}[5m])) * 60) or vector(0)) >= bool 160000) - 1',
      );
      expect(triggerAuths.map((a) => a.metadata.name)).toContain(trigger.authenticationRef.name);
    });

    test('another multipleScalersCalculation is rejected, naming both props', () => {
      const error = failure({
        multipleScalersCalculation: MultipleScalersCalculation.MAX,
        llmCapacity: { ...llm, tokenBudgetGate: gate },
      });
      expect(error.prop).toBe('multipleScalersCalculation');
      expect(error.message).toMatch(/is not 'min' while llmCapacity\.tokenBudgetGate is set/);
    });

    test('needs a namespace for the default query', () => {
      expect(failure({ llmCapacity: { ...llm, tokenBudgetGate: gate } }).message).toMatch(
        /llmCapacity\.tokenBudgetGate\.namespace = undefined is not set and the chart has no namespace/,
      );
    });

    test('a credential in the Prometheus URL is rejected and never printed', () => {
      const error = failure({
        llmCapacity: {
          ...llm,
          tokenBudgetGate: { prometheusUrl: 'https://reader:s3cr3t-pw@prom.example.com' },
        },
      });
      expect(error.message).toMatch(/prometheusUrl .* carries a password in a URL in plain text/);
      expect(error.message).not.toContain('s3cr3t-pw');
    });
  });
});

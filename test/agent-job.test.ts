import { Defaults, Env, ExitCode, Http, SHUTDOWN_MARGIN_SECONDS } from '@agent-fleet/contract';
import { ApiObject, type Chart, Duration, JsonPatch, Testing } from 'cdk8s';
import { ServiceAccount } from 'cdk8s-plus-30';
import fc from 'fast-check';
import { AgentFleetChart } from '../examples/main';
import {
  AgentFleetValidationError,
  AgentJob,
  type AgentJobProps,
  CheckpointAccessMode,
  CheckpointStore,
  CompletionMode,
  Quantity,
  QueueConnection,
  TaintEffect,
  WORKLOAD_LABEL,
} from '../lib';
import { envOf, only, synthValid } from './support/manifests';

const queue = QueueConnection.fromSecretName('agent-secrets', 'queue-url');
const base: AgentJobProps = { image: 'registry.example.com/agent:1.0.0', queue };

function synthJob(props: Partial<AgentJobProps> = {}, chart: Chart = Testing.chart()) {
  new AgentJob(chart, 'Agents', { ...base, ...props });
  return only(synthValid(chart), 'Job');
}

describe('AgentJob defaults', () => {
  const job = synthJob();
  const pod = job.spec.template.spec;
  const container = pod.containers[0];

  test('is an Indexed Job that never restarts in place and replaces only failed pods', () => {
    expect(job.apiVersion).toBe('batch/v1');
    expect(job.spec.completionMode).toBe('Indexed');
    expect(job.spec.completions).toBe(1);
    expect(job.spec.parallelism).toBe(1);
    expect(pod.restartPolicy).toBe('Never');
    expect(job.spec.podReplacementPolicy).toBe('Failed');
    expect(job.spec.backoffLimitPerIndex).toBe(3);
    expect(job.spec.backoffLimit).toBeUndefined();
    expect(job.spec.ttlSecondsAfterFinished).toBe(86400);
  });

  test('podFailurePolicy ignores disruptions and fails the index on a permanent failure', () => {
    expect(job.spec.podFailurePolicy.rules).toEqual([
      { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      {
        action: 'FailIndex',
        onExitCodes: { containerName: 'agent', operator: 'In', values: [ExitCode.permanentFailure] },
      },
      {
        action: 'FailJob',
        onExitCodes: { containerName: 'agent', operator: 'In', values: [ExitCode.configError] },
      },
    ]);
  });

  test('contract env: identity from the completion index, URL from the Secret, deadline from the grace period', () => {
    const env = envOf(pod);
    expect(env[Env.AGENT_INDEX]).toEqual({
      fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" },
    });
    expect(env[Env.TASK_QUEUE_URL]).toEqual({ secretKeyRef: { name: 'agent-secrets', key: 'queue-url' } });
    expect(env[Env.TASK_QUEUE_NAME]).toBe(Defaults.taskQueueName);
    expect(env[Env.RESULT_QUEUE_NAME]).toBe(Defaults.resultQueueName);
    expect(env[Env.CHECKPOINT_DIR]).toBe(Defaults.checkpointDir);
    expect(env[Env.METRICS_PORT]).toBe(String(Defaults.metricsPort));
    expect(env[Env.AGENT_MAX_TASKS]).toBe('1');
    expect(env[Env.AGENT_IDLE_EXIT_SECONDS]).toBe(String(Defaults.idleExitSeconds));
    expect(pod.terminationGracePeriodSeconds).toBe(60);
    expect(env[Env.AGENT_SHUTDOWN_SECONDS]).toBe(String(60 - SHUTDOWN_MARGIN_SECONDS));
    expect(env[Env.AGENT_HANDLER]).toBeUndefined();
  });

  test('no literal URL anywhere in the manifest', () => {
    expect(JSON.stringify(job)).not.toMatch(/amqps?:\/\//);
  });

  test('metrics port and scrape annotations come from the contract', () => {
    expect(container.ports).toEqual([
      { name: Http.portName, containerPort: Defaults.metricsPort, protocol: 'TCP' },
    ]);
    expect(job.spec.template.metadata.annotations).toEqual({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(Defaults.metricsPort),
      'prometheus.io/path': Http.metricsPath,
    });
  });

  test('restricted security context, read-only root with a writable /tmp, no API token', () => {
    expect(container.securityContext).toEqual({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(container.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    expect(pod.volumes).toContainEqual({ name: 'tmp', emptyDir: {} });
  });

  test('without a store, checkpoints go to an emptyDir at the contract path', () => {
    expect(container.volumeMounts).toContainEqual({ name: 'checkpoints', mountPath: Defaults.checkpointDir });
    expect(pod.volumes).toContainEqual({ name: 'checkpoints', emptyDir: {} });
  });

  test('default resources: requests, a memory ceiling, no CPU throttling', () => {
    expect(container.resources).toEqual({
      requests: { cpu: '500m', memory: '1Gi' },
      limits: { memory: '2Gi' },
    });
  });

  test('labels select the pods of this workload only', () => {
    expect(job.metadata.labels[WORKLOAD_LABEL]).toBe(job.metadata.name);
    expect(job.spec.template.metadata.labels).toEqual(job.metadata.labels);
    expect(job.metadata.labels.app).toBe(job.metadata.name);
  });
});

describe('AgentJob props', () => {
  test('the tutorial batch stack (example app) matches its snapshot', () => {
    const app = Testing.app();
    const chart = new AgentFleetChart(app, 'agent-fleet');
    const objects = synthValid(chart);
    const job = objects.find((o) => o.kind === 'Job' && o.metadata.name === 'agent-batch-run');
    expect(job.spec).toMatchObject({
      completions: 100,
      parallelism: 20,
      backoffLimitPerIndex: 3,
      ttlSecondsAfterFinished: 3600,
    });
    expect(job.spec.template.spec.containers[0].resources).toEqual({
      requests: { cpu: '500m', memory: '2Gi' },
      limits: { cpu: '2000m', memory: '4Gi' },
    });
    expect(job.metadata.labels).toMatchObject({ app: 'ai-agent', team: 'platform' });
    expect(objects).toMatchSnapshot();
  });

  test('a checkpoint store is mounted at the contract path', () => {
    const chart = Testing.chart();
    const store = new CheckpointStore(chart, 'Store', { claimName: 'ckpt' });
    const job = synthJob({ checkpointStore: store }, chart);
    expect(job.spec.template.spec.volumes).toContainEqual({
      name: 'checkpoints',
      persistentVolumeClaim: { claimName: 'ckpt' },
    });
    expect(job.spec.template.spec.containers[0].volumeMounts).toContainEqual({
      name: 'checkpoints',
      mountPath: Defaults.checkpointDir,
    });
  });

  test('scheduling for a GPU pool, service account, priority class', () => {
    const chart = Testing.chart();
    const sa = ServiceAccount.fromServiceAccountName(chart, 'Sa', 'agent-runner');
    const job = synthJob(
      {
        nodeSelector: { 'node.kubernetes.io/instance-type': 'g5.xlarge' },
        tolerations: [
          { key: 'nvidia.com/gpu', value: 'present', effect: TaintEffect.NO_SCHEDULE },
          { key: 'spot', effect: TaintEffect.NO_EXECUTE, tolerationSeconds: Duration.minutes(5) },
        ],
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: 'gpu', operator: 'Exists' }] }],
            },
          },
        },
        serviceAccount: sa,
        priorityClassName: 'agents-low',
      },
      chart,
    );
    const pod = job.spec.template.spec;
    expect(pod.nodeSelector).toEqual({ 'node.kubernetes.io/instance-type': 'g5.xlarge' });
    expect(pod.tolerations).toEqual([
      { key: 'nvidia.com/gpu', operator: 'Equal', value: 'present', effect: 'NoSchedule' },
      { key: 'spot', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ]);
    expect(pod.affinity.nodeAffinity).toBeDefined();
    expect(pod.serviceAccountName).toBe('agent-runner');
    expect(pod.priorityClassName).toBe('agents-low');
  });

  test('backoffLimit alone means no per-index limits, and a permanent failure fails the Job', () => {
    const job = synthJob({ backoffLimit: 4 });
    expect(job.spec.backoffLimit).toBe(4);
    expect(job.spec.backoffLimitPerIndex).toBeUndefined();
    expect(job.spec.podFailurePolicy.rules[1].action).toBe('FailJob');
  });

  test('NonIndexed: no completion index, the worker uses the pod name', () => {
    const job = synthJob({ completionMode: CompletionMode.NON_INDEXED, completions: 3 });
    expect(job.spec.completionMode).toBe('NonIndexed');
    expect(envOf(job.spec.template.spec)[Env.AGENT_INDEX]).toBeUndefined();
    expect(envOf(job.spec.template.spec)[Env.POD_NAME]).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(job.spec.podFailurePolicy.rules[1].action).toBe('FailJob');
    // The retry budget is written out, not left to the controller's default.
    expect(job.spec.backoffLimit).toBe(6);
    expect(job.spec.backoffLimitPerIndex).toBeUndefined();
  });

  test('grace period, idle exit, maxTasks, deadline and extra env reach the worker', () => {
    const job = synthJob({
      terminationGracePeriod: Duration.minutes(2),
      idleExit: Duration.minutes(1),
      maxTasks: 0,
      activeDeadline: Duration.hours(6),
      env: { LLM_BASE_URL: 'http://llm-gateway.ai.svc:8000/v1' },
      handlerModule: '/app/dist/handler.js',
    });
    const env = envOf(job.spec.template.spec);
    expect(job.spec.template.spec.terminationGracePeriodSeconds).toBe(120);
    expect(env[Env.AGENT_SHUTDOWN_SECONDS]).toBe(String(120 - SHUTDOWN_MARGIN_SECONDS));
    expect(env[Env.AGENT_IDLE_EXIT_SECONDS]).toBe('60');
    expect(env[Env.AGENT_MAX_TASKS]).toBe('0');
    expect(env[Env.AGENT_HANDLER]).toBe('/app/dist/handler.js');
    expect(env.LLM_BASE_URL).toBe('http://llm-gateway.ai.svc:8000/v1');
    expect(job.spec.activeDeadlineSeconds).toBe(21600);
  });

  test('escape hatch: ApiObject.of(job) patches the synthesized Job', () => {
    const chart = Testing.chart();
    const agents = new AgentJob(chart, 'Agents', base);
    ApiObject.of(agents).addJsonPatch(JsonPatch.add('/spec/suspend', true));
    expect(ApiObject.of(agents)).toBe(agents.apiObject);
    expect(only(synthValid(chart), 'Job').spec.suspend).toBe(true);
  });

  test('a read-write-once store is fine for one pod at a time', () => {
    const chart = Testing.chart();
    const store = new CheckpointStore(chart, 'Store', { accessMode: CheckpointAccessMode.READ_WRITE_ONCE });
    expect(synthJob({ checkpointStore: store, completions: 5, parallelism: 1 }, chart).spec.parallelism).toBe(
      1,
    );
  });
});

/** Builds an AgentJob with `props` in a fresh chart and returns the error it throws. */
function failure(props: Partial<AgentJobProps>, extra?: (chart: Chart) => Partial<AgentJobProps>): Error {
  const chart = Testing.chart();
  try {
    new AgentJob(chart, 'Agents', { ...base, ...props, ...extra?.(chart) });
  } catch (error) {
    return error as Error;
  }
  throw new Error(`expected ${JSON.stringify(props)} to be rejected`);
}

describe('AgentJob rejects at synth time', () => {
  test.each<[string, Partial<AgentJobProps>, RegExp]>([
    [
      'fails when parallelism exceeds completions',
      { completions: 10, parallelism: 20 },
      /parallelism = 20 exceeds completions \(10\).*Fix: set parallelism to at most 10/,
    ],
    ['fails on zero completions', { completions: 0 }, /completions = 0 is not a whole number ≥ 1/],
    ['fails on negative parallelism', { parallelism: -1 }, /parallelism = -1 is not a whole number ≥ 1/],
    ['fails on fractional completions', { completions: 2.5 }, /completions = 2.5 is not a whole number/],
    ['fails on a negative backoffLimitPerIndex', { backoffLimitPerIndex: -1 }, /backoffLimitPerIndex = -1/],
    [
      'fails when limits are below requests',
      {
        resources: { requests: { memory: Quantity.gibibytes(4) }, limits: { memory: Quantity.gibibytes(2) } },
      },
      /resources\.limits\.memory = "2Gi" is below the request \("?4Gi"?\)/,
    ],
    [
      'fails on the quantity "4Gb"',
      { resources: { limits: { memory: Quantity.of('4Gb') } } },
      /resources\.limits\.memory = "4Gb" is not a Kubernetes quantity.*Fix: .*"4Gi"/,
    ],
    [
      'fails on the quantity "2 Gi"',
      { resources: { requests: { memory: Quantity.of('2 Gi') } } },
      /resources\.requests\.memory = "2 Gi" is not a Kubernetes quantity/,
    ],
    [
      'fails on a name that is not DNS-1123',
      { name: 'Agent_Batch' },
      /name = "Agent_Batch" is not a DNS-1123 label/,
    ],
    [
      'fails on a name longer than 63 characters',
      { name: 'a'.repeat(64) },
      /name = "a{64}" is not a DNS-1123 label/,
    ],
    [
      'fails on a priorityClassName that is not DNS-1123',
      { priorityClassName: 'Low Priority' },
      /priorityClassName = "Low Priority" is not a DNS-1123 subdomain/,
    ],
    [
      'fails on backoffLimitPerIndex outside Indexed mode',
      { completionMode: CompletionMode.NON_INDEXED, backoffLimitPerIndex: 2 },
      /backoffLimitPerIndex = 2 only applies to Indexed Jobs/,
    ],
    [
      'fails on maxFailedIndexes outside Indexed mode',
      { completionMode: CompletionMode.NON_INDEXED, maxFailedIndexes: 2 },
      /maxFailedIndexes = 2 only applies to Indexed Jobs/,
    ],
    [
      'fails on maxFailedIndexes without per-index limits',
      { backoffLimit: 3, maxFailedIndexes: 2 },
      /maxFailedIndexes = 2 requires backoffLimitPerIndex/,
    ],
    [
      'fails on maxFailedIndexes above completions',
      { completions: 3, maxFailedIndexes: 5 },
      /maxFailedIndexes = 5 exceeds completions \(3\)/,
    ],
    [
      'fails on a grace period too short for the shutdown deadline',
      { terminationGracePeriod: Duration.seconds(8) },
      /terminationGracePeriod = "8s" leaves the worker 3s.*Fix: use at least Duration.seconds\(10\)/,
    ],
    [
      'fails on a fractional grace period',
      { terminationGracePeriod: Duration.millis(30500) },
      /terminationGracePeriod = .* is not a whole number of seconds/,
    ],
    [
      'fails on a credential-bearing URL in env',
      { env: { LLM_URL: 'https://bob:hunter2@llm.example.com/v1' } },
      /env\.LLM_URL = "https:\/\/bob:\*\*\*@llm\.example\.com\/v1" carries a password in a URL in plain text.*secretKeyRef/,
    ],
    [
      'fails on a token in a URL query in env',
      { env: { HOOK: 'https://hooks.example.com/x?token=abc123' } },
      /env\.HOOK = .*token=\*\*\*.* carries a credential in a URL query/,
    ],
    [
      'fails on a credential-bearing queue name',
      { queueName: 'amqp://guest:guest@rabbit:5672' },
      /queueName = "amqp:\/\/guest:\*\*\*@rabbit:5672" carries a password in a URL/,
    ],
    [
      'fails on a contract env name set by hand',
      { env: { [Env.TASK_QUEUE_URL]: 'x' } },
      /env\.TASK_QUEUE_URL = "x" is set by the construct/,
    ],
    [
      'fails on an untagged image',
      { image: 'registry.example.com/agent' },
      /image = "registry.example.com\/agent" has no tag/,
    ],
    [
      'fails on an untagged image behind a registry port',
      { image: 'registry:5000/agent' },
      /image = "registry:5000\/agent" has no tag/,
    ],
    [
      'fails on the latest tag',
      { image: 'agent:latest' },
      /image = "agent:latest" uses the moving tag "latest"/,
    ],
    [
      'fails on a malformed digest',
      { image: 'agent@sha256:abc' },
      /image = "agent@sha256:abc" has a malformed digest/,
    ],
    [
      'fails when results would go to the task queue',
      { queueName: 'q', resultQueueName: 'q' },
      /resultQueueName = "q" names the task queue too/,
    ],
    [
      'fails on a reserved queue name',
      { queueName: 'amq.tasks' },
      /queueName = "amq.tasks" starts with "amq."/,
    ],
    [
      'fails on a relative handler path',
      { handlerModule: 'handler.js' },
      /handlerModule = "handler.js" is not an absolute path/,
    ],
    [
      'fails on a bad label value',
      { team: 'platform team' },
      /team = "platform team" is not a valid label value/,
    ],
    [
      'fails on tolerationSeconds without NoExecute',
      { tolerations: [{ key: 'gpu', tolerationSeconds: Duration.seconds(5) }] },
      /tolerations\[0\]\.tolerationSeconds = "5 seconds" only applies to NoExecute/,
    ],
    [
      'fails on a secret name that is not DNS-1123',
      { queue: QueueConnection.fromSecretName('Agent Secrets') },
      /queue\.secretName = "Agent Secrets" is not a DNS-1123 subdomain/,
    ],
  ])('%s', (_title, props, message) => {
    const error = failure(props);
    expect(error).toBeInstanceOf(AgentFleetValidationError);
    expect(error.message).toMatch(/^test\/Agents: /);
    expect(error.message).toMatch(message);
    expect(error.message).toMatch(/Fix: /);
  });

  test('fails on a read-write-once store shared by parallel pods', () => {
    const error = failure({ completions: 10, parallelism: 4 }, (chart) => ({
      checkpointStore: new CheckpointStore(chart, 'Store', {
        accessMode: CheckpointAccessMode.READ_WRITE_ONCE,
      }),
    }));
    expect(error.message).toMatch(
      /checkpointStore\.accessMode = "ReadWriteOnce" cannot be shared by the 4 pods.*ReadWriteMany/,
    );
  });

  test('every contract variable the construct writes is refused in env, so props stay the one source', () => {
    const written = Object.keys(envOf(synthJob().spec.template.spec)).filter((name) =>
      (Object.values(Env) as string[]).includes(name),
    );
    expect(written.length).toBeGreaterThan(5);
    for (const name of written) {
      expect(failure({ env: { [name]: '1' } }).message).toMatch(
        new RegExp(`env\\.${name} = "1" is set by the construct`),
      );
    }
  });

  test('error messages never echo a password', () => {
    const error = failure({ env: { DB: 'postgres://app:s3cr3t-pw@db:5432/x' } });
    expect(error.message).not.toContain('s3cr3t-pw');
  });
});

describe('AgentJob properties (fast-check)', () => {
  const quantityPair = (unit: 'cpu' | 'memory') =>
    fc
      .tuple(fc.integer({ min: 1, max: 4000 }), fc.integer({ min: 0, max: 4000 }))
      .map(([req, extra]) =>
        unit === 'cpu'
          ? { request: Quantity.cpuMillis(req), limit: Quantity.cpuMillis(req + extra) }
          : { request: Quantity.mebibytes(req), limit: Quantity.mebibytes(req + extra) },
      );

  const validProps = fc
    .record({
      completions: fc.integer({ min: 1, max: 1000 }),
      parallelismFraction: fc.double({ min: 0, max: 1, noNaN: true }),
      indexed: fc.boolean(),
      perIndex: fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined }),
      backoffLimit: fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined }),
      graceSeconds: fc.integer({ min: 10, max: 3600 }),
      ttlSeconds: fc.integer({ min: 0, max: 7 * 86400 }),
      cpu: quantityPair('cpu'),
      memory: quantityPair('memory'),
      tag: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/).filter((t) => t !== 'latest'),
      team: fc.option(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}[a-z0-9]$/), { nil: undefined }),
      queueName: fc.stringMatching(/^[a-z][a-z0-9._-]{0,30}$/),
      withStore: fc.boolean(),
      maxTasks: fc.integer({ min: 0, max: 50 }),
    })
    .map((r) => ({
      completions: r.completions,
      parallelism: Math.max(1, Math.floor(r.parallelismFraction * r.completions)),
      completionMode: r.indexed ? CompletionMode.INDEXED : CompletionMode.NON_INDEXED,
      backoffLimitPerIndex: r.indexed ? r.perIndex : undefined,
      backoffLimit: r.backoffLimit,
      terminationGracePeriod: Duration.seconds(r.graceSeconds),
      ttlAfterFinished: Duration.seconds(r.ttlSeconds),
      resources: {
        requests: { cpu: r.cpu.request, memory: r.memory.request },
        limits: { cpu: r.cpu.limit, memory: r.memory.limit },
      },
      image: `registry.example.com/team/agent:${r.tag}`,
      team: r.team,
      queueName: r.queueName,
      resultQueueName: `${r.queueName}-results`,
      withStore: r.withStore,
      maxTasks: r.maxTasks,
    }));

  test('500 random valid configurations synthesize schema-valid, restricted, consistent Jobs', () => {
    fc.assert(
      fc.property(validProps, ({ withStore, ...props }) => {
        const chart = Testing.chart();
        const checkpointStore = withStore ? new CheckpointStore(chart, 'Store') : undefined;
        new AgentJob(chart, 'Agents', { ...base, ...props, checkpointStore });
        const job = only(synthValid(chart), 'Job');
        const env = envOf(job.spec.template.spec);
        expect(job.spec.parallelism).toBeLessThanOrEqual(job.spec.completions);
        expect(job.spec.template.spec.restartPolicy).toBe('Never');
        expect(job.spec.podReplacementPolicy).toBe('Failed');
        expect(Number(env[Env.AGENT_SHUTDOWN_SECONDS])).toBe(
          job.spec.template.spec.terminationGracePeriodSeconds - SHUTDOWN_MARGIN_SECONDS,
        );
        expect(env[Env.TASK_QUEUE_URL].secretKeyRef).toBeDefined();
        expect(env[Env.AGENT_INDEX] !== undefined).toBe(props.completionMode === CompletionMode.INDEXED);
        const perIndex = job.spec.backoffLimitPerIndex !== undefined;
        expect(job.spec.podFailurePolicy.rules[1].action).toBe(perIndex ? 'FailIndex' : 'FailJob');
      }),
      { numRuns: 500 },
    );
  });

  const invalidCases: fc.Arbitrary<[keyof AgentJobProps | string, Partial<AgentJobProps>]> = fc.oneof(
    fc
      .integer({ max: 0 })
      .map((n) => ['completions', { completions: n }] as [string, Partial<AgentJobProps>]),
    fc
      .tuple(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 100 }))
      .map(
        ([c, extra]) =>
          ['parallelism', { completions: c, parallelism: c + extra }] as [string, Partial<AgentJobProps>],
      ),
    fc
      .tuple(fc.integer({ min: 2, max: 4096 }), fc.integer({ min: 1, max: 4095 }))
      .filter(([req, less]) => less < req)
      .map(
        ([req, less]) =>
          [
            'resources.limits.memory',
            {
              resources: {
                requests: { memory: Quantity.mebibytes(req) },
                limits: { memory: Quantity.mebibytes(req - less) },
              },
            },
          ] as [string, Partial<AgentJobProps>],
      ),
    fc
      .stringMatching(/^[0-9]+ ?(Gb|GB|gi|mb|G i|Kb|kib)$/)
      .map(
        (q) =>
          ['resources.limits.memory', { resources: { limits: { memory: Quantity.of(q) } } }] as [
            string,
            Partial<AgentJobProps>,
          ],
      ),
    fc
      .stringMatching(/^[A-Z_][A-Za-z_]{0,10}$/)
      .map((n) => ['name', { name: n }] as [string, Partial<AgentJobProps>]),
    fc
      .integer({ min: 0, max: 9 })
      .map(
        (g) =>
          ['terminationGracePeriod', { terminationGracePeriod: Duration.seconds(g) }] as [
            string,
            Partial<AgentJobProps>,
          ],
      ),
    fc
      .tuple(
        fc.constantFrom('amqp', 'https', 'redis', 'postgres'),
        fc.stringMatching(/^[a-z]{1,8}$/),
        fc.stringMatching(/^[A-Za-z0-9]{1,12}$/),
      )
      .map(
        ([scheme, user, pw]) =>
          ['env.SOME_URL', { env: { SOME_URL: `${scheme}://${user}:${pw}@host/x` } }] as [
            string,
            Partial<AgentJobProps>,
          ],
      ),
    fc
      .constantFrom('agent', 'agent:latest', 'r.io/a/b')
      .map((image) => ['image', { image }] as [string, Partial<AgentJobProps>]),
  );

  test('random invalid configurations all throw an error naming the offending prop', () => {
    fc.assert(
      fc.property(invalidCases, ([prop, props]) => {
        const error = failure(props);
        expect(error).toBeInstanceOf(AgentFleetValidationError);
        expect((error as AgentFleetValidationError).prop).toBe(prop);
        expect(error.message).toContain(`${prop} = `);
      }),
      { numRuns: 300 },
    );
  });
});

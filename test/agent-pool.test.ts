import {
  Env,
  HandlerEnv,
  Http,
  PodEnv,
  RestartPolicies,
  restartPolicyViolation,
} from '@agent-fleet/contract';
import { type Chart, Duration, Testing } from 'cdk8s';
import {
  AgentFleetValidationError,
  AgentPool,
  type AgentPoolProps,
  decideScaledObjectReplicas,
  ModelServer,
  QueueConnection,
  RabbitMqProtocol,
  ScaledJobTrigger,
  secretKey,
  TriggerAuth,
  WORKLOAD_LABEL,
} from '../lib';
import { envOf, type Manifest, only, synthValid } from './support/manifests';

const queue = QueueConnection.fromSecretName('agent-secrets', 'queue-url');
const httpTrigger = (value = 2) =>
  ScaledJobTrigger.rabbitmq({
    protocol: RabbitMqProtocol.HTTP,
    value,
    auth: TriggerAuth.secrets({ host: secretKey('agent-secrets', 'management-url') }),
  });
const base: AgentPoolProps = {
  image: 'registry.example.com/agent:1.0.0',
  queue,
  name: 'pool',
  triggers: [httpTrigger()],
};

function pool(props: Partial<AgentPoolProps> = {}, chart: Chart = Testing.chart()): AgentPool {
  return new AgentPool(chart, 'Pool', { ...base, ...props });
}

function synthPool(props: Partial<AgentPoolProps> = {}): Manifest[] {
  const chart = Testing.chart();
  pool(props, chart);
  return synthValid(chart);
}

function fails(props: Partial<AgentPoolProps>, pattern: RegExp): void {
  let error: unknown;
  try {
    pool(props);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(AgentFleetValidationError);
  expect((error as Error).message).toMatch(pattern);
}

describe('AgentPool Deployment', () => {
  const objects = synthPool();
  const deployment = only(objects, 'Deployment');
  const pod = deployment.spec.template.spec;
  const env = envOf(pod);

  test('a Deployment of the agent pod, restarted in place, with no replica count of its own', () => {
    expect(deployment.apiVersion).toBe('apps/v1');
    expect(deployment.metadata.name).toBe('pool');
    expect(deployment.spec.replicas).toBeUndefined();
    expect(deployment.spec.selector).toEqual({ matchLabels: { [WORKLOAD_LABEL]: 'pool' } });
    expect(pod.restartPolicy).toBe('Always');
    expect(pod.containers[0].name).toBe('agent');
  });

  test('the agents never exit on their own, and the worker knows the kubelet restarts it', () => {
    expect(env[Env.AGENT_MAX_TASKS]).toBe('0');
    expect(env[Env.AGENT_IDLE_EXIT_SECONDS]).toBe('0');
    expect(env[PodEnv.AGENT_RESTART_POLICY]).toBe(RestartPolicies.always);
    expect(restartPolicyViolation(env[PodEnv.AGENT_RESTART_POLICY], 0, 0)).toBeUndefined();
  });

  test('AGENT_CONCURRENCY follows the trigger value (tasks per replica)', () => {
    expect(env[Env.AGENT_CONCURRENCY]).toBe('2');
  });

  test('grace period and AGENT_SHUTDOWN_SECONDS as for Jobs', () => {
    expect(pod.terminationGracePeriodSeconds).toBe(60);
    expect(env[Env.AGENT_SHUTDOWN_SECONDS]).toBe('55');
  });

  test('readiness on /readyz and liveness on /healthz', () => {
    const c = pod.containers[0];
    expect(c.readinessProbe.httpGet).toEqual({ path: Http.readyzPath, port: Http.portName });
    expect(c.livenessProbe).toEqual({
      httpGet: { path: Http.healthzPath, port: Http.portName },
      periodSeconds: 10,
      timeoutSeconds: 5,
      successThreshold: 1,
      failureThreshold: 6,
    });
  });

  test('a rolling update starts new agents before it stops old ones', () => {
    expect(deployment.spec.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 },
    });
  });

  test('maxConcurrentPods counts the surge pods a rolling update adds at full size', () => {
    const p = pool({ maxReplicaCount: 10 });
    expect(p.maxConcurrentPods).toBe(13);
    expect(p.scaleSubresource).toBe(true);
    expect(p.scaling).toBe('queue-driven');
  });

  test('matches its snapshot', () => {
    expect(objects).toMatchSnapshot();
  });
});

describe('AgentPool ScaledObject', () => {
  const objects = synthPool({ minReplicaCount: 2, maxReplicaCount: 8 });
  const so = only(objects, 'ScaledObject');

  test('targets the Deployment with the typed triggers and their TriggerAuthentication', () => {
    expect(so.apiVersion).toBe('keda.sh/v1alpha1');
    expect(so.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'pool' });
    expect(so.spec.triggers).toEqual([
      {
        type: 'rabbitmq',
        metadata: { protocol: 'http', queueName: 'agent-tasks', mode: 'QueueLength', value: '2' },
        authenticationRef: {
          kind: 'TriggerAuthentication',
          name: only(objects, 'TriggerAuthentication').metadata.name,
        },
      },
    ]);
    expect(only(objects, 'TriggerAuthentication').spec.secretTargetRef).toEqual([
      { parameter: 'host', name: 'agent-secrets', key: 'management-url' },
    ]);
  });

  test('min and max replicas; no scale to zero unless asked', () => {
    expect(so.spec.minReplicaCount).toBe(2);
    expect(so.spec.maxReplicaCount).toBe(8);
    expect(so.spec.idleReplicaCount).toBeUndefined();
    expect(so.spec.cooldownPeriod).toBeUndefined();
  });

  test('scale-down: at most 10% (at least one pod) per grace period, after a 5-minute window', () => {
    expect(so.spec.advanced.horizontalPodAutoscalerConfig.behavior).toEqual({
      scaleDown: {
        stabilizationWindowSeconds: 300,
        selectPolicy: 'Max',
        policies: [{ type: 'Percent', value: 10, periodSeconds: 60 }],
      },
    });
  });

  test('the rendered behaviour never removes agents faster than a grace period allows', () => {
    const scaleDown = so.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown;
    // 8 replicas, nothing queued, the window long past: one step removes one pod.
    const first = decideScaledObjectReplicas({
      currentReplicas: 8,
      scalers: [{ queueLength: 0, targetValue: 2 }],
      minReplicaCount: 2,
      maxReplicaCount: 8,
      behavior: { scaleDown },
      recommendations: [],
    });
    expect(first.replicas).toBe(7);
    // 30 s later (inside the grace period) the removed pod may still be checkpointing: no step.
    const second = decideScaledObjectReplicas({
      currentReplicas: 7,
      scalers: [{ queueLength: 0, targetValue: 2 }],
      minReplicaCount: 2,
      maxReplicaCount: 8,
      behavior: { scaleDown },
      recommendations: [],
      scaleDownEvents: [{ ageSeconds: 30, replicaChange: 1 }],
    });
    expect(second.replicas).toBe(7);
  });

  test('scaleToZero writes idleReplicaCount 0 and the cooldown', () => {
    const s = only(synthPool({ scaleToZero: true, cooldown: Duration.minutes(10) }), 'ScaledObject');
    expect(s.spec.idleReplicaCount).toBe(0);
    expect(s.spec.minReplicaCount).toBe(1);
    expect(s.spec.cooldownPeriod).toBe(600);
    expect(only(synthPool({ scaleToZero: true }), 'ScaledObject').spec.cooldownPeriod).toBe(300);
  });

  test('the scale-down period follows the grace period and the percentage', () => {
    const s = only(
      synthPool({
        terminationGracePeriod: Duration.minutes(5),
        maxScaleDownPercent: 25,
        scaleDownStabilization: Duration.minutes(15),
      }),
      'ScaledObject',
    );
    expect(s.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown).toEqual({
      stabilizationWindowSeconds: 900,
      selectPolicy: 'Max',
      policies: [{ type: 'Percent', value: 25, periodSeconds: 300 }],
    });
  });
});

describe('AgentPool and a model server', () => {
  test('LLM_BASE_URL and LLM_MODEL come from the server; env may not set them', () => {
    const chart = Testing.chart();
    const server = new ModelServer(chart, 'Llm', { name: 'llm', model: 'Qwen/Qwen2.5-7B-Instruct' });
    new AgentPool(chart, 'Pool', { ...base, modelServer: server });
    const agents = synthValid(chart).find((o) => o.kind === 'Deployment' && o.metadata.name === 'pool');
    const env = envOf(agents.spec.template.spec);
    expect(env[HandlerEnv.LLM_BASE_URL]).toBe('http://llm:8000/v1');
    expect(env[HandlerEnv.LLM_MODEL]).toBe('Qwen/Qwen2.5-7B-Instruct');
    const other = new ModelServer(Testing.chart(), 'Llm', { name: 'llm', model: 'm' });
    fails(
      { modelServer: other, env: { LLM_BASE_URL: 'http://elsewhere/v1' } },
      /env\.LLM_BASE_URL = .*is set by the construct/,
    );
  });
});

describe('AgentPool fails', () => {
  test('without triggers', () => {
    fails(
      { triggers: [] },
      /triggers = \[\] is empty.*Fix: give at least one trigger whose metric counts in-flight work/,
    );
  });

  test('on a trigger whose metric leaves out the work agents hold', () => {
    fails(
      { triggers: [ScaledJobTrigger.rabbitmq()] },
      /triggers\[0\] = "rabbitmq" reads a metric that leaves out the work agents hold.*removes busy agents/,
    );
    fails(
      { triggers: [ScaledJobTrigger.redisList({ address: 'redis:6379', listName: 'tasks' })] },
      /triggers\[0\] = "redis"/,
    );
  });

  test('on idleExit: a pool never exits when idle', () => {
    fails(
      { idleExit: Duration.seconds(30) },
      /idleExit = "30 seconds" would make the pool's agents exit 0 when idle.*Fix: drop idleExit/,
    );
  });

  test('on minReplicaCount 0 (scale to zero is scaleToZero) or above max', () => {
    fails({ minReplicaCount: 0 }, /minReplicaCount = 0 is not a whole number ≥ 1/);
    fails({ minReplicaCount: 5, maxReplicaCount: 3 }, /minReplicaCount = 5 exceeds maxReplicaCount \(3\)/);
  });

  test('on a cooldown without scaleToZero', () => {
    fails({ cooldown: Duration.minutes(1) }, /cooldown = "1 minute" only applies with scaleToZero/);
  });

  test('on a scale-down percentage out of range, or a grace period the HPA cannot wait for', () => {
    fails({ maxScaleDownPercent: 0 }, /maxScaleDownPercent = 0 is not a whole percentage/);
    fails({ maxScaleDownPercent: 150 }, /maxScaleDownPercent = 150/);
    fails(
      { terminationGracePeriod: Duration.hours(1) },
      /terminationGracePeriod = "3600s" is longer than the HPA lets a scale-down period be/,
    );
    fails(
      { scaleDownStabilization: Duration.hours(2) },
      /scaleDownStabilization = "7200s" is longer than the HPA accepts/,
    );
  });
});

describe('restartPolicyViolation (the contract rule both sides check)', () => {
  test('Never accepts anything; Always needs AGENT_MAX_TASKS and AGENT_IDLE_EXIT_SECONDS at 0', () => {
    expect(restartPolicyViolation('Never', 1, 30)).toBeUndefined();
    expect(restartPolicyViolation('Always', 0, 0)).toBeUndefined();
    expect(restartPolicyViolation('Always', 1, 0)?.problem).toMatch(/AGENT_MAX_TASKS is 1/);
    expect(restartPolicyViolation('Always', 0, 30)?.problem).toMatch(/AGENT_IDLE_EXIT_SECONDS is 30/);
    expect(restartPolicyViolation('OnFailure', 0, 0)?.problem).toMatch(/is not Never or Always/);
  });
});

import { Chart, Testing } from 'cdk8s';
import {
  AgentFleetValidationError,
  AgentJob,
  AgentScaledJob,
  BatchTasks,
  KUEUE_PRIORITY_CLASS_LABEL,
  KUEUE_QUEUE_NAME_LABEL,
  LocalQueue,
  LocalQueueStopPolicy,
  Quantity,
  QueueConnection,
  WorkloadPriorityClass,
} from '../lib';
import { manifestProblems, only, synthValid } from './support/manifests';

const image = 'registry.example.com/agent:1.0.0';
const queue = QueueConnection.fromSecretName('agent-secrets', 'queue-url');

function namespaced(namespace = 'agents'): Chart {
  return new Chart(Testing.app(), 'fleet', { namespace });
}

describe('LocalQueue', () => {
  test('wraps kueue.x-k8s.io/v1beta2 LocalQueue as Resource, in the chart namespace, schema-valid', () => {
    const chart = namespaced();
    const lq = new LocalQueue(chart, 'Queue', {
      name: 'team-a',
      clusterQueue: 'shared',
      stopPolicy: LocalQueueStopPolicy.HOLD,
    });
    expect(lq.node.tryFindChild('Resource')).toBe(lq.apiObject);
    const obj = only(synthValid(chart), 'LocalQueue');
    expect(obj).toEqual({
      apiVersion: 'kueue.x-k8s.io/v1beta2',
      kind: 'LocalQueue',
      metadata: { name: 'team-a', namespace: 'agents' },
      spec: { clusterQueue: 'shared', stopPolicy: 'Hold' },
    });
    expect(lq.namespace).toBe('agents');
  });

  test('the CRD schema rejects what Kueue would (proves the imported schema is in the validator)', () => {
    const bad = {
      apiVersion: 'kueue.x-k8s.io/v1beta2',
      kind: 'LocalQueue',
      metadata: { name: 'q', namespace: 'agents' },
      spec: { clusterQueue: 'shared', stopPolicy: 'Pause', queueingStrategy: 'x' },
    };
    const problems = manifestProblems(bad).join('\n');
    expect(problems).toMatch(/stopPolicy/);
    expect(problems).toMatch(/queueingStrategy/);
  });

  test('names: DNS subdomain that is also a label value', () => {
    expect(() => new LocalQueue(namespaced(), 'Q', { name: 'Team_A', clusterQueue: 'shared' })).toThrow(
      /name = "Team_A" is not a DNS-1123 subdomain/,
    );
    expect(
      () => new LocalQueue(namespaced(), 'Q', { name: `a${'.b'.repeat(40)}`, clusterQueue: 'shared' }),
    ).toThrow(/is not a valid label value/);
    expect(() => new LocalQueue(namespaced(), 'Q', { clusterQueue: 'Shared' })).toThrow(
      /clusterQueue = "Shared"/,
    );
  });
});

describe('AgentJob admitted through Kueue', () => {
  const chart = namespaced();
  const lq = new LocalQueue(chart, 'Queue', { name: 'team-a', clusterQueue: 'shared' });
  new AgentJob(chart, 'Eval', {
    image,
    tasks: BatchTasks.fromList([{ id: 'a', input: 1 }]),
    kueue: { queue: lq, priorityClass: WorkloadPriorityClass.fromName('batch-low') },
  });
  const objects = synthValid(chart);
  const job = only(objects, 'Job');

  test('queue-name and priority-class labels on the Job, created suspended', () => {
    expect(job.metadata.labels[KUEUE_QUEUE_NAME_LABEL]).toBe('team-a');
    expect(job.metadata.labels[KUEUE_PRIORITY_CLASS_LABEL]).toBe('batch-low');
    expect(job.spec.suspend).toBe(true);
  });

  test('the pods request CPU and memory (what Kueue admits on), and carry no Kueue label themselves', () => {
    expect(job.spec.template.spec.containers[0].resources.requests).toEqual({ cpu: '500m', memory: '1Gi' });
    expect(job.spec.template.metadata.labels[KUEUE_QUEUE_NAME_LABEL]).toBeUndefined();
  });

  test('without kueue, no label and no suspend', () => {
    const plain = only(
      synthValid(
        (() => {
          const c = namespaced();
          new AgentJob(c, 'Plain', { image, queue });
          return c;
        })(),
      ),
      'Job',
    );
    expect(plain.spec.suspend).toBeUndefined();
    expect(plain.metadata.labels[KUEUE_QUEUE_NAME_LABEL]).toBeUndefined();
  });

  test('snapshot', () => {
    expect(objects).toMatchSnapshot();
  });
});

describe('AgentScaledJob admitted through Kueue', () => {
  const chart = namespaced();
  const workers = new AgentScaledJob(chart, 'Workers', {
    image,
    queue,
    kueue: { queue: LocalQueue.fromLocalQueueName('team-b') },
    maxReplicaCount: 400,
  });
  const scaledJob = only(synthValid(chart), 'ScaledJob');

  test('maxReplicaCount is required: near it KEDA stops subtracting the Jobs waiting for admission', () => {
    const other = namespaced();
    expect(
      () =>
        new AgentScaledJob(other, 'Workers', {
          image,
          queue,
          kueue: { queue: LocalQueue.fromLocalQueueName('team-b') },
        }),
    ).toThrow(
      /maxReplicaCount = undefined must be set with kueue.*Fix: set it to at least 2 × ceil\(largest backlog ÷ value\)/,
    );
  });

  test('labels on the ScaledJob (KEDA copies them onto its Jobs), the Job template suspended', () => {
    expect(scaledJob.metadata.labels[KUEUE_QUEUE_NAME_LABEL]).toBe('team-b');
    expect(scaledJob.metadata.labels[KUEUE_PRIORITY_CLASS_LABEL]).toBeUndefined();
    expect(scaledJob.spec.jobTargetRef.suspend).toBe(true);
    expect(scaledJob.spec.jobTargetRef.template.metadata.labels[KUEUE_QUEUE_NAME_LABEL]).toBeUndefined();
  });

  test('keeps accurate with pendingPodConditions [Ready]: a Job waiting for admission counts as pending', () => {
    expect(workers.scalingStrategy.name).toBe('accurate');
    expect(scaledJob.spec.scalingStrategy.pendingPodConditions).toEqual(['Ready']);
  });
});

describe('Kueue admission: synth-time errors', () => {
  test('a LocalQueue of another namespace', () => {
    const other = new LocalQueue(namespaced('batch'), 'Q', { name: 'team-a', clusterQueue: 'shared' });
    expect(() => new AgentJob(namespaced('agents'), 'J', { image, queue, kueue: { queue: other } })).toThrow(
      /kueue\.queue = "batch\/team-a" is in namespace batch while this workload runs in agents/,
    );
  });

  test('pods without a CPU or memory request', () => {
    const error = (() => {
      try {
        new AgentScaledJob(namespaced(), 'W', {
          image,
          queue,
          resources: { requests: { memory: Quantity.gibibytes(1) } },
          kueue: { queue: LocalQueue.fromLocalQueueName('team-a') },
          maxReplicaCount: 100,
        });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(AgentFleetValidationError);
    expect((error as Error).message).toMatch(
      /resources\.requests\.cpu = undefined is not set while kueue is/,
    );
  });

  test('a limit alone counts as the request, as the API server defaults it', () => {
    const c = namespaced();
    new AgentJob(c, 'J', {
      image,
      queue,
      resources: { limits: { cpu: Quantity.cpus(1), memory: Quantity.gibibytes(1) } },
      kueue: { queue: LocalQueue.fromLocalQueueName('team-a') },
    });
    expect(only(synthValid(c), 'Job').spec.suspend).toBe(true);
  });

  test('names that are not label values', () => {
    expect(
      () =>
        new AgentJob(namespaced(), 'J', {
          image,
          queue,
          kueue: { queue: LocalQueue.fromLocalQueueName('Team A') },
        }),
    ).toThrow(/kueue\.queue\.name = "Team A"/);
    expect(
      () =>
        new AgentJob(namespaced(), 'J', {
          image,
          queue,
          kueue: {
            queue: LocalQueue.fromLocalQueueName('a'),
            priorityClass: WorkloadPriorityClass.fromName(''),
          },
        }),
    ).toThrow(/kueue\.priorityClass\.name = "" is not a name/);
  });
});

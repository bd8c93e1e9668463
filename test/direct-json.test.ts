/**
 * `withDirectJson` (lib/direct-json.ts) skips the generated L1 conversion for our objects. Every
 * lib test compares both renderings of every such object (test/support/direct-json-check.ts);
 * these tests prove that check runs, can fail, and that the escape hatches fall back.
 */
import { ApiObject, JsonPatch, Lazy, Testing } from 'cdk8s';
import { k8s } from 'cdk8s-plus-30';
import {
  AgentGuardrails,
  AgentScaledJob,
  CheckpointStore,
  EgressPeer,
  Protocol,
  Quantity,
  QueueConnection,
} from '../lib';
import { generatedJson, renderApiObject, withDirectJson } from '../lib/internal/direct-json';

const checked = () => (globalThis as { directJsonChecked?: number }).directJsonChecked ?? 0;

function fleet() {
  const chart = Testing.chart();
  const checkpointStore = new CheckpointStore(chart, 'Checkpoints');
  const workers = new AgentScaledJob(chart, 'Workers', {
    image: 'registry.example.com/agent:1.0.0',
    queue: QueueConnection.fromSecretName('agent-secrets'),
    queueName: 'tasks',
    checkpointStore,
    resources: {
      requests: { cpu: Quantity.cpuMillis(500), memory: Quantity.gibibytes(2) },
      limits: { memory: Quantity.gibibytes(4) },
    },
  });
  new AgentGuardrails(chart, 'Guardrails', {
    agents: [workers],
    egress: [EgressPeer.namespace('rabbitmq', { ports: [{ port: 5672, protocol: Protocol.TCP }] })],
  });
  return chart;
}

test('every object of a fleet is compared with the generated rendering', () => {
  const chart = fleet();
  const before = checked();
  const objects = chart.toJson();
  // ScaledJob, TriggerAuthentication, PVC, NetworkPolicy (and LimitRange/ResourceQuota when set).
  expect(checked() - before).toBeGreaterThanOrEqual(4);
  expect(objects.length).toBeGreaterThanOrEqual(4);
});

test('the check fails when a union path is missing (a quantity left as { value })', () => {
  const Quota = withDirectJson(k8s.KubeResourceQuota, []);
  const chart = Testing.chart();
  new Quota(chart, 'Quota', { spec: { hard: { 'requests.cpu': k8s.Quantity.fromString('2') } } });
  expect(() => chart.toJson()).toThrow(/withDirectJson renders .*Quota differently/);
});

test('a patched object falls back to the generated conversion (which drops unknown fields)', () => {
  const Quota = withDirectJson(k8s.KubeResourceQuota, ['spec.hard.*']);
  const chart = Testing.chart();
  const quota = new Quota(chart, 'Quota', { spec: { hard: { pods: k8s.Quantity.fromNumber(10) } } });
  expect(quota.toJson().spec).toEqual({ hard: { pods: 10 } });
  quota.addJsonPatch(JsonPatch.add('/spec/scopes', ['BestEffort']));
  expect(quota.toJson()).toEqual(generatedJson(quota));
  expect(generatedJson(new k8s.KubeNamespace(chart, 'Plain'))).toBeUndefined();
});

describe('renderApiObject renders as ApiObject.toJson() does', () => {
  const plain = (obj: ApiObject) => ApiObject.prototype.toJson.call(obj);
  const union = (value: number | string) =>
    new (class Union {
      constructor(readonly value: number | string) {}
    })(value);

  test('tokens, unions, undefined values, empty arrays and objects, metadata', () => {
    const chart = Testing.chart();
    const obj = new ApiObject(chart, 'Obj', {
      apiVersion: 'v1',
      kind: 'Thing',
      metadata: { labels: { b: '2', a: '1' }, annotations: {}, finalizers: [], ownerReferences: [] },
      zeta: Lazy.any({
        produce: () => ({ y: [1, undefined, null, { value: 'v' }], x: { resolve: () => 'token' } }),
      }),
      alpha: { empty: {}, none: [], gone: undefined, nil: null, port: union(8080), size: union('1Gi') },
      list: [Lazy.any({ produce: () => 'lazy' }), { nested: { resolve: () => ({ b: 1, a: undefined }) } }],
    });
    obj.metadata.addLabel('c', '3');
    obj.metadata.add('extra', { kept: [], dropped: {} });
    const direct = renderApiObject(obj);
    expect(direct).toBeDefined();
    expect(JSON.stringify(direct)).toBe(JSON.stringify(plain(obj)));
  });

  test('an object it does not know how to render is left to cdk8s', () => {
    const chart = Testing.chart();
    const obj = new ApiObject(chart, 'Obj', { apiVersion: 'v1', kind: 'Thing', spec: { at: new Date(0) } });
    expect(renderApiObject(obj)).toBeUndefined();
    const proto = new ApiObject(chart, 'Proto', {
      apiVersion: 'v1',
      kind: 'Thing',
      spec: JSON.parse('{"__proto__": {"a": 1}}'),
    });
    expect(renderApiObject(proto)).toBeUndefined();
    const failing = new ApiObject(chart, 'Failing', {
      apiVersion: 'v1',
      kind: 'Thing',
      spec: Lazy.any({
        produce: () => {
          throw new Error('no value');
        },
      }),
    });
    expect(renderApiObject(failing)).toBeUndefined();
  });

  test('a patched object is left to cdk8s', () => {
    const chart = Testing.chart();
    const obj = new ApiObject(chart, 'Obj', { apiVersion: 'v1', kind: 'Thing', spec: { a: 1 } });
    obj.addJsonPatch(JsonPatch.add('/spec/b', 2));
    expect(renderApiObject(obj)).toBeUndefined();
  });
});

describe('renderings shared between the synth-time checks and the output', () => {
  test('an object the checks rendered is not rendered again for the output', () => {
    const chart = fleet();
    let renders = 0;
    const Quota = withDirectJson(k8s.KubeResourceQuota, []);
    // Under a construct with synth-time checks (the credential scan reads every object it owns).
    new Quota(chart.node.findChild('Checkpoints') as CheckpointStore, 'Counted', {
      spec: {
        scopes: Lazy.any({
          produce: () => {
            renders++;
            return ['BestEffort'];
          },
        }),
      },
    });
    chart.toJson();
    // One rendering for the checks and the output; test/support/direct-json-check.ts then renders
    // it twice more to compare the direct rendering with the generated one.
    expect(renders).toBe(3);
    renders = 0;
    for (const c of chart.node.findAll()) c.node.validate();
    // Outside a synthesis, each validation renders afresh.
    expect(renders).toBe(1);
  });

  test('a change after a synthesis is in the next rendering, synthesized or not', () => {
    const chart = fleet();
    chart.toJson();
    const workers = chart.node.findChild('Workers') as AgentScaledJob;
    const scaledJob = workers.node
      .findAll()
      .find((c): c is ApiObject => c instanceof ApiObject && c.kind === 'ScaledJob');
    expect(scaledJob).toBeDefined();
    for (const c of chart.node.findAll()) c.node.validate();
    scaledJob!.metadata.addLabel('added', 'later');
    expect(scaledJob!.toJson().metadata.labels.added).toBe('later');
    const synthesized = chart.toJson().find((o) => o.kind === 'ScaledJob');
    expect(synthesized.metadata.labels.added).toBe('later');
  });

  test('the checks raise their errors through chart.toJson() and node.validate()', () => {
    const chart = fleet();
    const workers = chart.node.findChild('Workers') as AgentScaledJob;
    const scaledJob = workers.node
      .findAll()
      .find((c): c is ApiObject => c instanceof ApiObject && c.kind === 'ScaledJob');
    scaledJob!.metadata.addAnnotation('note', 'amqp://agent:s3cretPassw0rd@rabbitmq:5672/');
    expect(() => chart.toJson()).toThrow(/credential|password/i);
    expect(() => workers.node.validate()).toThrow(/credential|password/i);
  });
});

/**
 * `withDirectJson` (lib/direct-json.ts) skips the generated L1 conversion for our objects. Every
 * lib test compares both renderings of every such object (test/support/direct-json-check.ts);
 * these tests prove that check runs, can fail, and that the escape hatches fall back.
 */
import { JsonPatch, Testing } from 'cdk8s';
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
import { generatedJson, withDirectJson } from '../lib/internal/direct-json';

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

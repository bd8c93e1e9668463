/**
 * Benchmark 1: synthesis time of N complete fleets in one Chart, with our constructs vs the same
 * objects written as raw L1 ApiObjects (the baseline), measured in the same process and run.
 */
import { performance } from 'node:perf_hooks';
import { ApiObject, App, Chart } from 'cdk8s';
import {
  AgentGuardrails,
  AgentScaledJob,
  CheckpointStore,
  EgressPeer,
  Protocol,
  Quantity,
  QueueConnection,
} from '../lib';

/** One complete fleet: a ScaledJob (+ TriggerAuthentication), its checkpoint volume and guardrails. */
function fleet(chart: Chart, i: number): void {
  const queue = QueueConnection.fromSecretName('agent-secrets', 'queue-url');
  const checkpointStore = new CheckpointStore(chart, `Checkpoints${i}`, { claimName: `checkpoints-${i}` });
  const workers = new AgentScaledJob(chart, `Workers${i}`, {
    name: `workers-${i}`,
    image: 'registry.example.com/agent:1.0.0',
    queue,
    queueName: `tasks-${i}`,
    resultQueueName: `results-${i}`,
    checkpointStore,
    maxReplicaCount: 50,
    resources: {
      requests: { cpu: Quantity.cpuMillis(500), memory: Quantity.gibibytes(2) },
      limits: { memory: Quantity.gibibytes(4) },
    },
  });
  new AgentGuardrails(chart, `Guardrails${i}`, {
    agents: [workers],
    egress: [EgressPeer.namespace('rabbitmq', { ports: [{ port: 5672, protocol: Protocol.TCP }] })],
  });
}

/** The objects of fleet 0 as JSON, to be replayed as raw ApiObjects by the baseline. */
function fleetTemplate(): Record<string, unknown>[] {
  const chart = new Chart(new App(), 'template', { namespace: 'agents' });
  fleet(chart, 0);
  return chart.toJson();
}

function buildOurs(fleets: number): Chart {
  const chart = new Chart(new App(), 'fleets', { namespace: 'agents' });
  for (let i = 0; i < fleets; i++) fleet(chart, i);
  return chart;
}

function buildRaw(fleets: number, template: Record<string, unknown>[]): Chart {
  const chart = new Chart(new App(), 'fleets', { namespace: 'agents' });
  for (let i = 0; i < fleets; i++) {
    template.forEach((obj, j) => {
      const { apiVersion, kind, metadata, ...rest } = obj as {
        apiVersion: string;
        kind: string;
        metadata: { name: string };
      };
      new ApiObject(chart, `Fleet${i}Obj${j}`, {
        apiVersion,
        kind,
        metadata: { ...metadata, name: `${metadata.name}-${i}` },
        ...structuredClone(rest),
      });
    });
  }
  return chart;
}

function timeMs(build: () => Chart): { ms: number; objects: number } {
  const start = performance.now();
  const objects = build().toJson().length;
  return { ms: performance.now() - start, objects };
}

export interface SynthResult {
  readonly fleets: number;
  readonly objects: number;
  readonly oursMs: number[];
  readonly rawMs: number[];
}

/** Where one build of `fleets` fleets spends its time: constructing, validating, rendering (ms). */
export interface SynthBreakdown {
  readonly fleets: number;
  readonly constructMs: number;
  /** `chart.toJson()`: a validation pass, then rendering every object. */
  readonly toJsonMs: number;
  /** A validation pass alone: every construct's `node.validate()` (the checks run at synth time). */
  readonly validateMs: number;
  /** Rendering alone: every object's `toJson()` once. */
  readonly renderMs: number;
  readonly rawConstructMs: number;
  readonly rawToJsonMs: number;
}

export function synthBreakdown(fleets: number): SynthBreakdown {
  const template = fleetTemplate();
  const time = (work: () => void) => {
    const t = performance.now();
    work();
    return performance.now() - t;
  };
  let ours: Chart | undefined;
  const constructMs = time(() => {
    ours = buildOurs(fleets);
  });
  const chart = ours!;
  const toJsonMs = time(() => chart.toJson());
  const validateMs = time(() => {
    for (const c of chart.node.findAll()) c.node.validate();
  });
  const renderMs = time(() => {
    for (const c of chart.node.findAll()) if (c instanceof ApiObject) c.toJson();
  });
  let raw: Chart | undefined;
  const rawConstructMs = time(() => {
    raw = buildRaw(fleets, template);
  });
  const rawToJsonMs = time(() => raw!.toJson());
  return { fleets, constructMs, toJsonMs, validateMs, renderMs, rawConstructMs, rawToJsonMs };
}

export function benchSynth(sizes: readonly number[], runs: number): SynthResult[] {
  const template = fleetTemplate();
  // Warm both paths so the first measured sizes do not pay for module loading and JIT (5 fleets
  // left our longer code paths colder than the baseline's, inflating the small-size ratios).
  for (let i = 0; i < 3; i++) {
    timeMs(() => buildOurs(200));
    timeMs(() => buildRaw(200, template));
  }
  return sizes.map((fleets) => {
    const oursMs: number[] = [];
    const rawMs: number[] = [];
    let objects = 0;
    // The largest size takes seconds per build: at most 3 runs there.
    const sizeRuns = fleets >= 5000 ? Math.min(runs, 3) : runs;
    for (let r = 0; r < sizeRuns; r++) {
      // Alternate the order so neither side always runs on a warmer heap.
      const first = r % 2 === 0;
      const a = first ? timeMs(() => buildOurs(fleets)) : timeMs(() => buildRaw(fleets, template));
      const b = first ? timeMs(() => buildRaw(fleets, template)) : timeMs(() => buildOurs(fleets));
      const [ours, raw] = first ? [a, b] : [b, a];
      if (ours.objects !== raw.objects)
        throw new Error(`object counts differ: ${ours.objects} vs ${raw.objects}`);
      objects = ours.objects;
      oursMs.push(ours.ms);
      rawMs.push(raw.ms);
    }
    return { fleets, objects, oursMs, rawMs };
  });
}

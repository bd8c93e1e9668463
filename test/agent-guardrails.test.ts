import { Defaults } from '@agent-fleet/contract';
import { Chart, Testing } from 'cdk8s';
import fc from 'fast-check';
import { AgentFleetChart } from '../examples/main';
import {
  AgentFleetValidationError,
  AgentGuardrails,
  type AgentGuardrailsProps,
  AgentJob,
  type AgentJobProps,
  type AgentPodProps,
  AgentPool,
  AgentScaledJob,
  EgressPeer,
  type IAgentWorkload,
  NamespaceQuota,
  Protocol,
  Quantity,
  QueueConnection,
  RabbitMqProtocol,
  ScaledJobTrigger,
  secretKey,
  TriggerAuth,
  UnhealthyPodEvictionPolicy,
  WORKLOAD_LABEL,
} from '../lib';
import {
  ACKNOWLEDGED_WARNING_METADATA,
  minAvailableFor,
  NAMESPACE_NAME_LABEL,
  WARNING_METADATA,
} from '../lib/agent-guardrails';
import { type Manifest, only, synthValid } from './support/manifests';

const queue = QueueConnection.fromSecretName('agent-secrets', 'queue-url');
const jobProps: AgentJobProps & AgentPodProps = { image: 'registry.example.com/agent:1.0.0', queue };

function newChart(): Chart {
  return Testing.chart();
}

function job(chart: Chart, props: Partial<AgentJobProps> = {}): AgentJob {
  return new AgentJob(chart, props.name ?? 'Agents', {
    ...jobProps,
    name: 'agents',
    completions: 20,
    parallelism: 20,
    ...props,
  });
}

function scaled(chart: Chart, maxReplicaCount = 50): AgentScaledJob {
  return new AgentScaledJob(chart, 'Workers', {
    ...jobProps,
    name: 'workers',
    triggers: [ScaledJobTrigger.rabbitmq({ value: 5 })],
    maxReplicaCount,
  });
}

function guard(chart: Chart, props: Partial<AgentGuardrailsProps> & { agents?: IAgentWorkload[] } = {}) {
  return new AgentGuardrails(chart, 'Guardrails', { agents: props.agents ?? [job(chart)], ...props });
}

function synthGuarded(props: Partial<AgentGuardrailsProps> = {}): Manifest[] {
  const chart = newChart();
  guard(chart, props);
  return synthValid(chart);
}

function kinds(objects: Manifest[], kind: string): Manifest[] {
  return objects.filter((o) => o.kind === kind);
}

describe('AgentGuardrails PodDisruptionBudget', () => {
  test('an AgentJob gets an integer minAvailable over its pods, never maxUnavailable or a percentage', () => {
    const pdb = only(synthGuarded(), 'PodDisruptionBudget');
    expect(pdb.apiVersion).toBe('policy/v1');
    // parallelism 20, 10% → at most 2 disrupted → 18 must stay.
    expect(pdb.spec.minAvailable).toBe(18);
    expect(Number.isInteger(pdb.spec.minAvailable)).toBe(true);
    expect(pdb.spec.maxUnavailable).toBeUndefined();
    expect(JSON.stringify(pdb)).not.toMatch(/%/);
    expect(pdb.spec.selector).toEqual({ matchLabels: { [WORKLOAD_LABEL]: 'agents' } });
  });

  test('the selector is the workload’s own selectorLabels', () => {
    const chart = newChart();
    const agents = job(chart, { name: 'batch' });
    guard(chart, { agents: [agents] });
    const pdb = only(synthValid(chart), 'PodDisruptionBudget');
    expect(pdb.spec.selector.matchLabels).toEqual(agents.selectorLabels);
    const jobObj = only(synthValid(chart), 'Job');
    for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) {
      expect(jobObj.spec.template.metadata.labels[k]).toBe(v);
    }
  });

  test('unhealthyPodEvictionPolicy is AlwaysAllow by default and can be changed', () => {
    expect(only(synthGuarded(), 'PodDisruptionBudget').spec.unhealthyPodEvictionPolicy).toBe('AlwaysAllow');
    const pdb = only(
      synthGuarded({ unhealthyPodEvictionPolicy: UnhealthyPodEvictionPolicy.IF_HEALTHY_BUDGET }),
      'PodDisruptionBudget',
    );
    expect(pdb.spec.unhealthyPodEvictionPolicy).toBe('IfHealthyBudget');
  });

  test('maxDisruptedPercent sets the budget; a small fleet may still lose one pod', () => {
    expect(only(synthGuarded({ maxDisruptedPercent: 25 }), 'PodDisruptionBudget').spec.minAvailable).toBe(15);
    expect(only(synthGuarded({ maxDisruptedPercent: 100 }), 'PodDisruptionBudget').spec.minAvailable).toBe(0);
    const chart = newChart();
    guard(chart, { agents: [job(chart, { completions: 5, parallelism: 5 })] });
    // 10% of 5 rounds down to 0, which would hang every drain: one eviction is always allowed.
    expect(only(synthValid(chart), 'PodDisruptionBudget').spec.minAvailable).toBe(4);
  });

  test('a single-pod Job may be evicted (minAvailable 0)', () => {
    const chart = newChart();
    guard(chart, { agents: [job(chart, { completions: 1, parallelism: 1 })] });
    expect(only(synthValid(chart), 'PodDisruptionBudget').spec.minAvailable).toBe(0);
  });

  test('a ScaledJob gets no PDB, and a warning in node.metadata saying why', () => {
    const chart = newChart();
    const g = guard(chart, { agents: [job(chart), scaled(chart)] });
    const objects = synthValid(chart);
    expect(kinds(objects, 'PodDisruptionBudget').map((p) => p.metadata.name)).toEqual(['agents']);
    const warnings = g.node.metadata.filter((m) => m.type === WARNING_METADATA).map((m) => m.data);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/no PodDisruptionBudget for queue-driven workload "workers"/);
    expect(warnings[0]).toMatch(/maxReplicaCount \(50\)/);
    expect(warnings[0]).toMatch(/DisruptionTarget/);
    expect(g.warnings).toEqual(warnings);
    expect(g.disruptionBudgets).toHaveLength(1);
  });

  test('an acknowledged ScaledJob: the notice stays in node.metadata, marked acknowledged, and is not printed', () => {
    const emitted = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      jest.isolateModules(() => {
        // A fresh module instance: the once-per-process print has not happened in it yet.
        const lib = require('../lib') as typeof import('../lib');
        const chart = Testing.chart();
        const workers = new lib.AgentScaledJob(chart, 'Workers', { ...jobProps, name: 'workers' });
        const g = new lib.AgentGuardrails(chart, 'Guardrails', {
          agents: [workers],
          acknowledgeNoDisruptionBudget: [workers],
        });
        expect(g.warnings).toEqual([]);
        expect(g.node.metadata.filter((m) => m.type === WARNING_METADATA)).toEqual([]);
        const acknowledged = g.node.metadata.filter((m) => m.type === ACKNOWLEDGED_WARNING_METADATA);
        expect(acknowledged.map((m) => m.data)).toEqual(g.acknowledgedWarnings);
        expect(acknowledged[0]?.data).toMatch(/no PodDisruptionBudget for queue-driven workload "workers"/);
        expect(emitted).not.toHaveBeenCalled();
        // The same module instance still prints an unacknowledged workload's notice.
        const other = new lib.AgentScaledJob(chart, 'Others', { ...jobProps, name: 'others' });
        new lib.AgentGuardrails(chart, 'MoreGuardrails', { agents: [other] });
        expect(emitted).toHaveBeenCalledTimes(1);
        expect(String(emitted.mock.calls[0]?.[0])).toMatch(/"others".*acknowledgeNoDisruptionBudget/);
      });
    } finally {
      emitted.mockRestore();
    }
  });

  test('acknowledging a workload that is not guarded, or that gets a PDB, is an error naming the prop', () => {
    const chart = newChart();
    const fixed = job(chart);
    const workers = scaled(chart);
    expect(() => guard(chart, { agents: [fixed], acknowledgeNoDisruptionBudget: [workers] })).toThrow(
      /acknowledgeNoDisruptionBudget\[0\] = "workers" is not one of `agents`/,
    );
    const chart2 = newChart();
    const fixed2 = job(chart2);
    expect(() => guard(chart2, { agents: [fixed2], acknowledgeNoDisruptionBudget: [fixed2] })).toThrow(
      /acknowledgeNoDisruptionBudget\[0\] = "agents" has a fixed pod count/,
    );
  });

  test('a fixed fleet only: no warning', () => {
    const chart = newChart();
    const g = guard(chart);
    expect(g.node.metadata.filter((m) => m.type === WARNING_METADATA)).toEqual([]);
  });

  test('property: minAvailable is an integer in [0, P] and at most max(1, floor(P·pct/100)) pods are disrupted', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 100 }), (p, pct) => {
        const min = minAvailableFor(p, pct);
        expect(Number.isInteger(min)).toBe(true);
        expect(min).toBeGreaterThanOrEqual(0);
        expect(min).toBeLessThanOrEqual(p);
        expect(p - min).toBeLessThanOrEqual(Math.max(1, Math.floor((p * pct) / 100)));
        // and the budget is not stricter than documented: exactly that many may go.
        expect(p - min).toBe(Math.min(p, Math.max(1, Math.floor((p * pct) / 100))));
        // drains always make progress while all P run
        expect(p - min).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 300 },
    );
  });

  test('property holds on synthesized PDBs too', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 100 }), (p, pct) => {
        const chart = newChart();
        guard(chart, { agents: [job(chart, { completions: p, parallelism: p })], maxDisruptedPercent: pct });
        const pdb = only(Testing.synth(chart), 'PodDisruptionBudget');
        expect(pdb.spec.minAvailable).toBe(minAvailableFor(p, pct));
      }),
      { numRuns: 200 },
    );
  });
});

describe('AgentGuardrails over a pool (a Deployment)', () => {
  function pool(chart: Chart): AgentPool {
    return new AgentPool(chart, 'Pool', {
      ...jobProps,
      name: 'pool',
      maxReplicaCount: 8,
      triggers: [
        ScaledJobTrigger.rabbitmq({
          protocol: RabbitMqProtocol.HTTP,
          auth: TriggerAuth.secrets({ host: secretKey('agent-secrets', 'management-url') }),
        }),
      ],
    });
  }

  test('a pool gets maxUnavailable as a percentage, which follows its current size', () => {
    const chart = newChart();
    guard(chart, { agents: [pool(chart)], maxDisruptedPercent: 12.5 });
    const pdb = only(synthValid(chart), 'PodDisruptionBudget');
    expect(pdb.spec).toEqual({
      maxUnavailable: '12%',
      selector: { matchLabels: { [WORKLOAD_LABEL]: 'pool' } },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    });
  });

  test('a percentage below 1 still lets one agent go', () => {
    const chart = newChart();
    guard(chart, { agents: [pool(chart)], maxDisruptedPercent: 0.5 });
    expect(only(synthValid(chart), 'PodDisruptionBudget').spec.maxUnavailable).toBe('1%');
  });

  test('no notice for a pool, and acknowledging one is an error', () => {
    const chart = newChart();
    const p = pool(chart);
    expect(guard(chart, { agents: [p] }).warnings).toEqual([]);
    expect(() => guard(newChart(), { agents: [p], acknowledgeNoDisruptionBudget: [p] })).toThrow();
    const other = newChart();
    const q = pool(other);
    expect(
      () => new AgentGuardrails(other, 'G', { agents: [q], acknowledgeNoDisruptionBudget: [q] }),
    ).toThrow(/acknowledgeNoDisruptionBudget\[0\] = "pool" is a pool and gets a PodDisruptionBudget/);
  });

  test('the derived quota counts the pods a rolling update adds at full size', () => {
    const chart = newChart();
    guard(chart, { agents: [pool(chart)], resourceQuota: NamespaceQuota.fromAgents() });
    // 8 replicas + 2 surge pods (25%, rounded up) × 500m / 1Gi requests, 2Gi memory limit.
    expect(only(synthValid(chart), 'ResourceQuota').spec.hard).toEqual({
      'requests.cpu': '5',
      'requests.memory': '10Gi',
      'limits.memory': '20Gi',
    });
  });
});

describe('AgentGuardrails NetworkPolicy', () => {
  const chart = newChart();
  const a = job(chart, { name: 'batch' });
  const w = scaled(chart);
  guard(chart, {
    agents: [a, w],
    egress: [
      EgressPeer.namespace('rabbitmq', {
        podSelector: { 'app.kubernetes.io/name': 'rabbitmq' },
        ports: [{ port: 5672 }],
      }),
      EgressPeer.ipBlock('203.0.113.0/24', { except: ['203.0.113.128/25'], ports: [{ port: 443 }] }),
      EgressPeer.ipBlock('2001:db8::/32', { ports: [{ port: 443, protocol: Protocol.TCP }] }),
    ],
  });
  const policies = kinds(synthValid(chart), 'NetworkPolicy');

  test('one default-deny policy per workload, selecting its pods', () => {
    expect(policies.map((p) => p.spec.podSelector.matchLabels)).toEqual([a.selectorLabels, w.selectorLabels]);
    for (const p of policies) expect(p.spec.policyTypes).toEqual(['Ingress', 'Egress']);
  });

  test('DNS to kube-dns in kube-system (by kubernetes.io/metadata.name) over UDP and TCP 53', () => {
    for (const p of policies) {
      expect(p.spec.egress[0]).toEqual({
        to: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
            podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
          },
        ],
        ports: [
          { port: 53, protocol: 'UDP' },
          { port: 53, protocol: 'TCP' },
        ],
      });
    }
  });

  test('egress peers: namespace by immutable label (never `name`), ip blocks with except', () => {
    const [, ns, v4, v6] = policies[0].spec.egress;
    expect(ns).toEqual({
      to: [
        {
          namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: 'rabbitmq' } },
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'rabbitmq' } },
        },
      ],
      ports: [{ port: 5672, protocol: 'TCP' }],
    });
    expect(v4).toEqual({
      to: [{ ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.128/25'] } }],
      ports: [{ port: 443, protocol: 'TCP' }],
    });
    expect(v6.to).toEqual([{ ipBlock: { cidr: '2001:db8::/32' } }]);
    expect(JSON.stringify(policies)).not.toMatch(/"name":"(rabbitmq|kube-system|monitoring)"/);
  });

  test('ingress only to the contract metrics port from the monitoring namespace', () => {
    for (const p of policies) {
      expect(p.spec.ingress).toEqual([
        {
          from: [{ namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: 'monitoring' } } }],
          ports: [{ port: Defaults.metricsPort, protocol: 'TCP' }],
        },
      ]);
    }
  });

  test('the ingress port is the port the agent container exposes', () => {
    const objects = synthValid(chart);
    const container = only(objects, 'Job').spec.template.spec.containers[0];
    expect(container.ports.map((p: Manifest) => p.containerPort)).toContain(
      policies[0].spec.ingress[0].ports[0].port,
    );
  });

  test('monitoring namespace, monitoring pods and DNS location are configurable', () => {
    const p = only(
      synthGuarded({
        monitoringNamespace: 'observability',
        monitoringPodSelector: { 'app.kubernetes.io/name': 'prometheus' },
        dns: { namespace: 'dns-system', podSelector: { app: 'coredns' } },
      }),
      'NetworkPolicy',
    );
    expect(p.spec.ingress[0].from).toEqual([
      {
        namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: 'observability' } },
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
      },
    ]);
    expect(p.spec.egress[0].to).toEqual([
      {
        namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: 'dns-system' } },
        podSelector: { matchLabels: { app: 'coredns' } },
      },
    ]);
    expect(p.spec.egress[0].ports.map((x: Manifest) => x.protocol)).toEqual(['UDP', 'TCP']);
  });

  test('without egress peers, DNS is the only egress', () => {
    expect(only(synthGuarded(), 'NetworkPolicy').spec.egress).toHaveLength(1);
  });
});

describe('AgentGuardrails LimitRange and ResourceQuota', () => {
  const limitRange = {
    containerDefault: { cpu: Quantity.cpus(2), memory: Quantity.gibibytes(4) },
    containerDefaultRequest: { cpu: Quantity.cpuMillis(500), memory: Quantity.gibibytes(2) },
    containerMax: { cpu: Quantity.cpus(4), memory: Quantity.gibibytes(8) },
    podMax: { cpu: Quantity.cpus(4), memory: Quantity.gibibytes(8) },
  };

  test('LimitRange: container default, defaultRequest, max, and a pod max', () => {
    const lr = only(synthGuarded({ limitRange }), 'LimitRange');
    expect(lr.spec.limits).toEqual([
      {
        type: 'Container',
        default: { cpu: '2', memory: '4Gi' },
        defaultRequest: { cpu: '500m', memory: '2Gi' },
        max: { cpu: '4', memory: '8Gi' },
      },
      { type: 'Pod', max: { cpu: '4', memory: '8Gi' } },
    ]);
  });

  test('no LimitRange or ResourceQuota unless asked', () => {
    const objects = synthGuarded();
    expect(kinds(objects, 'LimitRange')).toEqual([]);
    expect(kinds(objects, 'ResourceQuota')).toEqual([]);
  });

  test('ResourceQuota derived from maxConcurrentPods × resources, LimitRange defaults filling gaps', () => {
    const chart = newChart();
    const a = job(chart, {
      resources: {
        requests: { cpu: Quantity.cpuMillis(500), memory: Quantity.gibibytes(1) },
        limits: { cpu: Quantity.cpuMillis(1500), memory: Quantity.gibibytes(2) },
      },
    }); // 20 pods
    const w = scaled(chart, 10); // default resources: no cpu limit → LimitRange default 2
    guard(chart, { agents: [a, w], limitRange, resourceQuota: NamespaceQuota.fromAgents() });
    const quota = only(synthValid(chart), 'ResourceQuota');
    expect(quota.spec.hard).toEqual({
      'requests.cpu': '15', // 20×0.5 + 10×0.5
      'requests.memory': '30Gi', // 20×1 + 10×1
      'limits.cpu': '50', // 20×1.5 + 10×2 (default)
      'limits.memory': '60Gi', // 20×2 + 10×2
    });
  });

  test('a resource some agent leaves unset is not capped (the quota would reject its pods)', () => {
    const chart = newChart();
    guard(chart, { agents: [job(chart)], resourceQuota: NamespaceQuota.fromAgents() });
    // default resources: requests 500m/1Gi, limit memory 2Gi, no cpu limit
    expect(only(synthValid(chart), 'ResourceQuota').spec.hard).toEqual({
      'requests.cpu': '10',
      'requests.memory': '20Gi',
      'limits.memory': '40Gi',
    });
  });

  test('explicit ResourceQuota', () => {
    const quota = only(
      synthGuarded({
        resourceQuota: NamespaceQuota.of({
          requests: { cpu: Quantity.cpus(10), memory: Quantity.gibibytes(20) },
          limits: { memory: Quantity.gibibytes(40) },
          pods: 30,
        }),
      }),
      'ResourceQuota',
    );
    expect(quota.spec.hard).toEqual({
      'requests.cpu': '10',
      'requests.memory': '20Gi',
      'limits.memory': '40Gi',
      pods: '30',
    });
  });
});

describe('AgentGuardrails in the example app', () => {
  test('the tutorial guardrails match their snapshot', () => {
    const chart = new AgentFleetChart(Testing.app(), 'agent-fleet');
    const objects = synthValid(chart);
    const [pdb, poolPdb] = kinds(objects, 'PodDisruptionBudget').filter(
      (o) => o.metadata.namespace === 'agents',
    );
    expect(pdb.metadata).toMatchObject({ name: 'agent-batch-run', namespace: 'agents' });
    expect(pdb.spec.minAvailable).toBe(18);
    expect(poolPdb.metadata).toMatchObject({ name: 'agent-reviewers', namespace: 'agents' });
    expect(poolPdb.spec.maxUnavailable).toBe('10%');
    const lr = only(objects, 'LimitRange');
    expect(lr.spec.limits[0]).toMatchObject({
      default: { cpu: '2', memory: '4Gi' },
      defaultRequest: { cpu: '500m', memory: '2Gi' },
      max: { cpu: '4', memory: '8Gi' },
    });
    const policies = kinds(objects, 'NetworkPolicy').filter((o) => o.metadata.namespace === 'agents');
    expect(policies.map((p) => p.metadata.name)).toEqual([
      'agent-batch-run',
      'agent-workers',
      'agent-reviewers',
      'agent-eval',
    ]);
    // The pool also reaches its model server (in its own namespace) on the server's port.
    expect(policies[2].spec.egress.at(-1)).toEqual({
      to: [
        {
          namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: 'llm-serving' } },
          podSelector: { matchLabels: { 'agent-fleet.dev/model-server': 'local-llm' } },
        },
      ],
      ports: [{ port: 8000, protocol: 'TCP' }],
    });
    expect(policies[0].spec.egress.slice(1)).toEqual([
      {
        to: [{ namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: 'rabbitmq' } } }],
        ports: [{ port: 5672, protocol: 'TCP' }],
      },
      { to: [{ ipBlock: { cidr: '203.0.113.0/24' } }], ports: [{ port: 443, protocol: 'TCP' }] },
    ]);
    const guardrails = objects.filter(
      (o) =>
        ['PodDisruptionBudget', 'LimitRange', 'ResourceQuota', 'NetworkPolicy'].includes(o.kind) &&
        o.metadata.namespace === 'agents',
    );
    expect(guardrails).toMatchSnapshot();
  });
});

describe('AgentGuardrails fails', () => {
  function fails(build: (chart: Chart) => void, pattern: RegExp) {
    const chart = newChart();
    let error: unknown;
    try {
      build(chart);
      synthValid(chart);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AgentFleetValidationError);
    expect((error as Error).message).toMatch(pattern);
  }

  test('fails with no agents', () => {
    fails((c) => new AgentGuardrails(c, 'G', { agents: [] }), /agents = \[\] names no agent workload. Fix:/);
  });

  test('fails when an agent is not an agent workload', () => {
    fails(
      (c) => new AgentGuardrails(c, 'G', { agents: [{ name: 'x' } as unknown as IAgentWorkload] }),
      /agents\[0\] = "x" is not an agent workload.*Fix: pass an AgentJob, AgentScaledJob or AgentPool/,
    );
    fails(
      (c) => new AgentGuardrails(c, 'G', { agents: [job(c), undefined as unknown as IAgentWorkload] }),
      /agents\[1\] = undefined is not an agent workload/,
    );
  });

  test('fails when an agent is listed twice', () => {
    fails((c) => {
      const a = job(c);
      new AgentGuardrails(c, 'G', { agents: [a, a] });
    }, /agents\[1\] = "agents" is listed twice/);
  });

  test('fails when an agent lives in another namespace', () => {
    const app = Testing.app();
    const other = new Chart(app, 'other', { namespace: 'other' });
    const mine = new Chart(app, 'mine', { namespace: 'mine' });
    const a = job(other);
    expect(() => new AgentGuardrails(mine, 'G', { agents: [a] })).toThrow(
      /agents\[0\] = "agents" is in namespace other, but these guardrails are in mine/,
    );
  });

  test.each([0, -5, 100.5, 250, Number.NaN])('fails when maxDisruptedPercent is %p', (pct) => {
    fails(
      (c) => guard(c, { maxDisruptedPercent: pct }),
      /maxDisruptedPercent = .* is not a percentage in \(0, 100\]/,
    );
  });

  test('fails when the LimitRange default is above max', () => {
    fails(
      (c) =>
        guard(c, {
          limitRange: {
            containerDefault: { memory: Quantity.gibibytes(16) },
            containerMax: { memory: Quantity.gibibytes(8) },
          },
        }),
      /limitRange.containerDefault.memory = "16Gi" is above limitRange.containerMax.memory \(8Gi\).*Fix: lower it to at most 8Gi/,
    );
  });

  test('fails when the LimitRange defaultRequest is above default', () => {
    fails(
      (c) =>
        guard(c, {
          limitRange: {
            containerDefault: { cpu: Quantity.cpus(1), memory: Quantity.gibibytes(4) },
            containerDefaultRequest: { cpu: Quantity.cpus(2) },
          },
        }),
      /limitRange.containerDefaultRequest.cpu = "2" is above limitRange.containerDefault.cpu \(1\)/,
    );
  });

  test('fails when the LimitRange defaultRequest is above max', () => {
    fails(
      (c) =>
        guard(c, {
          limitRange: {
            containerDefaultRequest: { memory: Quantity.gibibytes(2) },
            containerMax: { memory: Quantity.gibibytes(1) },
          },
        }),
      /limitRange.containerDefaultRequest.memory = "2Gi" is above limitRange.containerMax.memory/,
    );
  });

  test('fails on a LimitRange quantity Kubernetes would refuse', () => {
    fails(
      (c) => guard(c, { limitRange: { containerMax: { memory: Quantity.of('8Gb') } } }),
      /limitRange.containerMax.memory = "8Gb" is not a Kubernetes quantity/,
    );
  });

  test('fails on an empty LimitRange', () => {
    fails((c) => guard(c, { limitRange: {} }), /limitRange = \{\} sets nothing/);
  });

  test('fails when the LimitRange would reject an agent’s pods', () => {
    fails(
      (c) =>
        guard(c, {
          limitRange: { containerMax: { memory: Quantity.gibibytes(1) } },
        }),
      /limitRange.containerMax.memory = "1Gi" is below agent "agents"'s memory limit \(2Gi\)/,
    );
    fails(
      (c) => guard(c, { limitRange: { podMax: { cpu: Quantity.cpus(4) } } }),
      /limitRange.podMax.cpu = "4" requires a cpu limit, but agent "agents" sets none/,
    );
  });

  test('fails to derive a quota when an agent has no limits', () => {
    fails(
      (c) =>
        guard(c, {
          agents: [job(c, { resources: { requests: { cpu: Quantity.cpuMillis(100) } } })],
          resourceQuota: NamespaceQuota.fromAgents(),
        }),
      /resourceQuota = "NamespaceQuota.fromAgents\(\)" cannot be derived: agent "agents" sets no cpu or memory limit/,
    );
  });

  test('fails on an explicit quota that sets nothing or a bad pod count', () => {
    fails((c) => guard(c, { resourceQuota: NamespaceQuota.of({}) }), /resourceQuota = \{\} sets no ceiling/);
    fails((c) => guard(c, { resourceQuota: NamespaceQuota.of({ pods: 0 }) }), /resourceQuota.pods = 0/);
  });

  test('fails on an egress peer without ports', () => {
    fails(
      (c) => guard(c, { egress: [EgressPeer.namespace('rabbitmq', { ports: [] })] }),
      /egress\[0\].ports = \[\] lists no port, which would allow every port/,
    );
    fails(
      (c) => guard(c, { egress: [EgressPeer.ipBlock('10.0.0.0/8', {} as never)] }),
      /egress\[0\].ports = undefined lists no port/,
    );
  });

  test('fails on a port out of range', () => {
    fails(
      (c) => guard(c, { egress: [EgressPeer.namespace('rabbitmq', { ports: [{ port: 70000 }] })] }),
      /egress\[0\].ports\[0\].port = 70000 is not a port number/,
    );
  });

  test('fails on an egress namespace that is not DNS-1123', () => {
    fails(
      (c) => guard(c, { egress: [EgressPeer.namespace('RabbitMQ', { ports: [{ port: 5672 }] })] }),
      /egress\[0\].namespace = "RabbitMQ" is not a DNS-1123 label/,
    );
    fails(
      (c) => guard(c, { egress: [EgressPeer.namespace('', { ports: [{ port: 5672 }] })] }),
      /egress\[0\].namespace = "" is not a DNS-1123 label/,
    );
  });

  test('fails on a bad monitoring or DNS namespace, or a bad selector', () => {
    fails((c) => guard(c, { monitoringNamespace: 'Monitoring' }), /monitoringNamespace = "Monitoring"/);
    fails((c) => guard(c, { dns: { namespace: 'kube_system' } }), /dns.namespace = "kube_system"/);
    fails((c) => guard(c, { dns: { podSelector: {} } }), /dns.podSelector = \{\} is empty/);
    fails(
      (c) => guard(c, { monitoringPodSelector: { app: 'prom etheus' } }),
      /monitoringPodSelector.app = "prom etheus" is not a valid label value/,
    );
  });

  test.each([
    ['10.0.0.0', /is not a CIDR/],
    ['10.0.0.0/33', /has a prefix longer than 32/],
    ['300.0.0.0/8', /does not start with an IP address/],
    ['api.openai.com/32', /does not start with an IP address/],
    ['10.0.0.1/8', /has host bits set.*"10.0.0.0\/8"/],
    ['2001:db8::1/32', /has host bits set/],
    ['2001:db8::/129', /has a prefix longer than 128/],
  ])('fails on the CIDR %p', (cidr, pattern) => {
    fails((c) => guard(c, { egress: [EgressPeer.ipBlock(cidr, { ports: [{ port: 443 }] })] }), pattern);
  });

  test('fails on an except outside the block', () => {
    fails(
      (c) =>
        guard(c, {
          egress: [
            EgressPeer.ipBlock('203.0.113.0/24', { except: ['198.51.100.0/25'], ports: [{ port: 443 }] }),
          ],
        }),
      /egress\[0\].except\[0\] = "198.51.100.0\/25" is not strictly inside 203.0.113.0\/24/,
    );
    fails(
      (c) =>
        guard(c, {
          egress: [
            EgressPeer.ipBlock('203.0.113.0/24', { except: ['203.0.113.0/24'], ports: [{ port: 443 }] }),
          ],
        }),
      /is not strictly inside/,
    );
  });

  test('fails on something that is not an EgressPeer', () => {
    fails(
      (c) => guard(c, { egress: [{ namespace: 'rabbitmq' } as unknown as EgressPeer] }),
      /egress\[0\] = \{"namespace":"rabbitmq"\} is not an EgressPeer/,
    );
  });
});

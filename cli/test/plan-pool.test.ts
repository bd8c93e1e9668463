/**
 * Scenario figures of `plan --pool`: the AgentPool's defaults (read back from the construct: min 1,
 * max 20, polls every 30 s, scale-down at most 10 % per 60 s grace period after a 300 s window) under a
 * burst and a steady rate, next to the ScaledJob AgentScaledJob writes for the same trigger value.
 * docs/cli.md quotes these figures.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as lib from '@agent-fleet/cdk8s';
import { App, Chart } from 'cdk8s';
import { stringify } from 'yaml';
import type { PlanFlags } from '../src/plan/command';
import { type PoolPlanResult, poolFromFlags, simulatePool } from '../src/plan/pool';
import { poolPlanFromFlags, replicasOverTime } from '../src/plan/pool-command';
import { simulatePlan } from '../src/plan/simulate';
import { cli } from './support/io';

/** Trigger value 5, the ScaledJob side as AgentScaledJob writes it. */
const flags = (extra: PlanFlags): PlanFlags => ({
  pool: true,
  value: '5',
  taskDuration: 'uniform:1m-3m',
  startup: '20s',
  strategy: 'accurate',
  protocol: 'amqp',
  pendingPodConditions: 'Ready',
  idleExit: '30',
  maxTasks: '5',
  ...extra,
});

function run(extra: PlanFlags) {
  const { pool, scaledJob } = poolPlanFromFlags(flags(extra));
  const result = simulatePool(pool);
  const job = simulatePlan(scaledJob);
  return { pool, result, job };
}

/** Over every policy period, the pool removed no more than the construct's policy lets it. */
function expectCheckpointSafeScaleDown(result: PoolPlanResult, percent: number, period: number): void {
  for (const poll of result.polls) {
    if (poll.replicas >= poll.from) continue;
    // The count at the start of the period: before the first scale-down inside it.
    const inWindow = result.polls.filter((p) => p.time > poll.time - period && p.time <= poll.time);
    const start = inWindow[0]!.from;
    expect(poll.replicas).toBeGreaterThanOrEqual(Math.trunc((start * (100 - percent)) / 100));
    expect(poll.replicas).toBeLessThan(start);
  }
}

describe('plan --pool', () => {
  test('reads the construct defaults, not literals of its own', () => {
    const pool = poolFromFlags({ value: 5 });
    expect(pool).toMatchObject({
      minReplicaCount: 1,
      maxReplicaCount: 20,
      pollingInterval: 30,
      concurrency: 5,
      behavior: {
        scaleDown: {
          stabilizationWindowSeconds: 300,
          selectPolicy: 'Max',
          policies: [{ type: 'Percent', value: 10, periodSeconds: 60 }],
        },
      },
    });
  });

  test('a burst of 200 tasks: the pool tops out at maxReplicaCount 20, the ScaledJob at 40 Jobs', () => {
    const { result, job } = run({ burst: '200' });
    expect(replicasOverTime(result)).toBe(
      '0 s: 1, 0 s: 5, 30 s: 10, 60 s: 20, 540 s: 18, 600 s: 16, 660 s: 14, 720 s: 12, 780 s: 10, ' +
        '840 s: 9, 900 s: 8, 960 s: 7, 1020 s: 6, 1080 s: 5, 1140 s: 4, 1200 s: 3, 1260 s: 2, 1320 s: 1',
    );
    expect({
      peakPods: result.peakPods,
      drainedAt: result.drainedAt,
      maxWait: result.maxWaitSeconds,
      settledAt: result.settledAt,
      requeued: result.requeuedTasks,
    }).toEqual({ peakPods: 20, drainedAt: 405, maxWait: 227, settledAt: 1320, requeued: 0 });
    expect({ peakPods: job.peakPods, drainedAt: job.drainedAt, maxWait: job.maxWaitSeconds }).toEqual({
      peakPods: 40,
      drainedAt: 200,
      maxWait: 20,
    });
    expectCheckpointSafeScaleDown(result, 10, 60);
  });

  test('30 tasks/min for 20 min: the pool holds 14 pods, the ScaledJob peaks at 18', () => {
    const { result, job } = run({ rate: '30', for: '20m' });
    expect(replicasOverTime(result)).toBe(
      '0 s: 1, 30 s: 4, 60 s: 7, 90 s: 9, 120 s: 12, 150 s: 14, 600 s: 13, 1470 s: 12, 1500 s: 11, ' +
        '1530 s: 10, 1560 s: 9, 1620 s: 8, 1680 s: 7, 1740 s: 6, 1800 s: 5, 1860 s: 4, 1920 s: 3, ' +
        '1980 s: 2, 2040 s: 1',
    );
    expect({
      peakPods: result.peakPods,
      drainedAt: result.drainedAt,
      maxWait: result.maxWaitSeconds,
      settledAt: result.settledAt,
    }).toEqual({ peakPods: 14, drainedAt: 1371, maxWait: 40, settledAt: 2040 });
    expect({ peakPods: job.peakPods, drainedAt: job.drainedAt, maxWait: job.maxWaitSeconds }).toEqual({
      peakPods: 18,
      drainedAt: 1397,
      maxWait: 40,
    });
    expectCheckpointSafeScaleDown(result, 10, 60);
  });

  test('a long tail of slow tasks: scale-down requeues held tasks, and every task still completes', () => {
    const { pool } = poolPlanFromFlags(flags({ burst: '100', taskDuration: 'exp:300' }));
    const result = simulatePool(pool);
    expect(result.requeuedTasks).toBeGreaterThan(0);
    expect(result.completedTasks).toBe(result.totalTasks);
    expectCheckpointSafeScaleDown(result, 10, 60);
  });

  test('--from reads the ScaledObject and Deployment AgentPool writes, and prints both summaries', async () => {
    const chart = new Chart(new App(), 'c');
    new lib.AgentPool(chart, 'Pool', {
      name: 'agents',
      image: 'registry.example.com/agent:1.0.0',
      queue: lib.QueueConnection.fromSecretName('s', 'url'),
      maxReplicaCount: 8,
      triggers: [
        lib.ScaledJobTrigger.rabbitmq({
          protocol: lib.RabbitMqProtocol.HTTP,
          value: 4,
          auth: lib.TriggerAuth.secrets({ host: lib.secretKey('s', 'mgmt') }),
        }),
      ],
    });
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'plan-pool-')), 'pool.k8s.yaml');
    writeFileSync(
      file,
      chart
        .toJson()
        .map((o) => `---\n${stringify(o)}`)
        .join(''),
    );
    const out = await cli(['plan', '--from', file, '--burst', '40']);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(
      'AgentPool agents: value 4 per replica (ready + unacknowledged), minReplicaCount 1, maxReplicaCount 8',
    );
    expect(out.stdout).toMatch(/^ScaledJob \(value 4, /m);
  });
});

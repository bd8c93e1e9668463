/** AF2xx: KEDA ScaledJobs and the workers they start. */
import { concurrencyViolation, Defaults, Env } from '@agent-fleet/contract';
import { isObject, type Json, show } from '../manifest';
import type { Rule, RuleHit } from '../rule';
import { containersOf, hasEnv, literalEnv, podTemplatesOf } from '../workloads';

const SCALEDJOB_SPEC = 'https://keda.sh/docs/2.16/reference/scaledjob-spec/';
const RABBITMQ_SCALER = 'https://keda.sh/docs/2.16/scalers/rabbitmq-queue/';

/** Pod conditions that are true exactly while an agent holds its messages. */
const SAFE_PENDING_POD_CONDITIONS = new Set(['Ready', 'ContainersReady']);
/** Pod conditions that turn true before the agent starts and stay true on a finished pod. */
const STAYS_TRUE_ON_FINISHED_POD = new Set(['PodScheduled', 'Initialized', 'PodReadyToStartContainers']);

interface Trigger {
  readonly at: string;
  readonly trigger: Json;
}

function triggersOf(obj: Json): Trigger[] {
  if (obj.kind !== 'ScaledJob' || !Array.isArray(obj.spec?.triggers)) return [];
  return obj.spec.triggers
    .filter(isObject)
    .map((trigger: Json, i: number) => ({ at: `spec.triggers[${i}]`, trigger }));
}

/**
 * RabbitMQ triggers whose metric counts ready messages only: protocol amqp, written or implied by an
 * amqp:// host in the metadata (a host from a TriggerAuthentication cannot be seen, so `auto` is not
 * assumed to be amqp).
 */
function readyOnlyTriggers(obj: Json): Trigger[] {
  return triggersOf(obj).filter(({ trigger }) => {
    if (trigger.type !== 'rabbitmq') return false;
    const meta = isObject(trigger.metadata) ? trigger.metadata : {};
    const protocol = meta.protocol ?? 'auto';
    return protocol === 'amqp' || (protocol === 'auto' && /^amqps?:\/\//.test(String(meta.host ?? '')));
  });
}

const strategyOf = (obj: Json): string => obj.spec?.scalingStrategy?.strategy ?? 'default';

export const accurateOverAmqp: Rule = {
  id: 'AF201',
  severity: 'error',
  title: 'A ScaledJob over RabbitMQ amqp uses the default scaling strategy',
  fix: 'set scalingStrategy.strategy: accurate (or use protocol http, whose metric counts in-flight messages)',
  source: `${SCALEDJOB_SPEC}; ${RABBITMQ_SCALER}; kedacore/keda#6571`,
  check(obj) {
    const [blind] = readyOnlyTriggers(obj);
    if (!blind || strategyOf(obj) !== 'default') return [];
    return [
      {
        field: 'spec.scalingStrategy.strategy',
        message: `is ${show(strategyOf(obj))} while ${blind.at} counts ready messages only: running Jobs are subtracted from a count that already excludes their messages, so the fleet stalls below the backlog`,
      },
    ];
  },
};

export const pendingPodConditions: Rule = {
  id: 'AF202',
  severity: 'error',
  title: 'scalingStrategy.pendingPodConditions can count failed Jobs as pending, or does nothing',
  fix: 'use pendingPodConditions: [Ready] with strategy accurate or eager, and a readiness probe that turns true once the agent holds its messages',
  source: `${SCALEDJOB_SPEC}; kedacore/keda#5264, #6157, #7329`,
  check(obj) {
    const listed: unknown =
      obj.kind === 'ScaledJob' ? obj.spec?.scalingStrategy?.pendingPodConditions : undefined;
    if (!Array.isArray(listed)) return [];
    const field = 'spec.scalingStrategy.pendingPodConditions';
    const strategy = strategyOf(obj);
    if (strategy !== 'accurate' && strategy !== 'eager') {
      return [
        {
          field,
          message: `has no effect with strategy ${show(strategy)}: KEDA subtracts pending Jobs only in accurate and eager`,
        },
      ];
    }
    if (listed.length === 0) {
      return [
        {
          field,
          message:
            'is empty, which KEDA reads as unset: a Job stops counting as pending before its agent holds its messages',
        },
      ];
    }
    return listed
      .filter((c) => !SAFE_PENDING_POD_CONDITIONS.has(String(c)))
      .map((c) => ({
        field,
        message: STAYS_TRUE_ON_FINISHED_POD.has(String(c))
          ? `lists ${show(c)}, which stays true on a failed pod: KEDA sums it over a retried Job's pods and the Job counts as pending until it ends, stalling scaling`
          : `lists ${show(c)}, which no agent pod reports while it works: every Job counts as pending until it ends, stalling scaling`,
      }));
  },
};

/** The Job's literal AGENT_CONCURRENCY, or the worker's default when the container visibly runs the worker. */
function concurrencyOf(container: Json): { value: number; field?: string } | undefined {
  const env = literalEnv(container);
  const set = env.get(Env.AGENT_CONCURRENCY);
  if (set) return { value: Number(set.value), field: `env[${set.at}].value` };
  return hasEnv(container, Env.TASK_QUEUE_URL) ? { value: Defaults.concurrency } : undefined;
}

export const concurrencyCoversValue: Rule = {
  id: 'AF203',
  severity: 'error',
  title: 'A Job takes fewer messages at once than the ready-only trigger created it for',
  fix: `set ${Env.AGENT_CONCURRENCY} (the consumer's prefetch) and ${Env.AGENT_MAX_TASKS} to the trigger's value`,
  source: `${RABBITMQ_SCALER}; DESIGN.md fact 14`,
  check(obj) {
    const hits: RuleHit[] = [];
    for (const { at, trigger } of readyOnlyTriggers(obj)) {
      const value = Number(trigger.metadata?.value);
      if (!Number.isFinite(value) || value <= 1) continue;
      for (const t of podTemplatesOf(obj)) {
        for (const { at: c, container } of containersOf(t)) {
          const concurrency = concurrencyOf(container);
          if (!concurrency || !(concurrency.value < value)) continue;
          hits.push({
            field: concurrency.field ? `${c}.${concurrency.field}` : `${c}.env`,
            message:
              `${Env.AGENT_CONCURRENCY} ${concurrency.field ? '=' : 'defaults to'} ${concurrency.value}, below ${at} value ${value}: ` +
              'a Job leaves the rest of its messages ready and the next polls create Jobs for them again',
            fix: `set ${Env.AGENT_CONCURRENCY} and ${Env.AGENT_MAX_TASKS} to ${value}`,
          });
        }
      }
    }
    return hits;
  },
};

export const concurrencyWithinMaxTasks: Rule = {
  id: 'AF204',
  severity: 'error',
  title: `${Env.AGENT_CONCURRENCY} is not a whole number ≥ 1 or exceeds ${Env.AGENT_MAX_TASKS}`,
  fix: `set ${Env.AGENT_CONCURRENCY} to at most ${Env.AGENT_MAX_TASKS} (the worker refuses to start otherwise)`,
  source: 'the runtime contract, @agent-fleet/contract concurrencyViolation',
  check(obj) {
    return podTemplatesOf(obj).flatMap((t) =>
      containersOf(t).flatMap(({ at, container }): RuleHit[] => {
        const env = literalEnv(container);
        const set = env.get(Env.AGENT_CONCURRENCY);
        if (!set) return [];
        const maxTasks = Number(env.get(Env.AGENT_MAX_TASKS)?.value ?? Defaults.maxTasks);
        const violation = concurrencyViolation(Number(set.value), maxTasks);
        return violation
          ? [
              {
                field: `${at}.env[${set.at}].value`,
                message: `${Env.AGENT_CONCURRENCY} = ${set.value} ${violation.problem}`,
                fix: violation.fix,
              },
            ]
          : [];
      }),
    );
  },
};

export const gradualRollout: Rule = {
  id: 'AF205',
  severity: 'warning',
  title: 'Updating the ScaledJob deletes the Jobs it is running',
  fix: 'set rollout.strategy: gradual',
  source: `${SCALEDJOB_SPEC} (rollout); kedacore/keda#6440, #2098`,
  check: (obj) =>
    obj.kind === 'ScaledJob' && obj.spec?.rollout?.strategy !== 'gradual'
      ? [
          {
            field: 'spec.rollout.strategy',
            message: `is ${show(obj.spec?.rollout?.strategy ?? 'default')}: a change to the ScaledJob kills running agents mid-task`,
          },
        ]
      : [],
};

export const replicaBounds: Rule = {
  id: 'AF206',
  severity: 'error',
  title: 'minReplicaCount exceeds maxReplicaCount',
  fix: 'lower minReplicaCount to at most maxReplicaCount (default 100)',
  source: SCALEDJOB_SPEC,
  check(obj) {
    if (obj.kind !== 'ScaledJob') return [];
    const min = obj.spec?.minReplicaCount ?? 0;
    const max = obj.spec?.maxReplicaCount ?? 100;
    return typeof min === 'number' && typeof max === 'number' && min > max
      ? [{ field: 'spec.minReplicaCount', message: `= ${min} exceeds maxReplicaCount (${max})` }]
      : [];
  },
};

export const excludeUnacknowledged: Rule = {
  id: 'AF207',
  severity: 'error',
  title: 'excludeUnacknowledged is set on an amqp RabbitMQ trigger',
  fix: 'drop it (amqp never counts unacknowledged messages), or use protocol http with the management API URL',
  source: RABBITMQ_SCALER,
  check: (obj) =>
    readyOnlyTriggers(obj)
      .filter(({ trigger }) => trigger.metadata?.excludeUnacknowledged !== undefined)
      .map(({ at }) => ({
        field: `${at}.metadata.excludeUnacknowledged`,
        message: 'only applies with protocol http',
      })),
};

export const KEDA_RULES: readonly Rule[] = [
  accurateOverAmqp,
  pendingPodConditions,
  concurrencyCoversValue,
  concurrencyWithinMaxTasks,
  gradualRollout,
  replicaBounds,
  excludeUnacknowledged,
];

/**
 * Reads the ScaledJob settings `plan` needs from a synthesized manifest file (`cdk8s synth` output or any
 * multi-document YAML).
 */
import { readFileSync } from 'node:fs';
import {
  KedaDefaults,
  LlmCapacityAnnotations,
  MultipleScalersCalculation,
  RabbitMqProtocol,
  ScalingStrategy,
  TOKEN_BUDGET_GATE,
  TOKEN_BUDGET_TRIGGER_NAME,
} from '@agent-fleet/cdk8s';
import { Defaults, Env } from '@agent-fleet/contract';
import { parseAllDocuments } from 'yaml';
import { usageError } from '../io';

/** What `--from` contributes; flags given on the command line override each field. */
export interface ScaledJobSettings {
  readonly name: string;
  readonly value: number;
  readonly activationValue?: number;
  readonly minReplicaCount?: number;
  readonly maxReplicaCount?: number;
  readonly pollingInterval: number;
  /** `spec.scalingStrategy` as KEDA parses it ({@link ScalingStrategy.fromSpec}). */
  readonly scalingStrategy: ScalingStrategy;
  /**
   * `spec.scalingStrategy.pendingPodConditions`, when set: what KEDA counts as a pending Job
   * (`isPendingForKeda` in `simulate.ts`).
   */
  readonly pendingPodConditions?: readonly string[];
  /** `spec.scalingStrategy.multipleScalersCalculation`, when set. */
  readonly multipleScalersCalculation?: MultipleScalersCalculation;
  readonly protocol: RabbitMqProtocol;
  readonly excludeUnacknowledged?: boolean;
  readonly queueName?: string;
  /** Tasks a Job takes before exiting: AGENT_MAX_TASKS of the agent container, when set literally. */
  readonly maxTasks?: number;
  /** AGENT_IDLE_EXIT_SECONDS of the agent container, when set literally. */
  readonly idleExitSeconds?: number;
  /** AGENT_CONCURRENCY of the agent container, when set literally. */
  readonly concurrency?: number;
  /** The LLM figures the ScaledJob's annotations carry ({@link LlmCapacityAnnotations}), each when set. */
  readonly llm: LlmAnnotationValues;
  /**
   * Whether the ScaledJob has the token-budget gate trigger (named `TOKEN_BUDGET_TRIGGER_NAME`), checked
   * to be the last trigger, as the construct writes it, under `multipleScalersCalculation: min`.
   */
  readonly tokenBudgetGate: boolean;
  /**
   * The LocalQueue the ScaledJob's label {@link KUEUE_QUEUE_NAME_LABEL} names, when set: KEDA copies the
   * ScaledJob's labels onto every Job, so Kueue admits them.
   */
  readonly kueueQueueName?: string;
  /** Notes about assumptions made while reading (printed by `plan`). */
  readonly notes: readonly string[];
}

/** The label that hands a Job to Kueue (kueue.x-k8s.io, `KUEUE_QUEUE_NAME_LABEL` of the library). */
export const KUEUE_QUEUE_NAME_LABEL = 'kueue.x-k8s.io/queue-name';

/** One number per {@link LlmCapacityAnnotations} key, when the manifest sets it. */
export type LlmAnnotationValues = Partial<Record<keyof typeof LlmCapacityAnnotations, number>>;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every ScaledJob object in a YAML text. */
export function scaledJobsIn(text: string, fileName: string): Obj[] {
  const docs = parseAllDocuments(text);
  const out: Obj[] = [];
  for (const doc of docs) {
    if (!('errors' in doc) || doc.errors.length > 0) {
      const err = 'errors' in doc ? doc.errors[0] : undefined;
      throw usageError(`${fileName} is not valid YAML: ${err?.message ?? 'unknown error'}.`);
    }
    const value = doc.toJS() as unknown;
    if (isObj(value) && value.kind === 'ScaledJob' && String(value.apiVersion ?? '').startsWith('keda.sh/')) {
      out.push(value);
    }
  }
  return out;
}

/** Picks the ScaledJob (by name when several) and reads its settings. */
export function readScaledJob(fileName: string, name: string | undefined): ScaledJobSettings {
  let text: string;
  try {
    text = readFileSync(fileName, 'utf8');
  } catch (error) {
    throw usageError(
      `cannot read --from ${fileName}: ${(error as NodeJS.ErrnoException).code ?? String(error)}.`,
    );
  }
  return pickScaledJob(scaledJobsIn(text, fileName), fileName, name);
}

export function pickScaledJob(
  all: readonly Obj[],
  fileName: string,
  name: string | undefined,
): ScaledJobSettings {
  const nameOf = (o: Obj) => String((o.metadata as Obj | undefined)?.name ?? '');
  if (all.length === 0) {
    throw usageError(`${fileName} holds no KEDA ScaledJob (kind: ScaledJob, apiVersion: keda.sh/v1alpha1).`);
  }
  let chosen: Obj | undefined;
  if (name !== undefined) {
    chosen = all.find((o) => nameOf(o) === name);
    if (!chosen) {
      throw usageError(
        `${fileName} has no ScaledJob named "${name}"; it has: ${all.map(nameOf).join(', ')}.`,
      );
    }
  } else if (all.length > 1) {
    throw usageError(
      `${fileName} holds ${all.length} ScaledJobs (${all.map(nameOf).join(', ')}); pick one with --name.`,
    );
  } else {
    chosen = all[0]!;
  }
  return settingsOf(chosen, fileName);
}

function num(v: unknown, field: string, where: string): number | undefined {
  if (v === undefined || v === null || v === '') {
    return undefined;
  }
  const n = typeof v === 'number' ? v : Number(String(v));
  if (!Number.isFinite(n)) {
    throw usageError(`${where}: ${field} is not a number (${JSON.stringify(v)}).`);
  }
  return n;
}

function settingsOf(sj: Obj, fileName: string): ScaledJobSettings {
  const name = String((sj.metadata as Obj | undefined)?.name ?? '');
  const where = `${fileName}: ScaledJob "${name}"`;
  const spec = isObj(sj.spec) ? sj.spec : {};
  const notes: string[] = [];
  const triggers = Array.isArray(spec.triggers) ? spec.triggers.filter(isObj) : [];
  const rabbit = triggers.filter((t) => t.type === 'rabbitmq');
  if (rabbit.length === 0) {
    throw usageError(`${where} has no rabbitmq trigger; plan simulates RabbitMQ queue-length scaling only.`);
  }
  const gate = triggers.find((t) => t.name === TOKEN_BUDGET_TRIGGER_NAME);
  const ignored = triggers.filter((t) => t !== rabbit[0] && t !== gate).length;
  if (ignored > 0) {
    notes.push(
      `${triggers.length} triggers: simulating the first rabbitmq trigger${gate ? ` and the token-budget gate (${TOKEN_BUDGET_TRIGGER_NAME})` : ''} only.`,
    );
  }
  const meta = isObj(rabbit[0]!.metadata) ? (rabbit[0]!.metadata as Obj) : {};
  const mode = String(meta.mode ?? 'QueueLength');
  if (mode !== 'QueueLength') {
    throw usageError(`${where}: trigger mode ${mode} is not simulated; plan models mode QueueLength.`);
  }
  const value = num(meta.value, 'trigger metadata.value', where);
  if (value === undefined || value <= 0) {
    throw usageError(`${where}: the rabbitmq trigger needs metadata.value > 0 (messages per Job).`);
  }
  const rawProtocol = String(meta.protocol ?? 'auto');
  let protocol = Object.values(RabbitMqProtocol).find((p) => p === rawProtocol);
  if (protocol === undefined) {
    const host = String(meta.host ?? '');
    protocol = /^https?:/.test(host) ? RabbitMqProtocol.HTTP : RabbitMqProtocol.AMQP;
    notes.push(
      `trigger protocol "${rawProtocol}" resolves from the host URL${host ? '' : ' (not in the manifest)'}: assuming ${protocol}; pass --protocol to change.`,
    );
  }
  const ss = isObj(spec.scalingStrategy) ? spec.scalingStrategy : {};
  const strategyFields = {
    strategy: ss.strategy === undefined || ss.strategy === null ? undefined : String(ss.strategy),
    customScalingQueueLengthDeduction: num(
      ss.customScalingQueueLengthDeduction,
      'scalingStrategy.customScalingQueueLengthDeduction',
      where,
    ),
    customScalingRunningJobPercentage: ss.customScalingRunningJobPercentage as string | number | undefined,
  };
  const scalingStrategy = strategyFromSpec(strategyFields, where);
  if (strategyFields.strategy === 'custom' && scalingStrategy.name !== 'custom') {
    notes.push(
      customFallbackNote(
        'scalingStrategy.customScalingRunningJobPercentage',
        strategyFields.customScalingRunningJobPercentage,
      ),
    );
  }
  let multipleScalersCalculation: MultipleScalersCalculation | undefined;
  if (ss.multipleScalersCalculation !== undefined && ss.multipleScalersCalculation !== null) {
    const raw = String(ss.multipleScalersCalculation);
    multipleScalersCalculation = Object.values(MultipleScalersCalculation).find((c) => c === raw);
    if (multipleScalersCalculation === undefined) {
      // KEDA would silently use `max`; a typo here would make the plan model another configuration.
      throw usageError(
        `${where}: scalingStrategy.multipleScalersCalculation must be one of ` +
          `${Object.values(MultipleScalersCalculation).join(', ')}, got ${JSON.stringify(raw)}. ` +
          'Fix the manifest, or remove the field for max.',
      );
    }
  }
  let pendingPodConditions: string[] | undefined;
  if (ss.pendingPodConditions !== undefined && ss.pendingPodConditions !== null) {
    if (!Array.isArray(ss.pendingPodConditions)) {
      throw usageError(
        `${where}: scalingStrategy.pendingPodConditions must be a list of pod condition types, got ${JSON.stringify(ss.pendingPodConditions)}.`,
      );
    }
    pendingPodConditions = ss.pendingPodConditions.map((c) => String(c));
  }
  const template = (spec.jobTargetRef as Obj | undefined)?.template as Obj | undefined;
  const containers = (template?.spec as Obj | undefined)?.containers;
  const kueueQueueName = labelOf(sj.metadata, KUEUE_QUEUE_NAME_LABEL);
  if (kueueQueueName === undefined && labelOf(template?.metadata, KUEUE_QUEUE_NAME_LABEL) !== undefined) {
    // KEDA copies the ScaledJob's labels onto the Jobs, not the pod template's: the Jobs are not queued.
    notes.push(
      `the pod template carries ${KUEUE_QUEUE_NAME_LABEL} but the ScaledJob does not: its Jobs never wait for Kueue, so plan models no admission.`,
    );
  }
  const env: Partial<Record<(typeof WORKER_ENV)[number], number>> = {};
  if (Array.isArray(containers)) {
    for (const c of containers.filter(isObj)) {
      for (const e of Array.isArray(c.env) ? c.env.filter(isObj) : []) {
        const name = WORKER_ENV.find((n) => n === e.name);
        if (name !== undefined && e.value !== undefined) {
          env[name] = num(e.value, name, where);
        }
      }
    }
  }
  if (gate !== undefined) {
    checkTokenBudgetGate(gate, triggers, multipleScalersCalculation, where);
  }
  const annotations = isObj((sj.metadata as Obj | undefined)?.annotations)
    ? ((sj.metadata as Obj).annotations as Obj)
    : {};
  const llm: LlmAnnotationValues = {};
  for (const [key, annotation] of Object.entries(LlmCapacityAnnotations)) {
    const value = num(annotations[annotation], `annotation ${annotation}`, where);
    if (value !== undefined) {
      llm[key as keyof LlmAnnotationValues] = value;
    }
  }
  return {
    name,
    value,
    activationValue: num(meta.activationValue, 'trigger metadata.activationValue', where),
    minReplicaCount: num(spec.minReplicaCount, 'minReplicaCount', where),
    maxReplicaCount: num(spec.maxReplicaCount, 'maxReplicaCount', where),
    pollingInterval:
      num(spec.pollingInterval, 'pollingInterval', where) ?? KedaDefaults.pollingIntervalSeconds,
    scalingStrategy,
    pendingPodConditions,
    multipleScalersCalculation,
    protocol,
    excludeUnacknowledged:
      meta.excludeUnacknowledged === undefined ? undefined : String(meta.excludeUnacknowledged) === 'true',
    queueName: meta.queueName === undefined ? undefined : String(meta.queueName),
    maxTasks: env[Env.AGENT_MAX_TASKS],
    idleExitSeconds: env[Env.AGENT_IDLE_EXIT_SECONDS],
    concurrency: env[Env.AGENT_CONCURRENCY],
    llm,
    tokenBudgetGate: gate !== undefined,
    kueueQueueName,
    notes,
  };
}

function labelOf(metadata: unknown, label: string): string | undefined {
  const labels = isObj(metadata) && isObj(metadata.labels) ? metadata.labels : {};
  const value = labels[label];
  return value === undefined || value === null ? undefined : String(value);
}

/** The agent container's variables `plan` reads, when they hold a literal value. */
const WORKER_ENV = [Env.AGENT_MAX_TASKS, Env.AGENT_IDLE_EXIT_SECONDS, Env.AGENT_CONCURRENCY] as const;

/**
 * The gate trigger must be what the model computes: the prometheus trigger `AgentScaledJob` writes, with
 * the gate's thresholds, last among the triggers, under `min`. Anywhere else (or under `max`, `avg`,
 * `sum`) its active 0 does not replace the queue's reading, and the ScaledJob would not stop at the
 * budget although a plan modelling the gate would.
 */
function checkTokenBudgetGate(
  gate: Obj,
  triggers: readonly Obj[],
  calculation: MultipleScalersCalculation | undefined,
  where: string,
): void {
  const name = `trigger ${TOKEN_BUDGET_TRIGGER_NAME}`;
  if (calculation !== MultipleScalersCalculation.MIN) {
    throw usageError(
      `${where}: the token-budget gate (${name}) needs scalingStrategy.multipleScalersCalculation min, ` +
        `got ${calculation ?? 'unset (max)'}: under it the gate never stops Jobs. Set it to min, or remove the gate.`,
    );
  }
  if (triggers[triggers.length - 1] !== gate) {
    throw usageError(
      `${where}: ${name} must be the last trigger: under min an active 0 replaces only the readings before it.`,
    );
  }
  const meta = isObj(gate.metadata) ? gate.metadata : {};
  const expected = {
    threshold: TOKEN_BUDGET_GATE.threshold,
    activationThreshold: TOKEN_BUDGET_GATE.activationThreshold,
  };
  for (const [field, value] of Object.entries(expected)) {
    if (gate.type !== 'prometheus' || num(meta[field], `${name} metadata.${field}`, where) !== value) {
      throw usageError(
        `${where}: ${name} is not the gate plan models: it needs type prometheus, threshold ` +
          `${expected.threshold} and activationThreshold ${expected.activationThreshold} (as AgentScaledJob writes it); ` +
          `got type ${JSON.stringify(gate.type)}, ${field} ${JSON.stringify(meta[field])}.`,
      );
    }
  }
}

/**
 * {@link ScalingStrategy.fromSpec} for the fields of a manifest or of the flags, its errors as usage
 * errors prefixed with `where`.
 */
export function strategyFromSpec(
  fields: Parameters<typeof ScalingStrategy.fromSpec>[0],
  where: string,
): ScalingStrategy {
  try {
    return ScalingStrategy.fromSpec(fields);
  } catch (error) {
    // The message names the field; `where` says which file or flags it came from.
    throw usageError(`${where}: ${(error as Error).message.replace(/^keda-scaledjob: /, '')}`);
  }
}

/** The note printed when a custom strategy runs as `default`, as KEDA runs it; `field` names the percentage. */
export function customFallbackNote(field: string, percentage: number | string | undefined): string {
  return percentage === undefined
    ? `custom strategy without ${field}: KEDA falls back to default.`
    : `custom strategy with ${field} ${JSON.stringify(percentage)}, which KEDA cannot parse as a number: KEDA falls back to default.`;
}

/** The worker's defaults for the fields a manifest may leave out. */
export const WORKER_PLAN_DEFAULTS = {
  maxTasks: Defaults.maxTasks,
  idleExitSeconds: Defaults.idleExitSeconds,
} as const;

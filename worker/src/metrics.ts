import type { EventEmitter } from 'node:events';
import { Metrics } from '@agent-fleet/contract';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { BoundedLabels, type LabelOverflow, OVERFLOW_LABEL_VALUE } from './label-values';
import type { Logger } from './logger';

/**
 * Task durations: agent tasks take seconds to hours, so the buckets run from 1 s to 4 h
 * (prom-client's defaults stop at 10 s).
 */
export const TASK_DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400];

/** Durable checkpoint writes: sub-millisecond on local disk, up to seconds on network storage. */
export const CHECKPOINT_WRITE_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * The worker's Prometheus metrics in a private registry (one per worker, so several workers in
 * one process, as in tests, never clash). No per-agent label: the scrape target already
 * identifies the pod, and such a label would multiply series by the fleet size.
 *
 * Label values chosen by handler code (the `model` of `ctx.recordTokens`, the `dependency` of
 * `ctx.guard`) are bounded (label-values.ts): at most 32 values of 64 characters each per label, any
 * later new value is counted as `other`, and one warning is logged when a label first fills.
 */
export class WorkerMetrics {
  readonly registry = new Registry();

  readonly tasksCompleted = new Counter({
    name: Metrics.tasksCompleted,
    help: 'Tasks finished with a published result, by status (succeeded | failed).',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  readonly taskDuration = new Histogram({
    name: Metrics.taskDuration,
    help: 'Wall time of one task delivery, from start to published result, in seconds.',
    buckets: TASK_DURATION_BUCKETS,
    registers: [this.registry],
  });

  readonly llmTokens = new Counter({
    name: Metrics.llmTokens,
    help: 'LLM tokens reported by handlers through ctx.recordTokens, by model.',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });

  readonly tasksInFlight = new Gauge({
    name: Metrics.tasksInFlight,
    help: 'Deliveries being handled by this worker now.',
    registers: [this.registry],
  });

  readonly taskResumes = new Counter({
    name: Metrics.taskResumes,
    help: 'Tasks that started from an existing checkpoint.',
    registers: [this.registry],
  });

  readonly checkpointWrite = new Histogram({
    name: Metrics.checkpointWrite,
    help: 'Duration of durable checkpoint writes (write, fsync, rename, fsync dir), in seconds.',
    buckets: CHECKPOINT_WRITE_BUCKETS,
    registers: [this.registry],
  });

  readonly deadLettered = new Counter({
    name: Metrics.deadLettered,
    help: 'Messages sent to the dead-letter queue, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly circuitOpen = new Gauge({
    name: Metrics.circuitOpen,
    help: 'Circuit breaker state per dependency of ctx.guard: 1 while open, 0 once closed.',
    labelNames: ['dependency'] as const,
    registers: [this.registry],
  });

  private readonly models: BoundedLabels;
  private readonly dependencies: BoundedLabels;

  constructor(options: { readonly log?: Logger } = {}) {
    const onOverflow =
      (metric: string): LabelOverflow =>
      ({ label, maxValues, firstRefused }) =>
        options.log?.warn(
          { metric, label, maxValues, firstRefused },
          `more than ${maxValues} distinct values of the label "${label}" of ${metric}; counting further ones as "${OVERFLOW_LABEL_VALUE}"`,
        );
    this.models = new BoundedLabels('model', { onOverflow: onOverflow(Metrics.llmTokens) });
    this.dependencies = new BoundedLabels('dependency', { onOverflow: onOverflow(Metrics.circuitOpen) });
    collectDefaultMetrics({ register: this.registry });
    // Start the labelled series at 0 so rate() and alerts see them before the first event.
    this.tasksCompleted.inc({ status: 'succeeded' }, 0);
    this.tasksCompleted.inc({ status: 'failed' }, 0);
  }

  /** Subscribes to a worker's typed events. */
  observe(events: EventEmitter): void {
    events.on('taskStarted', (info: { resumed: boolean }) => {
      if (info.resumed) {
        this.taskResumes.inc();
      }
    });
    events.on('taskFinished', (info: { status: string; durationSeconds: number }) => {
      this.tasksCompleted.inc({ status: info.status });
      this.taskDuration.observe(info.durationSeconds);
    });
    events.on('checkpointWritten', (info: { seconds: number }) => this.checkpointWrite.observe(info.seconds));
    events.on('deadLettered', (info: { reason: string }) => this.deadLettered.inc({ reason: info.reason }));
    events.on('tokens', (info: { model: string; count: number }) =>
      this.llmTokens.inc({ model: this.models.value(info.model) }, info.count),
    );
    events.on('inFlight', (count: number) => this.tasksInFlight.set(count));
    events.on('circuit', (info: { dependency: string; open: boolean }) =>
      this.circuitOpen.set({ dependency: this.dependencies.value(info.dependency) }, info.open ? 1 : 0),
    );
  }
}

import type { EventEmitter } from 'node:events';
import { DeadLetterReasons, Metrics, TaskStatuses } from '@agent-fleet/contract';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { WorkerEvents } from './events';
import { BoundedLabels, type LabelOverflow, OVERFLOW_LABEL_VALUE } from './label-values';
import type { Logger } from './logger';
import { ScrapeTracker } from './scrape-tracker';

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
 *
 * Every label value known in advance (task statuses, dead-letter reasons) is exported at 0 from the
 * start: `increase()` never counts a series' first sample, so a series that first appeared holding
 * 1 would hide its first event. Every update is reported to `scrapes`, which tells whether
 * Prometheus has read it yet.
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  /** Which updates a scrape has carried; the entrypoint waits for the last one before exiting. */
  readonly scrapes = new ScrapeTracker();

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
    for (const status of Object.values(TaskStatuses)) {
      this.tasksCompleted.inc({ status }, 0);
    }
    for (const reason of Object.values(DeadLetterReasons)) {
      this.deadLettered.inc({ reason }, 0);
    }
  }

  /** Subscribes to a worker's typed events. */
  observe(events: EventEmitter<WorkerEvents>): void {
    // Every handler updates a metric, so each reports a change once it ran.
    const on = <K extends keyof WorkerEvents>(event: K, update: (...args: WorkerEvents[K]) => void) => {
      (events as EventEmitter).on(event, (...args: WorkerEvents[K]) => {
        update(...args);
        this.scrapes.changed();
      });
    };
    on('taskStarted', (info) => {
      if (info.resumed) {
        this.taskResumes.inc();
      }
    });
    on('taskFinished', (info) => {
      this.tasksCompleted.inc({ status: info.status });
      this.taskDuration.observe(info.durationSeconds);
    });
    on('checkpointWritten', (info) => this.checkpointWrite.observe(info.seconds));
    on('deadLettered', (info) => this.deadLettered.inc({ reason: info.reason }));
    on('tokens', (info) => this.llmTokens.inc({ model: this.models.value(info.model) }, info.count));
    on('inFlight', (count) => this.tasksInFlight.set(count));
    on('circuit', (info) =>
      this.circuitOpen.set({ dependency: this.dependencies.value(info.dependency) }, info.open ? 1 : 0),
    );
  }
}

import type { DeadLetterReason, TaskStatus } from '@agent-fleet/contract';

/**
 * Typed events of one worker. Metrics (and anything else that observes the loop) subscribe to
 * these instead of living inside it.
 */
export interface WorkerEvents {
  /** A task's handler is about to run. `resumed` when it starts from an existing checkpoint. */
  taskStarted: [info: { taskId: string; attempt: number; resumed: boolean }];
  /** A task finished with a published result (succeeded, or failed and dead-lettered). */
  taskFinished: [info: { taskId: string; status: TaskStatus; durationSeconds: number }];
  /** A task left this worker without a result: requeued (error or shutdown) or lost with the channel. */
  taskReleased: [info: { taskId: string; why: string }];
  /** A durable checkpoint write completed. */
  checkpointWritten: [info: { taskId: string; seconds: number }];
  /** A message went to the dead-letter queue. */
  deadLettered: [info: { taskId: string | undefined; reason: DeadLetterReason }];
  /** The handler reported LLM tokens. */
  tokens: [info: { model: string; count: number }];
  /** Number of deliveries being handled changed. */
  inFlight: [count: number];
  /** A dependency's circuit breaker opened or closed (`ctx.guard`). */
  circuit: [info: { dependency: string; open: boolean }];
  /**
   * The worker started or stopped taking deliveries. Not what `/readyz` answers: readiness holds
   * through pauses, reconnects and draining (see `isReady` in lifecycle.ts).
   */
  consuming: [consuming: boolean];
}

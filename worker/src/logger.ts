import pino from 'pino';

export type Logger = pino.Logger;

/**
 * JSON lines on stdout, one per event, bound to the agent's identity. Secrets never reach a log
 * line: the queue URL is only logged redacted, and these paths are censored as a second guard.
 */
export function createLogger(bindings: { agentIndex: string; pod: string }): Logger {
  return pino({
    level: 'info',
    base: { agentIndex: bindings.agentIndex, pod: bindings.pod },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['taskQueueUrl', 'url', 'password', '*.password', '*.taskQueueUrl', '*.url'],
      censor: '[redacted]',
    },
  });
}

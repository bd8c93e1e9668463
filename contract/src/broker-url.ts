/**
 * The rule a broker URL must follow, checked by the worker at startup and by the CLI before it
 * connects, with the same words. Never echoes the URL: callers show it through `redact`.
 */
import type { RuleViolation } from './queue-names';

/** Schemes the worker and the CLI connect with. */
export const BROKER_URL_SCHEMES: readonly string[] = ['amqp:', 'amqps:'];

/** An example URL for error messages (no real credential). */
export const BROKER_URL_EXAMPLE = 'amqp://user:password@rabbitmq:5672/vhost';

/** Why `url` cannot be used to reach the broker, or undefined when it can. */
export function brokerUrlViolation(url: string): RuleViolation | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return {
      problem: 'is not a URL (not shown: it may hold a password)',
      fix: `write ${BROKER_URL_EXAMPLE} (amqps:// for TLS)`,
    };
  }
  if (!BROKER_URL_SCHEMES.includes(parsed.protocol)) {
    return {
      problem: `uses the scheme "${parsed.protocol}//"`,
      fix: `use amqp:// or amqps://, e.g. ${BROKER_URL_EXAMPLE}`,
    };
  }
  if (parsed.hostname === '') {
    return { problem: 'has no host', fix: `write ${BROKER_URL_EXAMPLE}` };
  }
  return undefined;
}

import { concurrencyViolation, describeCredential, findCredentials, redact } from '@agent-fleet/contract';
import type { Duration } from 'cdk8s';
import type { IConstruct } from 'constructs';
import type { Quantity } from '../quantity';
import { AgentFleetValidationError } from '../validation-error';

/** Throws an {@link AgentFleetValidationError} for `scope`. */
export function invalid(
  scope: IConstruct,
  prop: string,
  value: unknown,
  problem: string,
  fix: string,
): never {
  throw new AgentFleetValidationError(scope.node.path || scope.node.id, prop, value, problem, fix);
}

/** A whole number ≥ `min` (default 1). */
export function requireInt(scope: IConstruct, prop: string, value: number, min = 1): number {
  if (!Number.isInteger(value) || value < min) {
    invalid(scope, prop, value, `is not a whole number ≥ ${min}`, `use an integer of at least ${min}`);
  }
  return value;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Kubernetes object names that also become label values or host names (Jobs, Services): ≤ 63 chars. */
export function requireDnsLabel(scope: IConstruct, prop: string, value: string): string {
  if (value.length > 63 || !DNS1123_LABEL.test(value)) {
    invalid(
      scope,
      prop,
      value,
      'is not a DNS-1123 label',
      'use at most 63 lowercase letters, digits and "-", starting and ending with a letter or digit',
    );
  }
  return value;
}

/** Kubernetes object names (Secrets, claims, classes): DNS-1123 subdomain, ≤ 253 chars. */
export function requireDnsSubdomain(scope: IConstruct, prop: string, value: string): string {
  if (value.length > 253 || !DNS1123_SUBDOMAIN.test(value)) {
    invalid(
      scope,
      prop,
      value,
      'is not a DNS-1123 subdomain',
      'use lowercase letters, digits, "-" and ".", starting and ending with a letter or digit (at most 253)',
    );
  }
  return value;
}

export function requireLabelValue(scope: IConstruct, prop: string, value: string): string {
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    invalid(
      scope,
      prop,
      value,
      'is not a valid label value',
      'use at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit',
    );
  }
  return value;
}

/**
 * Rejects a credential written as plain text where a manifest would publish it: the contract's
 * detector (`findCredentials`: URLs with userinfo, bearer and basic values, API keys by prefix, JWTs,
 * private keys, credential and signature query parameters). The message names the kind, never the value.
 */
export function requireNoCredential(scope: IConstruct, prop: string, value: string, fix: string): string {
  const match = findCredentials(value)[0];
  if (match !== undefined) {
    invalid(scope, prop, redact(value), `carries ${describeCredential(match.kind)} in plain text`, fix);
  }
  return value;
}

/** A Duration as whole seconds ≥ `min`, or an error naming `prop`. */
export function requireSeconds(scope: IConstruct, prop: string, duration: Duration, min = 0): number {
  const seconds = duration.toSeconds({ integral: false });
  if (!Number.isInteger(seconds) || seconds < min) {
    invalid(
      scope,
      prop,
      duration.toHumanString(),
      `is not a whole number of seconds ≥ ${min}`,
      `use e.g. Duration.seconds(${Math.max(min, Math.ceil(seconds))})`,
    );
  }
  return seconds;
}

/** The quantity's amount, or a synth-time error naming `prop` when Kubernetes would refuse it. */
export function requireQuantity(scope: IConstruct, prop: string, quantity: Quantity): number {
  const amount = quantity.toNumber();
  if (amount === undefined) {
    invalid(
      scope,
      prop,
      quantity.value,
      'is not a Kubernetes quantity',
      'write a number with an optional suffix and no space, e.g. "500m", "2", "512Mi", "4Gi" (not "4Gb" or "2 Gi"), or use Quantity.gibibytes()/Quantity.cpuMillis()',
    );
  }
  return amount;
}

/**
 * Tasks one pod holds and runs at once (`AGENT_CONCURRENCY`), checked with the contract's rule, which
 * the worker applies at startup too; `maxTasksProp` names the prop that sets `AGENT_MAX_TASKS`.
 */
export function requireConcurrency(
  scope: IConstruct,
  concurrency: number,
  maxTasks: number,
  maxTasksProp: string,
): number {
  const violation = concurrencyViolation(concurrency, maxTasks);
  if (violation) {
    const fix =
      Number.isSafeInteger(concurrency) && concurrency >= 1
        ? `lower concurrency to at most ${maxTasks}, or raise ${maxTasksProp}`
        : 'use the number of tasks one agent runs at once, e.g. 1';
    invalid(scope, 'concurrency', concurrency, violation.problem, fix);
  }
  return concurrency;
}

/** The URL of a Prometheus server KEDA queries: http(s), no credential (KEDA authenticates it). */
export function requirePrometheusUrl(scope: IConstruct, prop: string, url: string): string {
  if (typeof url !== 'string' || !/^https?:\/\/[^\s/]+/.test(url)) {
    invalid(
      scope,
      prop,
      url,
      'is not an http(s) URL',
      'use the Prometheus service URL, e.g. "http://prometheus-operated.monitoring.svc:9090"',
    );
  }
  return requireNoCredential(scope, prop, url, 'authenticate with auth: TriggerAuth.secrets(…)');
}

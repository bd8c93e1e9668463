import { redact } from '@agent-fleet/contract';
import { show } from './internal/show';

/**
 * Synth-time validation. Every error names the construct, the prop, the bad value and the fix,
 * because the person reading it is looking at CI output, not at our source.
 */
export class AgentFleetValidationError extends Error {
  constructor(
    readonly constructPath: string,
    readonly prop: string,
    readonly value: unknown,
    problem: string,
    fix: string,
  ) {
    // Redacted whole: a credential may sit in the value, the problem or the fix.
    super(redact(`${constructPath}: ${prop} = ${show(value)} ${problem}. Fix: ${fix}.`));
    this.name = 'AgentFleetValidationError';
  }
}

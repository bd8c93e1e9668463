/**
 * The last line of the "no credential in a manifest" promise: at synth time, every string of every
 * object a construct writes is scanned with the contract's credential detector. Each prop has its
 * own check with a precise message; this one catches what a prop-level check cannot see (nested
 * structures such as `affinity`, values assembled from several props, props added later).
 */
import { describeCredential, findCredentials } from '@agent-fleet/contract';
import { ApiObject } from 'cdk8s';
import type { IConstruct } from 'constructs';
import { invalid } from './validation';

/** Each string leaf of `value` with its JSON path (keys included: a map key can hold a credential). */
function* strings(value: unknown, path: string): Generator<[string, string]> {
  if (typeof value === 'string') {
    yield [path, value];
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* strings(value[i], `${path}[${i}]`);
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, child] of Object.entries(value)) {
      yield [`${path} (a key)`, key];
      yield* strings(child, path === '' ? key : `${path}.${key}`);
    }
  }
}

/**
 * Registers a synth-time validation on `construct` that throws when an object it owns would carry
 * a credential-shaped string (the message names the object, the field and the kind, never the value).
 */
export function refuseCredentialsInOutput(construct: IConstruct): void {
  construct.node.addValidation({
    validate: () => {
      for (const child of construct.node.findAll()) {
        if (!(child instanceof ApiObject)) continue;
        for (const [path, text] of strings(child.toJson(), '')) {
          const match = findCredentials(text)[0];
          if (match === undefined) continue;
          invalid(
            construct,
            `${child.kind} ${child.name}: ${path}`,
            text,
            `carries ${describeCredential(match.kind)} in plain text, which would be in the synthesized manifest`,
            'reference a Secret created outside the chart instead (an EnvValue.fromSecretValue, a ' +
              'TriggerAuth.secrets(...) or a Secret volume), and remove the literal from the prop that set it',
          );
        }
      }
      return [];
    },
  });
}

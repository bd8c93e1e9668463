/**
 * The last line of the "no credential in a manifest" promise: at synth time, every string of every
 * object a construct writes is scanned with the contract's credential detector. Each prop has its
 * own check with a precise message; this one catches what a prop-level check cannot see (nested
 * structures such as `affinity`, values assembled from several props, props added later).
 */
import { describeCredential, findCredentials } from '@agent-fleet/contract';
import { ApiObject } from 'cdk8s';
import type { IConstruct } from 'constructs';
import { addOutputCheck } from './output-checks';
import { invalid } from './validation';

/**
 * Calls `visit` with each string leaf of `value` and its JSON path (keys included: a map key can
 * hold a credential). The path is built only when asked for: most strings carry nothing.
 */
function eachString(
  value: unknown,
  path: () => string,
  visit: (text: string, path: () => string) => void,
): void {
  if (typeof value === 'string') {
    visit(value, path);
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) eachString(value[i], () => `${path()}[${i}]`, visit);
  } else if (typeof value === 'object' && value !== null) {
    for (const key of Object.keys(value)) {
      visit(key, () => `${path()} (a key)`);
      const child = () => {
        const at = path();
        return at === '' ? key : `${at}.${key}`;
      };
      eachString((value as Record<string, unknown>)[key], child, visit);
    }
  }
}

/**
 * Strings already scanned and found clean. A chart of many fleets repeats most of its strings
 * (keys, images, label values), and the scan runs every credential pattern over each; the result
 * depends on the string alone. Bounded: cleared when full.
 */
const clean = new Set<string>();
const CLEAN_MAX = 50_000;

function firstCredential(text: string) {
  if (clean.has(text)) return undefined;
  const match = findCredentials(text)[0];
  if (match === undefined) {
    if (clean.size >= CLEAN_MAX) clean.clear();
    clean.add(text);
  }
  return match;
}

/**
 * Registers a synth-time validation on `construct` that throws when an object it owns would carry
 * a credential-shaped string (the message names the object, the field and the kind, never the value).
 */
export function refuseCredentialsInOutput(construct: IConstruct): void {
  addOutputCheck(construct, (render) => {
    for (const child of construct.node.findAll()) {
      if (!(child instanceof ApiObject)) continue;
      eachString(
        render(child),
        () => '',
        (text, path) => {
          const match = firstCredential(text);
          if (match === undefined) return;
          invalid(
            construct,
            `${child.kind} ${child.name}: ${path()}`,
            text,
            `carries ${describeCredential(match.kind)} in plain text, which would be in the synthesized manifest`,
            'reference a Secret created outside the chart instead (an EnvValue.fromSecretValue, a ' +
              'TriggerAuth.secrets(...) or a Secret volume), and remove the literal from the prop that set it',
          );
        },
      );
    }
  });
}

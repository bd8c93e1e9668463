/**
 * Every lib test doubles as a check of `withDirectJson` (lib/direct-json.ts): whenever a Chart is
 * rendered, each object built by a `withDirectJson` class must render exactly (same keys, same
 * order, same values) as the generated L1 conversion it skips. Counted, so a check that silently
 * stopped running shows up in test/direct-json.test.ts.
 */
import { ApiObject, Chart } from 'cdk8s';
import { generatedJson } from '../../lib/internal/direct-json';

const render = Chart.prototype.toJson;
const state = globalThis as { directJsonChecked?: number };
state.directJsonChecked = 0;

Chart.prototype.toJson = function (this: Chart) {
  const rendered = render.call(this);
  for (const child of this.node.findAll()) {
    if (!(child instanceof ApiObject)) continue;
    const generated = generatedJson(child);
    if (generated === undefined) continue;
    const fast = JSON.stringify(child.toJson());
    const slow = JSON.stringify(generated);
    if (fast !== slow) {
      throw new Error(
        `withDirectJson renders ${child.node.path} differently:\n  direct    ${fast}\n  generated ${slow}`,
      );
    }
    state.directJsonChecked = (state.directJsonChecked ?? 0) + 1;
  }
  return rendered;
};

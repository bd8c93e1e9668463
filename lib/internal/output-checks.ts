/**
 * The synth-time checks that read a construct's rendered objects (the credential scan, the
 * Secret/ConfigMap reference checks), and the rendering they share with the synthesis itself.
 *
 * Each check used to be a validation of its own that rendered the objects it read, and the
 * synthesis rendered every object once more after the validations: a chart of thousands of fleets
 * rendered most objects three times. Now the checks of a construct run as one validation that
 * renders each object at most once, and while a chart is being synthesized (`chart.toJson()`,
 * which `App.synth()` and `Testing.synth()` call) an object rendered by a check is rendered once
 * for the whole synthesis: the checks of every construct share it, and the object's own
 * `toJson()` (for the objects our constructs build, see `withDirectJson`) hands it over to the
 * output instead of rendering again. Nothing else runs in between: cdk8s validates the whole app,
 * then renders the chart's objects. Outside a synthesis (a construct validated on its own, or
 * `toJson()` called directly) every validation renders afresh and nothing is handed over.
 */
import { type ApiObject, Chart } from 'cdk8s';
import type { IConstruct } from 'constructs';

/** Renders an object as `obj.toJson()` does; the checks must not change what it returns. */
export type Render = (obj: ApiObject) => unknown;

/** A check of rendered objects; throws (an `AgentFleetValidationError`) when it finds a problem. */
export type OutputCheck = (render: Render) => void;

/** How deep inside `chart.toJson()` of a chart holding our constructs we are (charts can nest). */
let synthesizing = 0;
/** Objects rendered by the checks during the current synthesis; emptied when it ends. */
const renderedInSynth = new Map<ApiObject, unknown>();

const checksOf = new WeakMap<IConstruct, OutputCheck[]>();
const watchedCharts = new WeakSet<Chart>();

/**
 * Adds `check` to the synth-time checks of `construct`. The checks of a construct run in the order
 * they were added, as one validation added where the first one was.
 */
export function addOutputCheck(construct: IConstruct, check: OutputCheck): void {
  const known = checksOf.get(construct);
  if (known !== undefined) {
    known.push(check);
    return;
  }
  const checks = [check];
  checksOf.set(construct, checks);
  // Chart.of throws outside a chart; such a construct is never synthesized.
  if (construct.node.scopes.some((c) => Chart.isChart(c))) watchSynthesis(Chart.of(construct));
  construct.node.addValidation({
    validate: () => {
      const render = synthesizing > 0 ? renderShared : renderOnceIn(new Map());
      for (const c of checks) c(render);
      return [];
    },
  });
}

function renderShared(obj: ApiObject): unknown {
  if (renderedInSynth.has(obj)) return renderedInSynth.get(obj);
  const json = obj.toJson();
  renderedInSynth.set(obj, json);
  return json;
}

function renderOnceIn(rendered: Map<ApiObject, unknown>): Render {
  return (obj) => {
    if (rendered.has(obj)) return rendered.get(obj);
    const json = obj.toJson();
    rendered.set(obj, json);
    return json;
  };
}

/**
 * The JSON a check rendered for `obj` in the current synthesis, handed over once (the output then
 * owns it); undefined when there is none. For `toJson()` of the objects our constructs build.
 */
export function takeRendered(obj: ApiObject): unknown {
  if (renderedInSynth.size === 0) return undefined;
  const json = renderedInSynth.get(obj);
  if (json !== undefined) renderedInSynth.delete(obj);
  return json;
}

/**
 * Marks the synthesis of `chart` (its `toJson()`, whatever class defines it), so that the checks
 * and the output share renderings within it and nowhere else. An own property, not enumerable:
 * the chart's class and every other chart are left as they are.
 */
function watchSynthesis(chart: Chart): void {
  if (watchedCharts.has(chart)) return;
  watchedCharts.add(chart);
  Object.defineProperty(chart, 'toJson', {
    configurable: true,
    enumerable: false,
    writable: true,
    value: function toJson(this: Chart) {
      synthesizing++;
      try {
        return Object.getPrototypeOf(chart).toJson.call(this);
      } finally {
        synthesizing--;
        if (synthesizing === 0) renderedInSynth.clear();
      }
    },
  });
}
